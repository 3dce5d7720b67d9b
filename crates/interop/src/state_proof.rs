//! Proofs about the chain's state, and their verification as a pure function: what a light
//! client needs to check a value (or its absence) against a state root, without the data
//! layer.
//!
//! The state is a QMDB `current::ordered` database (see `docs/adr/0008-authenticated-state-qmdb.md`)
//! whose keys are the SHA-256 of state keys. A membership proof shows the key's current value;
//! a non-membership proof shows the two neighbouring keys between which the key would sit.
//! Verification is commonware-storage's, called here so that prover and verifier cannot drift.
//!
//! # Encoding
//!
//! ```text
//! StateProof = 0u8 | value_len u32 LE | value | membership proof     (commonware codec)
//!            | 1u8 | non-membership proof                            (commonware codec)
//! ```
//!
//! [`StateProof::decode`] refuses inputs over [`MAX_STATE_PROOF_LEN`], bounds the digests of the
//! embedded Merkle proof by [`MAX_PROOF_DIGESTS`], and refuses trailing bytes.

use commonware_codec::{Copying, Decode, Encode as _};
use commonware_cryptography::{DigestOf, Hasher as _, Sha256};
use commonware_storage::merkle::mmr::Family as Mmr;
use commonware_storage::qmdb::any::value::VariableEncoding;
use commonware_storage::qmdb::current::ordered::proof::constant::{ExclusionProof, KeyValueProof};

use crate::codec::DecodeError;
use crate::hash::Hash;
use crate::module::MAX_VALUE_LEN;

/// Bytes of the state's activity bitmap per chunk.
pub const STATE_CHUNK: usize = 32;
/// Most digests in one proof's Merkle path: two per level of a tree of 2^64 leaves.
pub const MAX_PROOF_DIGESTS: usize = 128;
/// Largest encoded [`StateProof`], in bytes.
pub const MAX_STATE_PROOF_LEN: usize = 1 + 4 + 2 * MAX_VALUE_LEN + 64 * 1024;

/// The digest type of the state tree.
pub type StateDigest = DigestOf<Sha256>;
/// A proof that a key has a value under a root.
pub type MembershipProof = KeyValueProof<Mmr, StateDigest, StateDigest, STATE_CHUNK>;
/// A proof that a key has no value under a root.
pub type NonMembershipProof =
    ExclusionProof<Mmr, StateDigest, VariableEncoding<Vec<u8>>, StateDigest, STATE_CHUNK>;

/// A key's value, or its absence, with the proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateProof {
    /// The key has `value`.
    Member {
        /// The value.
        value: Vec<u8>,
        /// The proof.
        proof: MembershipProof,
    },
    /// The key has no value.
    NonMember {
        /// The proof.
        proof: NonMembershipProof,
    },
}

/// Why a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the proof does not verify against this root and key")]
pub struct InvalidProof;

/// The state tree's key for state key `key`.
pub fn state_key(key: &[u8]) -> StateDigest {
    Sha256::hash(&[key])
}

/// Checks `proof` for `key` against `root`: the key's value, or `None` when it provably has
/// none.
pub fn verify(
    root: &Hash,
    key: &[u8],
    proof: &StateProof,
) -> Result<Option<Vec<u8>>, InvalidProof> {
    let root = StateDigest::from(root.0);
    let hashed = state_key(key);
    match proof {
        StateProof::Member { value, proof } => proof
            .verify::<Sha256, VariableEncoding<Vec<u8>>>(hashed, value.clone(), &root)
            .then(|| Some(value.clone()))
            .ok_or(InvalidProof),
        StateProof::NonMember { proof } => proof
            .verify::<Sha256>(&hashed, &root)
            .then_some(None)
            .ok_or(InvalidProof),
    }
}

const MEMBER: u8 = 0;
const NON_MEMBER: u8 = 1;
const WHAT: &str = "StateProof";

impl StateProof {
    /// The encoding described in the module documentation.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            StateProof::Member { value, proof } => {
                out.push(MEMBER);
                // Values are bounded by MAX_VALUE_LEN, far below u32::MAX.
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
                out.extend_from_slice(&proof.encode());
            }
            StateProof::NonMember { proof } => {
                out.push(NON_MEMBER);
                out.extend_from_slice(&proof.encode());
            }
        }
        out
    }

    /// Decodes untrusted bytes under the limits in the module documentation.
    pub fn decode(bytes: &[u8]) -> Result<StateProof, DecodeError> {
        if bytes.len() > MAX_STATE_PROOF_LEN {
            return Err(DecodeError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_STATE_PROOF_LEN,
            });
        }
        let (&tag, rest) = bytes
            .split_first()
            .ok_or(DecodeError::UnexpectedEnd { what: WHAT })?;
        let invalid = |err: commonware_codec::Error| DecodeError::Invalid {
            what: WHAT,
            reason: err.to_string(),
        };
        let proof = match tag {
            MEMBER => {
                let len_bytes: [u8; 4] = rest
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(DecodeError::UnexpectedEnd { what: WHAT })?;
                let len = u32::from_le_bytes(len_bytes) as usize;
                if len > MAX_VALUE_LEN {
                    return Err(DecodeError::LengthExceeded {
                        what: "state value",
                        len: len as u64,
                        max: MAX_VALUE_LEN as u64,
                    });
                }
                let value = rest
                    .get(4..4 + len)
                    .ok_or(DecodeError::UnexpectedEnd { what: WHAT })?
                    .to_vec();
                let proof = MembershipProof::decode_cfg(
                    Copying(&rest[4 + len..]),
                    &(MAX_PROOF_DIGESTS, ()),
                )
                .map_err(invalid)?;
                StateProof::Member { value, proof }
            }
            NON_MEMBER => {
                let value_cfg = ((0..=MAX_VALUE_LEN).into(), ());
                let cfg = (MAX_PROOF_DIGESTS, ((), value_cfg), value_cfg);
                let proof = NonMembershipProof::decode_cfg(Copying(rest), &cfg).map_err(invalid)?;
                StateProof::NonMember { proof }
            }
            tag => {
                return Err(DecodeError::Invalid {
                    what: WHAT,
                    reason: format!("unknown tag {tag}"),
                })
            }
        };
        // `decode_cfg` refuses trailing bytes.
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_inputs_are_typed_errors() {
        assert_eq!(
            StateProof::decode(&[]),
            Err(DecodeError::UnexpectedEnd { what: WHAT })
        );
        assert!(matches!(
            StateProof::decode(&[9]),
            Err(DecodeError::Invalid { .. })
        ));
        assert_eq!(
            StateProof::decode(&[0, 1, 0]),
            Err(DecodeError::UnexpectedEnd { what: WHAT })
        );
        let huge = [0u8, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            StateProof::decode(&huge),
            Err(DecodeError::LengthExceeded { .. })
        ));
        assert!(matches!(
            StateProof::decode(&[0, 0, 0, 0, 0]),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            StateProof::decode(&[1, 0, 1, 2]),
            Err(DecodeError::Invalid { .. })
        ));
        let long = vec![0u8; MAX_STATE_PROOF_LEN + 1];
        assert!(matches!(
            StateProof::decode(&long),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            if let Ok(proof) = StateProof::decode(&bytes) {
                proptest::prop_assert_eq!(proof.encode(), bytes);
            }
        }
    }
}
