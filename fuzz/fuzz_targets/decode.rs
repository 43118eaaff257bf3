//! Fuzz target `decode`: hostile bytes into [`shared_events::decode`], the first thing
//! coolriel does with every message it consumes.
//!
//! Any producer can write anything to the topics, so every byte string must end in one of
//! the decoder's three outcomes (a known event, an unknown type to skip, an error to
//! dead-letter) and never in a panic, which would kill the partition actor and stall the
//! partition on the same message after every restart. Checked on every input:
//!
//! - **no panic**, whatever the bytes (libFuzzer reports a panic, an abort, a timeout or,
//!   under AddressSanitizer, a memory error as a crash);
//! - **round trip**: an input that decodes as a known event re-encodes
//!   ([`EventEnvelope::encode`], what store-manager publishes and the history keeps) to
//!   bytes that decode to the *same* envelope, and encoding that envelope again gives the
//!   same bytes; so a replay of the history, or a consumer reading what we re-publish,
//!   sees exactly the event we saw;
//! - **unknown types are really unknown**: [`Decoded::UnknownType`] is never a name
//!   [`EventType::from_name`] knows (a known event that fails to parse must be an error,
//!   dead-lettered, not silently skipped);
//! - **not UTF-8 means [`DecodeError::NotUtf8`]**;
//! - the two field types read from strings, [`Money`] (`"1999.99"`) and
//!   [`LabDateTime`] (`"2025-11-09 14:03:12.123456"`), are also fed the input as text
//!   directly (cheap, and a shorter path to their corner cases than through JSON): what
//!   parses prints back to text that parses to the same value.
//!
//! Seeds: `fuzz/seeds/decode/` (the wire-format fixtures of `shared-events/tests`);
//! dictionary: `fuzz/dicts/events.dict` (the contract's field names and event types).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_events::{DecodeError, Decoded, EventEnvelope, EventType, LabDateTime, Money, decode};

fuzz_target!(|data: &[u8]| {
    check_decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        check_money(text);
        check_lab_datetime(text);
    }
});

fn check_decode(data: &[u8]) {
    match decode(data) {
        Ok(Decoded::Event(envelope)) => check_round_trip(&envelope),
        Ok(Decoded::UnknownType { event_type }) => assert!(
            EventType::from_name(&event_type).is_none(),
            "a known event type was skipped as unknown: {event_type:?}"
        ),
        Err(DecodeError::NotUtf8(_)) => assert!(std::str::from_utf8(data).is_err()),
        Err(_) => assert!(
            std::str::from_utf8(data).is_ok(),
            "bytes that are not UTF-8 must fail as NotUtf8"
        ),
    }
}

fn check_round_trip(envelope: &EventEnvelope) {
    let encoded = envelope.encode();
    let text = String::from_utf8_lossy(&encoded);
    match decode(&encoded) {
        Ok(Decoded::Event(again)) => {
            assert_eq!(
                &again, envelope,
                "the re-encoded event decodes to another event: {text}"
            );
            assert_eq!(again.encode(), encoded, "encoding is not stable: {text}");
        }
        other => panic!("a decoded event re-encodes to {text}, which decodes to {other:?}"),
    }
}

fn check_money(text: &str) {
    if let Ok(money) = text.parse::<Money>() {
        let printed = money.to_string();
        assert_eq!(
            printed.parse::<Money>(),
            Ok(money),
            "{text:?} parsed as {printed:?}"
        );
    }
}

fn check_lab_datetime(text: &str) {
    if let Ok(when) = LabDateTime::parse(text) {
        let printed = when.to_string();
        assert_eq!(
            LabDateTime::parse(&printed).ok(),
            Some(when),
            "{text:?} parsed, then printed as {printed:?}"
        );
    }
}
