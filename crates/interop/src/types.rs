//! Small value types every layer shares: chain id, height, timestamp, address.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::PublicKey;
use crate::hash::Hasher;

/// Identifies a chain. Every signed payload carries it, so nothing signed for one chain is
/// valid on another.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct ChainId(pub u64);

/// A block height. Genesis is height 0; the first block is height 1.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

impl Height {
    /// The genesis state's height.
    pub const GENESIS: Height = Height(0);

    /// The next height, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Height> {
        self.0.checked_add(1).map(Height)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch, as chosen by a block's proposer.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp `millis` milliseconds after the epoch.
    pub fn from_millis(millis: u64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }
}

/// Length of an [`Address`] in bytes.
pub const ADDRESS_LEN: usize = 32;

/// An account address: the hash of a domain tag and the account's public key.
///
/// 32 bytes rather than 20 so that finding two keys with one address costs 2^128 work, not
/// 2^80.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; ADDRESS_LEN]);

/// Why text is not an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an address is 0x followed by 64 hex digits")]
pub struct ParseAddressError;

impl Address {
    /// The address of the account controlled by `key`.
    pub fn of(key: &PublicKey) -> Address {
        let mut hasher = Hasher::new();
        hasher.update(b"lamina/address/ed25519").update(&key.0);
        Address(hasher.finish().0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = ParseAddressError;

    fn from_str(text: &str) -> Result<Address, ParseAddressError> {
        let digits = text.strip_prefix("0x").ok_or(ParseAddressError)?;
        let mut out = [0u8; ADDRESS_LEN];
        hex::decode_to_slice(digits, &mut out).map_err(|_| ParseAddressError)?;
        Ok(Address(out))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        <String as Deserialize>::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn address_depends_on_key_and_parses_back() {
        let a = Address::of(&SecretKey::from_seed([1; 32]).public_key());
        let b = Address::of(&SecretKey::from_seed([2; 32]).public_key());
        assert_ne!(a, b);
        assert_eq!(a.to_string().parse(), Ok(a));
        assert_eq!("0x12".parse::<Address>(), Err(ParseAddressError));
        assert_eq!(hex::encode(a.0).parse::<Address>(), Err(ParseAddressError));
    }

    #[test]
    fn height_next_saturates_to_none() {
        assert_eq!(Height(1).next(), Some(Height(2)));
        assert_eq!(Height(u64::MAX).next(), None);
    }
}
