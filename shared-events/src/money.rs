//! [`Money`]: an exact amount in cents. Never a float: prices and totals are added and
//! multiplied as integers and written as decimal strings (`"1999.99"`).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of money with two decimal places, stored as a whole number of cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMoney {
    #[error("{0:?} is not a decimal amount like 19.99")]
    NotDecimal(String),
    #[error("{0:?} has more than 2 decimal places")]
    TooPrecise(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    /// `self × quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: i64) -> Option<Money> {
        self.0.checked_mul(quantity).map(Money)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl FromStr for Money {
    type Err = InvalidMoney;

    /// Accepts `12`, `12.5`, `12.50`, `-3.10`; rejects exponents, spaces, more than two
    /// decimals and anything that does not fit in cents.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let not_decimal = || InvalidMoney::NotDecimal(text.to_owned());
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_decimal());
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit())
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(not_decimal());
        }
        // Trailing zeros beyond two places (1.500) still name a whole number of cents.
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(InvalidMoney::TooPrecise(text.to_owned()));
        }
        let too_large = || InvalidMoney::TooLarge(text.to_owned());
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let fraction_cents: i64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| not_decimal())?;
        let cents = whole
            .checked_mul(100)
            .and_then(|cents| cents.checked_add(fraction_cents))
            .ok_or_else(too_large)?;
        Ok(Money(if negative { -cents } else { cents }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let cents = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", cents / 100, cents % 100)
    }
}

/// Written as a decimal string, so no reader turns it into a float by accident.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read from a string (`"49.99"`) or, as the lab's clients send prices, a JSON number
/// (`49.99`). A number is taken by its shortest decimal form, which for any amount with
/// two decimals below 2^53 cents is exactly what the client wrote.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MoneyVisitor;

        impl Visitor<'_> for MoneyVisitor {
            type Value = Money;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount like 19.99 or \"19.99\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Money, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, whole: i64) -> Result<Money, E> {
                whole
                    .checked_mul(100)
                    .map(Money)
                    .ok_or_else(|| E::custom(InvalidMoney::TooLarge(whole.to_string())))
            }

            fn visit_u64<E: de::Error>(self, whole: u64) -> Result<Money, E> {
                let whole = i64::try_from(whole)
                    .map_err(|_| E::custom(InvalidMoney::TooLarge(whole.to_string())))?;
                self.visit_i64(whole)
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Money, E> {
                if !number.is_finite() || number.abs() >= 9.0e13 {
                    return Err(E::custom(InvalidMoney::TooLarge(number.to_string())));
                }
                // `{}` prints the shortest text that reads back as the same f64.
                number.to_string().parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(MoneyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_two_decimals() {
        for (text, cents, shown) in [
            ("1999.99", 199_999, "1999.99"),
            ("59.5", 5950, "59.50"),
            ("5", 500, "5.00"),
            ("0.05", 5, "0.05"),
            ("1.500", 150, "1.50"),
            ("-3.1", -310, "-3.10"),
        ] {
            let money: Money = text.parse().expect(text);
            assert_eq!(money.cents(), cents);
            assert_eq!(money.to_string(), shown);
        }
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for text in [
            "", ".5", "5.", "1e3", " 5", "5 ", "1.2.3", "abc", "+5", "--1",
        ] {
            assert!(
                matches!(text.parse::<Money>(), Err(InvalidMoney::NotDecimal(_))),
                "{text:?}"
            );
        }
        assert!(matches!(
            "1.999".parse::<Money>(),
            Err(InvalidMoney::TooPrecise(_))
        ));
        assert!(matches!(
            "99999999999999999999".parse::<Money>(),
            Err(InvalidMoney::TooLarge(_))
        ));
    }

    #[test]
    fn json_numbers_and_strings_mean_the_same_amount() {
        for json in ["49.99", "\"49.99\"", "0.1", "2", "\"2.00\""] {
            let money: Money = serde_json::from_str(json).expect(json);
            let expected: Money = json.trim_matches('"').parse().expect(json);
            assert_eq!(money, expected);
        }
        assert_eq!(
            serde_json::to_string(&Money::from_cents(5950)).expect("json"),
            "\"59.50\""
        );
        assert!(serde_json::from_str::<Money>("0.001").is_err());
        assert!(serde_json::from_str::<Money>("1e300").is_err());
        assert!(serde_json::from_str::<Money>("true").is_err());
    }

    proptest! {
        #[test]
        fn text_round_trips(cents in -1_000_000_000_000i64..1_000_000_000_000) {
            let money = Money::from_cents(cents);
            prop_assert_eq!(money.to_string().parse::<Money>(), Ok(money));
        }

        #[test]
        fn a_json_number_with_two_decimals_is_read_exactly(cents in 0i64..10_000_000_000) {
            let text = Money::from_cents(cents).to_string();
            let number: f64 = text.parse().expect("f64");
            let json = serde_json::to_string(&number).expect("json");
            prop_assert_eq!(serde_json::from_str::<Money>(&json).expect("money").cents(), cents);
        }
    }
}
