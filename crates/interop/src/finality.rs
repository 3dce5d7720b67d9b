//! Finality you can carry: validator sets, the certificates that finalize blocks, and the
//! proofs that tie a block at any height to a certificate, with their checks as pure
//! functions, so that someone who does not run the chain can tell a final block from a
//! forged one.
//!
//! # What a validator signs
//!
//! The `simplex` engine's validators sign, for each block they finalize, the proposal that
//! carried it; `solo` signs the same message for each block it builds, as a set of one. With
//! `varint` the unsigned LEB128 encoding (7 bits per byte, low group first, high bit set on
//! every byte but the last) and `||` concatenation:
//!
//! ```text
//! namespace = "lamina-simplex-" || chain_id u64 BE || "_FINALIZE"
//! proposal  = varint(epoch) || varint(view) || varint(parent_view) || block id [32]
//! message   = varint(len(namespace)) || namespace || proposal
//! vote      = ed25519 signature over `message` (ZIP-215 rules)
//! ```
//!
//! # Byte formats
//!
//! Borsh, as every [`Canonical`] type (integers little-endian, sequences with a `u32 LE`
//! count):
//!
//! ```text
//! ValidatorSet        = epoch u64 | u32 n | n x public key [32]          keys sorted, unique
//! FinalityCertificate = epoch u64 | view u64 | parent_view u64 | block [32]
//!                     | u32 n | n x (signer u32 | signature [64])      signers ascending
//! FinalityProof       = certificate | u32 n | n x Header               heights ascending
//! ```
//!
//! A signer is an index into the epoch's [`ValidatorSet`]. A certificate finalizes `block`
//! and, since a block names its parent, every ancestor: a [`FinalityProof`] for height `h`
//! carries the headers from `h` up to the certified one, each the parent of the next.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::block::Header;
use crate::codec::{BoundedVec, Canonical};
use crate::crypto::{BatchVerifier, PublicKey, SecretKey, Signature};
use crate::hash::Hash;
use crate::types::{ChainId, Height};

/// Most validators in one set.
pub const MAX_VALIDATORS: usize = 1024;
/// Most headers a [`FinalityProof`] carries: a certificate covers at most this many blocks
/// below it.
pub const MAX_PROOF_HEADERS: usize = 1024;

/// The validators of one epoch, keys sorted and unique. A signer index in a certificate is a
/// position in `keys`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorSet {
    /// The epoch these validators order.
    pub epoch: u64,
    /// Their consensus keys, ascending by bytes.
    pub keys: BoundedVec<PublicKey, MAX_VALIDATORS>,
}

impl Canonical for ValidatorSet {
    const NAME: &'static str = "ValidatorSet";
    const MAX_ENCODED_LEN: usize = 8 + 4 + 32 * MAX_VALIDATORS;
}

impl ValidatorSet {
    /// The set of `keys` for `epoch`, sorted; refused when empty, too large or repeating a
    /// key.
    pub fn new(epoch: u64, mut keys: Vec<PublicKey>) -> Result<ValidatorSet, FinalityError> {
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        if keys.is_empty() || keys.len() != n {
            return Err(FinalityError::BadSet {
                detail: "a set needs at least one key and no key twice".into(),
            });
        }
        let keys = BoundedVec::try_from_vec(keys).map_err(|keys| FinalityError::BadSet {
            detail: format!("{} keys, at most {MAX_VALIDATORS}", keys.len()),
        })?;
        Ok(ValidatorSet { epoch, keys })
    }

    /// Whether the keys are ascending and unique and there is at least one (decoded sets
    /// are checked with this before use).
    pub fn is_well_formed(&self) -> bool {
        !self.keys.is_empty() && self.keys.windows(2).all(|w| w[0] < w[1])
    }

    /// Signatures a certificate needs: `n - f` with `f = (n - 1) / 3` faulty validators
    /// tolerated, as `simplex` counts.
    pub fn quorum(&self) -> usize {
        let n = self.keys.len();
        n - n.saturating_sub(1) / 3
    }
}

/// One validator's signature in a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Position of the signer's key in the epoch's [`ValidatorSet`].
    pub signer: u32,
    /// The signature over the vote message (module docs).
    pub signature: Signature,
}

/// Signatures of at least a quorum of an epoch's validators over the proposal that carried
/// `block`: the block is final.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FinalityCertificate {
    /// The epoch whose set signed.
    pub epoch: u64,
    /// The consensus round (view) in which the block was finalized.
    pub view: u64,
    /// The view of the proposal's parent.
    pub parent_view: u64,
    /// The finalized block's id.
    pub block: Hash,
    /// The signatures, by ascending signer.
    pub votes: BoundedVec<Vote, MAX_VALIDATORS>,
}

impl Canonical for FinalityCertificate {
    const NAME: &'static str = "FinalityCertificate";
    const MAX_ENCODED_LEN: usize = 8 * 3 + 32 + 4 + (4 + 64) * MAX_VALIDATORS;
}

/// The namespace under which chain `chain_id`'s validators sign finalizations.
pub fn finalize_namespace(chain_id: ChainId) -> Vec<u8> {
    let mut out = b"lamina-simplex-".to_vec();
    out.extend_from_slice(&chain_id.0.to_be_bytes());
    out.extend_from_slice(b"_FINALIZE");
    out
}

/// The bytes a validator signs to finalize `block` (module docs).
pub fn vote_message(
    chain_id: ChainId,
    epoch: u64,
    view: u64,
    parent_view: u64,
    block: &Hash,
) -> Vec<u8> {
    let namespace = finalize_namespace(chain_id);
    let mut out = Vec::with_capacity(namespace.len() + 64);
    varint(&mut out, namespace.len() as u64);
    out.extend_from_slice(&namespace);
    varint(&mut out, epoch);
    varint(&mut out, view);
    varint(&mut out, parent_view);
    out.extend_from_slice(&block.0);
    out
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl FinalityCertificate {
    /// A certificate signed by `keys` alone: what `solo` makes for each of its blocks, and
    /// what tests forge with.
    pub fn sign(
        chain_id: ChainId,
        set: &ValidatorSet,
        (view, parent_view): (u64, u64),
        block: Hash,
        keys: &[&SecretKey],
    ) -> FinalityCertificate {
        let message = vote_message(chain_id, set.epoch, view, parent_view, &block);
        let mut votes: Vec<Vote> = keys
            .iter()
            .filter_map(|key| {
                let index = set.keys.binary_search(&key.public_key()).ok()?;
                Some(Vote {
                    signer: index as u32,
                    signature: key.sign_raw(&message),
                })
            })
            .collect();
        votes.sort_unstable_by_key(|v| v.signer);
        votes.dedup_by_key(|v| v.signer);
        FinalityCertificate {
            epoch: set.epoch,
            view,
            parent_view,
            block,
            votes: BoundedVec::try_from_vec(votes).unwrap_or_default(),
        }
    }

    /// Checks that a quorum of `set` signed this certificate on chain `chain_id`, for
    /// `block`.
    pub fn verify(
        &self,
        chain_id: ChainId,
        set: &ValidatorSet,
        block: &Hash,
    ) -> Result<(), FinalityError> {
        if self.epoch != set.epoch {
            return Err(FinalityError::WrongEpoch {
                certificate: self.epoch,
                set: set.epoch,
            });
        }
        if self.block != *block {
            return Err(FinalityError::WrongBlock {
                certified: self.block,
                header: *block,
            });
        }
        let mut signers = BTreeSet::new();
        for vote in self.votes.iter() {
            if vote.signer as usize >= set.keys.len() {
                return Err(FinalityError::UnknownSigner {
                    signer: vote.signer,
                    set_size: set.keys.len(),
                });
            }
            if !signers.insert(vote.signer) {
                return Err(FinalityError::RepeatedSigner {
                    signer: vote.signer,
                });
            }
        }
        if signers.len() < set.quorum() {
            return Err(FinalityError::TooFewSigners {
                signers: signers.len(),
                quorum: set.quorum(),
            });
        }
        let message = vote_message(chain_id, self.epoch, self.view, self.parent_view, block);
        let mut batch = BatchVerifier::new();
        for vote in self.votes.iter() {
            batch.add(&set.keys[vote.signer as usize], &message, &vote.signature);
        }
        if batch.verify().is_ok() {
            return Ok(());
        }
        // Name the first bad signature.
        let bad = self
            .votes
            .iter()
            .find(|v| {
                set.keys[v.signer as usize]
                    .verify_raw(&message, &v.signature)
                    .is_err()
            })
            .map_or(0, |v| v.signer);
        Err(FinalityError::BadSignature { signer: bad })
    }
}

/// A block's finality: the headers from the block up to a certified one, and that
/// certificate.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FinalityProof {
    /// The certificate of the last header.
    pub certificate: FinalityCertificate,
    /// The proven block's header first, then each child up to the certified block.
    pub headers: BoundedVec<Header, MAX_PROOF_HEADERS>,
}

impl Canonical for FinalityProof {
    const NAME: &'static str = "FinalityProof";
    const MAX_ENCODED_LEN: usize =
        FinalityCertificate::MAX_ENCODED_LEN + 4 + Header::MAX_ENCODED_LEN * MAX_PROOF_HEADERS;
}

impl FinalityProof {
    /// The proven block's header.
    pub fn header(&self) -> Option<&Header> {
        self.headers.first()
    }

    /// The certified block's header.
    pub fn certified(&self) -> Option<&Header> {
        self.headers.last()
    }

    /// Checks the proof against `set` on chain `chain_id`: the headers are consecutive
    /// blocks of this chain, each the parent of the next, and the last one is certified.
    /// Returns the proven header.
    pub fn verify(&self, chain_id: ChainId, set: &ValidatorSet) -> Result<&Header, FinalityError> {
        let (Some(first), Some(last)) = (self.header(), self.certified()) else {
            return Err(FinalityError::NoHeaders);
        };
        for header in self.headers.iter() {
            if header.chain_id != chain_id {
                return Err(FinalityError::WrongChain {
                    expected: chain_id,
                    got: header.chain_id,
                });
            }
        }
        for pair in self.headers.windows(2) {
            if pair[1].height.0 != pair[0].height.0 + 1 || pair[1].parent != pair[0].id() {
                return Err(FinalityError::BrokenChain {
                    height: pair[1].height,
                });
            }
        }
        self.certificate.verify(chain_id, set, &last.id())?;
        Ok(first)
    }
}

/// Why a certificate, proof or set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalityError {
    /// Fewer distinct signers than the set's quorum.
    #[error("{signers} signers, a quorum is {quorum}")]
    TooFewSigners {
        /// Distinct signers.
        signers: usize,
        /// Signers needed.
        quorum: usize,
    },
    /// A signer index outside the set.
    #[error("signer {signer} is not in a set of {set_size}")]
    UnknownSigner {
        /// The index.
        signer: u32,
        /// The set's size.
        set_size: usize,
    },
    /// A signer counted twice.
    #[error("signer {signer} appears twice")]
    RepeatedSigner {
        /// The index.
        signer: u32,
    },
    /// A signature that does not verify over this block, chain and epoch.
    #[error("the signature of signer {signer} does not verify")]
    BadSignature {
        /// The first failing signer.
        signer: u32,
    },
    /// The certificate is for another block than the header.
    #[error("the certificate is for block {certified}, the header is {header}")]
    WrongBlock {
        /// The block the certificate names.
        certified: Hash,
        /// The header's id.
        header: Hash,
    },
    /// The certificate names another epoch than the set checking it.
    #[error("certificate of epoch {certificate} checked against the set of epoch {set}")]
    WrongEpoch {
        /// The certificate's epoch.
        certificate: u64,
        /// The set's epoch.
        set: u64,
    },
    /// A header of another chain.
    #[error("a header of chain {}, expected {}", got.0, expected.0)]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The header's chain.
        got: ChainId,
    },
    /// Headers that do not link, each the parent of the next.
    #[error("the header at height {height} is not the child of the one before")]
    BrokenChain {
        /// Where the link breaks.
        height: Height,
    },
    /// A proof without headers.
    #[error("a finality proof without headers")]
    NoHeaders,
    /// A malformed validator set.
    #[error("bad validator set: {detail}")]
    BadSet {
        /// What is wrong.
        detail: String,
    },
}
