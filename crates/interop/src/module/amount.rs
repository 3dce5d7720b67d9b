//! Amounts in JSON: decimal strings over the whole `u128` range.
//!
//! JSON numbers stop at 2^64 in most parsers (serde_json without arbitrary precision turns a
//! larger one into a float) and at 2^53 in JavaScript, while 100 tokens of an 18-decimal asset
//! are 10^20 units. Every amount in a call, query, answer or chain spec is therefore written as
//! a decimal string (`"100000000000000000000"`). On input a plain JSON number up to 2^64 - 1 is
//! accepted too; a negative, fractional or larger number is refused with a message that says
//! to write a string.
//!
//! Use [`Amount`] as a type, or `#[serde(with = "lamina_interop::module::amount")]` on a
//! `u128` field, and [`option`] on an `Option<u128>`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in JSON: a decimal string (see the module's note). In borsh, a plain `u128`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
)]
pub struct Amount(pub u128);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        deserializer.deserialize_any(AmountVisitor).map(Amount)
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = u128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount as a decimal string, such as \"1000000000000000000000\"")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u128, E> {
        Ok(u128::from(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<u128, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u128, E> {
        u128::try_from(value).map_err(|_| E::custom(format!("amount {value} is negative")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u128, E> {
        Err(E::custom(format!(
            "amount {value} is not a whole number below 2^64: write amounts as decimal strings"
        )))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u128, E> {
        // `u128::from_str` accepts a leading '+'; an amount is digits only.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!(
                "{text:?} is not an amount (decimal digits)"
            )));
        }
        text.parse()
            .map_err(|_| E::custom(format!("{text:?} is larger than 2^128 - 1")))
    }
}

/// Serializes a `u128` as a decimal string.
pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
    Amount(*value).serialize(serializer)
}

/// Deserializes a `u128` from a decimal string or a JSON number below 2^64.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
    Ok(Amount::deserialize(deserializer)?.0)
}

/// The same for `Option<u128>` (`null` is `None`).
pub mod option {
    use super::Amount;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes `Some(amount)` as a decimal string, `None` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<u128>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.map(Amount).serialize(serializer)
    }

    /// Deserializes `null` or an amount.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u128>, D::Error> {
        Ok(Option::<Amount>::deserialize(deserializer)?.map(|a| a.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_whole_range_round_trips_as_strings() {
        for value in [0, 1, u128::from(u64::MAX) + 1, 10u128.pow(20), u128::MAX] {
            let json = serde_json::to_string(&Amount(value)).unwrap();
            assert_eq!(json, format!("\"{value}\""));
            assert_eq!(
                serde_json::from_str::<Amount>(&json).unwrap(),
                Amount(value)
            );
        }
    }

    #[test]
    fn numbers_below_2_64_are_accepted_and_the_rest_refused_with_a_reason() {
        assert_eq!(serde_json::from_str::<Amount>("42").unwrap(), Amount(42));
        let max = u64::MAX.to_string();
        assert_eq!(
            serde_json::from_str::<Amount>(&max).unwrap(),
            Amount(u128::from(u64::MAX))
        );
        let big = serde_json::from_str::<Amount>("18446744073709551616").unwrap_err();
        assert!(big.to_string().contains("decimal strings"), "{big}");
        for bad in [
            "-1", "1.5", "\"-1\"", "\"+1\"", "\"\"", "\"1e3\"", "\" 1\"", "true",
        ] {
            assert!(
                serde_json::from_str::<Amount>(bad).is_err(),
                "{bad} accepted"
            );
        }
        let too_large = format!("\"{}0\"", u128::MAX);
        assert!(serde_json::from_str::<Amount>(&too_large).is_err());
    }
}
