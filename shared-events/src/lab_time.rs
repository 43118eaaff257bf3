//! The lab's `datetime` field: Python's `str(datetime.now())`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A timestamp in the lab's format, `2025-11-09 14:03:12.123456`.
///
/// Python prints no fraction when the microseconds are zero (`2025-11-09 14:03:12`)
/// and `isoformat()` puts a `T` in the middle; all three are accepted. We always write
/// six fractional digits, in UTC (the lab wrote local time without a zone; the zone-aware
/// instant is in `occurred_at`). A value never holds more than microseconds, whether made
/// here or read (more digits are truncated), so it always reads back as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabDateTime(NaiveDateTime);

const WRITE_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";
const READ_FORMATS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];

/// A `datetime` string that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid datetime {0:?}: expected the lab's format, like \"2025-11-09 14:03:12.123456\"")]
pub struct InvalidLabDateTime(String);

impl LabDateTime {
    /// Truncated to microseconds, the lab's precision, so a value survives a round trip.
    pub fn from_utc(instant: DateTime<Utc>) -> Self {
        LabDateTime(truncate_to_micros(instant.naive_utc()))
    }

    pub fn now() -> Self {
        Self::from_utc(Utc::now())
    }

    pub fn naive(&self) -> NaiveDateTime {
        self.0
    }

    /// Digits past the microseconds (`14:03:12.123456789`) are accepted and dropped: the
    /// value is what we would write (`14:03:12.123456`), so an event decoded, encoded and
    /// decoded again is the same event.
    pub fn parse(text: &str) -> Result<Self, InvalidLabDateTime> {
        READ_FORMATS
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .map(|naive| LabDateTime(truncate_to_micros(naive)))
            .ok_or_else(|| InvalidLabDateTime(text.to_owned()))
    }
}

/// Drops the nanoseconds below the microsecond (a leap second's extra second stays).
fn truncate_to_micros(naive: NaiveDateTime) -> NaiveDateTime {
    let nanos = naive.nanosecond();
    naive
        .with_nanosecond(nanos - nanos % 1_000)
        .unwrap_or(naive)
}

use chrono::Timelike as _;

impl std::fmt::Display for LabDateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format(WRITE_FORMAT))
    }
}

impl Serialize for LabDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LabDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        LabDateTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_lab_format() {
        let parsed = LabDateTime::parse("2025-11-09 14:03:12.123456").expect("lab format");
        assert_eq!(parsed.to_string(), "2025-11-09 14:03:12.123456");
    }

    #[test]
    fn parses_whole_seconds_and_iso_t() {
        assert_eq!(
            LabDateTime::parse("2025-11-09 14:03:12")
                .expect("no fraction")
                .to_string(),
            "2025-11-09 14:03:12.000000"
        );
        assert_eq!(
            LabDateTime::parse("2025-11-09T14:03:12.5")
                .expect("iso")
                .to_string(),
            "2025-11-09 14:03:12.500000"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "yesterday", "2025-13-01 00:00:00", "2025-11-09"] {
            assert!(
                LabDateTime::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn reads_more_digits_as_the_microseconds_it_writes() {
        // Found by the `decode` fuzz target: nanoseconds were kept when read but not
        // written, so a re-encoded event decoded to another datetime.
        let parsed = LabDateTime::parse("2025-11-09 14:0:40.5000913").expect("lab format");
        assert_eq!(parsed.to_string(), "2025-11-09 14:00:40.500091");
        assert_eq!(LabDateTime::parse(&parsed.to_string()), Ok(parsed));
        let nanos = LabDateTime::parse("2025-11-09T14:03:12.123456789").expect("nanoseconds");
        assert_eq!(
            nanos,
            LabDateTime::parse("2025-11-09 14:03:12.123456").expect("micros")
        );
    }

    #[test]
    fn truncates_to_microseconds() {
        let instant = DateTime::parse_from_rfc3339("2025-11-09T14:03:12.123456789Z")
            .expect("rfc3339")
            .with_timezone(&Utc);
        assert_eq!(
            LabDateTime::from_utc(instant).to_string(),
            "2025-11-09 14:03:12.123456"
        );
    }
}
