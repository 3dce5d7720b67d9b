//! Checking evidence of misbehaviour without the engine: what a slashing module needs to
//! turn the bytes of a `MisbehaviourDetected` into a penalty on any validator's machine.
//!
//! Evidence is one of simplex's three proofs of equivocation, in its own encoding: two
//! notarize votes, two finalize votes, or a nullify and a finalize vote, by one signer for one
//! view. It is valid when both signatures check against the validator set it was signed in.

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_consensus::simplex::scheme::ed25519::Scheme;
use commonware_consensus::simplex::types::{
    Attributable, ConflictingFinalize, ConflictingNotarize, NullifyFinalize,
};
use commonware_consensus::{Epochable as _, Viewable as _};
use commonware_cryptography::certificate::Scheme as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use lamina_interop::crypto::PublicKey;
use lamina_interop::{ChainId, Hash};
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

use super::app::Digest;
use super::{key_of, namespace, SimplexError};

/// Largest evidence accepted, in bytes (two votes and their framing).
pub const MAX_EVIDENCE_LEN: usize = 1024;

/// What a piece of evidence proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offence {
    /// The validator that signed both messages.
    pub offender: PublicKey,
    /// The epoch in which it did.
    pub epoch: u64,
    /// The view in which it did.
    pub view: u64,
    /// The evidence's canonical digest: the same offence proven twice has the same one.
    pub id: Hash,
}

/// Why evidence proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Longer than [`MAX_EVIDENCE_LEN`].
    #[error("evidence of {0} bytes is too long")]
    TooLong(usize),
    /// Not one of the three proofs of equivocation.
    #[error("evidence does not decode as a proof of equivocation")]
    Malformed,
    /// The evidence was signed in an epoch whose set is not known (too old).
    #[error("no validator set known for epoch {0}")]
    UnknownEpoch(u64),
    /// The signer index is not in the validator set.
    #[error("the signer is not in the validator set")]
    UnknownSigner,
    /// A signature does not check.
    #[error("a signature of the evidence does not verify")]
    BadSignature,
    /// The validator set holds a key that is not an Ed25519 key.
    #[error(transparent)]
    Set(#[from] SimplexError),
}

/// Checks `evidence` on chain `chain_id` against the validator set of the epoch it was
/// signed in, as `set_of` gives it (`None`: a set no longer known).
pub fn verify_evidence(
    chain_id: ChainId,
    set_of: impl Fn(u64) -> Option<Vec<PublicKey>>,
    evidence: &[u8],
) -> Result<Offence, EvidenceError> {
    if evidence.len() > MAX_EVIDENCE_LEN {
        return Err(EvidenceError::TooLong(evidence.len()));
    }
    let scheme_of = |epoch: u64| -> Result<Scheme, EvidenceError> {
        let validators = set_of(epoch).ok_or(EvidenceError::UnknownEpoch(epoch))?;
        let keys = validators
            .iter()
            .map(key_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scheme::verifier(
            &namespace(chain_id),
            Set::from_iter_dedup(keys),
        ))
    };
    // Batch verification draws random weights; seeding them from the evidence keeps every
    // validator's verdict the same (and a forgery fails whatever the weights).
    let mut rng = ChaCha20Rng::from_seed(Hash::of(evidence).0);
    // The three proofs share no trait for `verify`; each is checked the same way.
    macro_rules! check {
        ($proof:expr) => {{
            let proof = $proof;
            let epoch = proof.epoch().get();
            let scheme = scheme_of(epoch)?;
            let valid = proof.verify(&mut rng, &scheme, &Sequential);
            (
                scheme,
                epoch,
                proof.signer(),
                proof.view(),
                valid,
                proof.encode(),
            )
        }};
    }
    let (scheme, epoch, signer, view, valid, canonical) =
        if let Ok(proof) = ConflictingNotarize::<Scheme, Digest>::decode(evidence.to_vec()) {
            check!(proof)
        } else if let Ok(proof) = ConflictingFinalize::<Scheme, Digest>::decode(evidence.to_vec()) {
            check!(proof)
        } else if let Ok(proof) = NullifyFinalize::<Scheme, Digest>::decode(evidence.to_vec()) {
            check!(proof)
        } else {
            return Err(EvidenceError::Malformed);
        };
    let offender = scheme
        .participants()
        .get(signer.get() as usize)
        .ok_or(EvidenceError::UnknownSigner)?;
    if !valid {
        return Err(EvidenceError::BadSignature);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(offender.as_ref());
    Ok(Offence {
        offender: PublicKey(key),
        epoch,
        view: view.get(),
        id: Hash::of(&canonical),
    })
}
