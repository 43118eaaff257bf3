//! The wire format against the lab's exact payloads, and round-trip properties.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use shared_events::{
    DecodeError, Decoded, Event, EventEnvelope, EventType, Money, OrderCreated, OrderDeleted,
    OrderItem, OrderPaid, UserCreated, UserDeleted, UserType, decode, topics,
};
use uuid::Uuid;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {path}: {error}"))
}

fn decode_known(bytes: &[u8]) -> EventEnvelope {
    match decode(bytes) {
        Ok(Decoded::Event(envelope)) => envelope,
        other => panic!("expected a known event, got {other:?}"),
    }
}

#[test]
fn lab_user_created_is_understood() {
    let envelope = decode_known(&fixture("lab_user_created.json"));
    assert_eq!(
        envelope.event,
        Event::UserCreated(UserCreated {
            id: 7,
            name: "Ada Lovelace".into(),
            email: "alovelace@example.com".into(),
            user_type: UserType::Client,
        })
    );
    assert_eq!(envelope.datetime.to_string(), "2025-11-09 14:03:12.123456");
    assert_eq!(envelope.event_id, None, "the lab sends no event_id");
    assert_eq!(envelope.version, 1);
    assert_eq!(envelope.occurred_at, None);
}

#[test]
fn lab_user_deleted_is_understood() {
    let envelope = decode_known(&fixture("lab_user_deleted.json"));
    assert_eq!(envelope.event_type(), EventType::UserDeleted);
    assert_eq!(envelope.event.aggregate_id(), 7);
}

#[test]
fn lab_datetime_without_fraction_is_understood() {
    let envelope = decode_known(&fixture("lab_user_created_whole_second.json"));
    assert_eq!(envelope.datetime.to_string(), "2025-11-09 14:03:12.000000");
}

#[test]
fn unknown_event_type_is_skippable_not_an_error() {
    assert_eq!(
        decode(&fixture("lab_unknown_event.json")).expect("valid JSON"),
        Decoded::UnknownType {
            event_type: "UserUpdated".into()
        }
    );
}

#[test]
fn our_message_decodes_with_every_added_field() {
    let envelope = decode_known(&fixture("coolriel_user_created.json"));
    let Event::UserCreated(created) = &envelope.event else {
        panic!("expected UserCreated, got {:?}", envelope.event)
    };
    assert_eq!(created.user_type, UserType::Employee);
    assert_eq!(
        envelope.event_id,
        Some(Uuid::parse_str("0197b2f4-3c1e-7a52-9d0e-4f8b7c2a1e90").expect("uuid"))
    );
    assert_eq!(
        envelope.occurred_at,
        Some(
            DateTime::parse_from_rfc3339("2025-11-09T14:03:12.123456Z")
                .expect("rfc3339")
                .to_utc()
        )
    );
}

/// What the lab's Python consumer reads (`json.loads(msg)["name"]`, ...) must still be there.
#[test]
fn our_encoding_keeps_the_lab_fields() {
    let envelope = EventEnvelope::at(
        Event::UserCreated(UserCreated {
            id: 7,
            name: "Ada Lovelace".into(),
            email: "alovelace@example.com".into(),
            user_type: UserType::Manager,
        }),
        Utc.with_ymd_and_hms(2025, 11, 9, 14, 3, 12)
            .single()
            .expect("valid date"),
        Uuid::nil(),
    );
    let json: serde_json::Value = serde_json::from_slice(&envelope.encode()).expect("json");
    assert_eq!(json["event"], "UserCreated");
    assert_eq!(json["id"], 7);
    assert_eq!(json["name"], "Ada Lovelace");
    assert_eq!(json["email"], "alovelace@example.com");
    assert_eq!(json["datetime"], "2025-11-09 14:03:12.000000");
    assert_eq!(json["user_type_id"], 3);
    assert_eq!(json["event_id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(json["version"], 1);
    assert_eq!(json["occurred_at"], "2025-11-09T14:03:12Z");
}

#[test]
fn order_created_fixture_is_understood() {
    let envelope = decode_known(&fixture("order_created.json"));
    let Event::OrderCreated(order) = &envelope.event else {
        panic!("expected OrderCreated, got {envelope:?}");
    };
    assert_eq!(order.id, 12);
    assert_eq!(order.user_type, UserType::Employee);
    assert_eq!(order.items.len(), 2);
    assert_eq!(order.items[0].unit_price, Money::from_cents(199_999));
    assert_eq!(order.items[1].line_total, Money::from_cents(11_900));
    assert_eq!(order.total, Money::from_cents(211_899));
    assert_eq!(envelope.event.key(), "12");
    assert_eq!(envelope.event.topic(), topics::ORDER_EVENTS);
    // Amounts go out as strings, never floats.
    let json: serde_json::Value = serde_json::from_slice(&envelope.encode()).expect("JSON");
    assert_eq!(json["total"], "2118.99");
    assert_eq!(json["items"][0]["unit_price"], "1999.99");
}

#[test]
fn garbage_is_a_typed_error() {
    let cases: [(&[u8], &str); 9] = [
        (b"", "empty"),
        (b"not json", "not JSON"),
        (b"{\"event\": \"UserCreated\", \"id\": 1", "truncated"),
        (b"[1, 2, 3]", "array"),
        (b"{\"id\": 1}", "no event field"),
        (b"{\"event\": 5}", "event not a string"),
        (&[0xff, 0xfe, b'{', b'}'], "not UTF-8"),
        (
            b"{\"event\": \"UserCreated\", \"id\": \"seven\", \"name\": \"A\", \"email\": \"a@b.c\", \"datetime\": \"2025-11-09 14:03:12\"}",
            "id of the wrong type",
        ),
        (
            b"{\"event\": \"UserCreated\", \"id\": 1, \"name\": \"A\", \"email\": \"a@b.c\", \"datetime\": \"2025-11-09 14:03:12\", \"user_type_id\": 9}",
            "unknown user type",
        ),
    ];
    for (bytes, what) in cases {
        assert!(decode(bytes).is_err(), "{what} must be rejected");
    }
}

#[test]
fn missing_required_field_names_it() {
    let error = decode(br#"{"event": "UserCreated", "id": 1, "email": "a@b.c", "datetime": "2025-11-09 14:03:12"}"#)
        .expect_err("name is required");
    assert!(matches!(
        error,
        DecodeError::InvalidEvent {
            event_type: EventType::UserCreated,
            ..
        }
    ));
    assert!(
        error.to_string().contains("name"),
        "error should name the field: {error}"
    );
}

fn user_type() -> impl Strategy<Value = UserType> {
    prop_oneof![
        Just(UserType::Client),
        Just(UserType::Employee),
        Just(UserType::Manager)
    ]
}

fn money() -> impl Strategy<Value = Money> {
    (0i64..100_000_000_000).prop_map(Money::from_cents)
}

fn order_item() -> impl Strategy<Value = OrderItem> {
    (
        any::<i64>(),
        ".{0,30}",
        "[A-Z]{2}[0-9]{5}",
        money(),
        1i64..1000,
        money(),
    )
        .prop_map(
            |(product_id, name, sku, unit_price, quantity, line_total)| OrderItem {
                product_id,
                name,
                sku,
                unit_price,
                quantity,
                line_total,
            },
        )
}

fn order_event() -> impl Strategy<Value = Event> {
    (
        (
            any::<i64>(),
            any::<i64>(),
            ".{0,40}",
            ".{0,40}",
            user_type(),
        ),
        proptest::collection::vec(order_item(), 0..4),
        money(),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(
            |((id, user_id, user_name, user_email, user_type), items, total, kind, was_paid)| {
                match kind {
                    0 => Event::OrderCreated(OrderCreated {
                        id,
                        user_id,
                        user_name,
                        user_email,
                        user_type,
                        items,
                        total,
                    }),
                    1 => Event::OrderPaid(OrderPaid {
                        id,
                        user_id,
                        user_name,
                        user_email,
                        user_type,
                        items,
                        total,
                    }),
                    _ => Event::OrderDeleted(OrderDeleted {
                        id,
                        user_id,
                        user_name,
                        user_email,
                        user_type,
                        items,
                        total,
                        was_paid,
                    }),
                }
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![user_event(), order_event()]
}

fn user_event() -> impl Strategy<Value = Event> {
    (
        any::<i64>(),
        ".{0,40}",
        ".{0,40}",
        user_type(),
        any::<bool>(),
    )
        .prop_map(|(id, name, email, user_type, created)| {
            if created {
                Event::UserCreated(UserCreated {
                    id,
                    name,
                    email,
                    user_type,
                })
            } else {
                Event::UserDeleted(UserDeleted {
                    id,
                    name,
                    email,
                    user_type,
                })
            }
        })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Microsecond precision: the lab's `datetime` carries no more.
    (0i64..4_102_444_800, 0u32..1_000_000).prop_map(|(seconds, micros)| {
        DateTime::from_timestamp(seconds, micros * 1_000).expect("in range")
    })
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(event in event(), at in instant(), id in any::<u128>()) {
        let envelope = EventEnvelope::at(event, at, Uuid::from_u128(id));
        let decoded = decode(&envelope.encode()).expect("our own encoding decodes");
        prop_assert_eq!(decoded, Decoded::Event(envelope));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_near_valid_json(
        id in any::<i64>(), name in ".{0,20}", user_type_id in any::<i64>(), datetime in ".{0,30}"
    ) {
        let json = serde_json::json!({
            "event": "UserCreated", "id": id, "name": name, "email": "x@y.z",
            "user_type_id": user_type_id, "datetime": datetime,
        });
        let _ = decode(json.to_string().as_bytes());
    }
}
