//! The 32-byte hash used for everything Lamina commits to: blocks, transactions, state nodes,
//! addresses.
//!
//! The function is SHA-256. On the machines we target it runs on the CPU's SHA extensions and
//! beat BLAKE3 for the 64-byte inputs that dominate merkleization (two child hashes); the
//! measurement and the alternatives are in `docs/adr/0002-hash-function.md`, and
//! `cargo bench -p lamina-interop --bench hash` reproduces it.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Length of a [`Hash`](struct@Hash) in bytes.
pub const HASH_LEN: usize = 32;

/// A 32-byte SHA-256 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The all-zero hash, used as "no parent" and for empty trees.
    pub const ZERO: Hash = Hash([0; HASH_LEN]);

    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// Hashes the concatenation of two hashes: the inner node of a binary Merkle tree.
    pub fn node(left: &Hash, right: &Hash) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(left.0);
        hasher.update(right.0);
        Hash(hasher.finalize().into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Parses 64 hex digits, with or without a `0x` prefix.
    pub fn from_hex(text: &str) -> Result<Hash, hex::FromHexError> {
        let mut out = [0u8; HASH_LEN];
        hex::decode_to_slice(text.strip_prefix("0x").unwrap_or(text), &mut out)?;
        Ok(Hash(out))
    }
}

/// Incremental hashing, for inputs that arrive in parts.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) -> &mut Hasher {
        self.0.update(bytes);
        self
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hash, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        Hash::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            Hash::of(b"abc").to_string(),
            "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn node_is_hash_of_concatenation() {
        let (a, b) = (Hash::of(b"left"), Hash::of(b"right"));
        let mut both = a.0.to_vec();
        both.extend_from_slice(&b.0);
        assert_eq!(Hash::node(&a, &b), Hash::of(&both));
        assert_ne!(Hash::node(&a, &b), Hash::node(&b, &a));
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut hasher = Hasher::new();
        hasher.update(b"ab").update(b"c");
        assert_eq!(hasher.finish(), Hash::of(b"abc"));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash::of(b"x");
        assert_eq!(Hash::from_hex(&h.to_string()), Ok(h));
        assert_eq!(Hash::from_hex(&h.to_string()[2..]), Ok(h));
        assert!(Hash::from_hex("0x12").is_err());
        assert!(Hash::from_hex(&"zz".repeat(32)).is_err());
        let json = serde_json::to_string(&h).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Hash>(&json).ok(), Some(h));
    }
}
