//! A light client of a Lamina chain: a small state machine, with no I/O, that starts from a
//! trusted checkpoint and afterwards believes only what a quorum of the chain's validators
//! signed.
//!
//! ```text
//! new(params, checkpoint, now)        the checkpoint's set signs the blocks after it;
//!                                     refused once older than the trusting period
//! update(FinalityProof, now)          headers verified against the set of their epoch;
//!                                     two final blocks at one height freeze the client
//! prove_next_set(height, StateProof)  epoch e+1's set, read from a verified header of
//!                                     epoch e by a state proof of NEXT_SET_KEY
//! verify_state(state_height, key, p)  a value, or its absence, against the state root a
//!                                     verified header names
//! ```
//!
//! Epochs follow the chain spec: epoch `e` orders heights `e*L+1 ..= (e+1)*L` for `L` blocks
//! per epoch, or epoch 0 forever on a chain without a schedule. The set of epoch `e+1` is
//! decided inside epoch `e` (staking writes it under [`NEXT_SET_KEY`] some blocks before the
//! boundary), so a header that epoch `e`'s set signed commits to it through its state root:
//! the client never has to trust a set that signs its own appointment.
//!
//! Proof-of-stake trust is bounded in time, as in Tendermint's light client: validators who
//! signed long ago may have withdrawn their bond and no longer risk anything by signing a
//! fork. The client refuses a checkpoint, and stops following, once its latest verified
//! header is older than the trusting period (a fraction of the unbonding period).

use std::collections::BTreeMap;

use crate::block::Header;
use crate::codec::Canonical;
use crate::finality::{FinalityCertificate, FinalityError, FinalityProof, ValidatorSet};
use crate::hash::Hash;
use crate::state_proof::{self, StateProof};
use crate::types::{ChainId, Height, Timestamp};

/// The state key under which a chain keeps the validator set of the next epoch, as a
/// [`ValidatorSet`].
pub const NEXT_SET_KEY: &[u8] = b"staking/next_set";

/// Most verified headers, certificates and state roots the client keeps (the newest).
pub const KEPT_HEADERS: usize = 4096;
/// Most epochs whose sets the client keeps (the newest).
pub const KEPT_SETS: usize = 16;

/// What the client knows of the chain before it sees a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LightParams {
    /// The chain followed.
    pub chain_id: ChainId,
    /// Blocks per epoch; `None` on a chain whose set never changes.
    pub epoch_blocks: Option<u64>,
    /// How long a verified header stays a basis of trust, in milliseconds.
    pub trusting_period_ms: u64,
}

impl LightParams {
    /// The epoch that orders `height`.
    pub fn epoch_of(&self, height: Height) -> u64 {
        match self.epoch_blocks {
            Some(blocks) if blocks > 0 && height.0 > 0 => (height.0 - 1) / blocks,
            _ => 0,
        }
    }
}

/// A block the client is told to trust, and the set that signs the blocks after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The trusted block's height (0 for genesis).
    pub height: Height,
    /// The trusted block's id (`Hash::ZERO` for genesis).
    pub block: Hash,
    /// The trusted block's time (genesis time for genesis).
    pub timestamp: Timestamp,
    /// The set of the epoch of `height + 1`.
    pub set: ValidatorSet,
}

/// Two final blocks at one height: a quorum signed both, so at least a third of the set
/// misbehaved. Each side is a proof that verifies against the set of its epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misbehaviour {
    /// The height with two final blocks.
    pub height: Height,
    /// The proof the client had accepted.
    pub first: FinalityProof,
    /// The proof that conflicts with it.
    pub second: FinalityProof,
}

/// What an accepted proof changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The proven height.
    pub height: Height,
    /// The highest height the client is sure of now.
    pub latest: Height,
}

/// Why the client refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LightError {
    /// The certificate, a header or a set does not hold.
    #[error(transparent)]
    Finality(#[from] FinalityError),
    /// A checkpoint older than the trusting period.
    #[error("the checkpoint is {age_ms} ms old, past the trusting period of {period_ms} ms")]
    CheckpointExpired {
        /// Its age.
        age_ms: u64,
        /// The trusting period.
        period_ms: u64,
    },
    /// The latest verified header is older than the trusting period: start again from a
    /// fresh checkpoint.
    #[error(
        "the latest verified header is {age_ms} ms old, past the trusting period of {period_ms} ms"
    )]
    Expired {
        /// Its age.
        age_ms: u64,
        /// The trusting period.
        period_ms: u64,
    },
    /// A certificate of another epoch than its block's height belongs to.
    #[error(
        "a certificate of epoch {certificate} for height {height}, which epoch {expected} orders"
    )]
    EpochMismatch {
        /// The certified height.
        height: Height,
        /// The certificate's epoch.
        certificate: u64,
        /// The epoch of the height.
        expected: u64,
    },
    /// A header of an epoch whose set has not been proven to the client.
    #[error(
        "the set of epoch {epoch} is not proven (the client knows sets up to epoch {current})"
    )]
    SetChangeUnproven {
        /// The header's epoch.
        epoch: u64,
        /// The newest epoch whose set the client knows.
        current: u64,
    },
    /// A header of an epoch the client no longer holds the set of.
    #[error("the set of epoch {epoch} is no longer kept")]
    SetForgotten {
        /// The epoch.
        epoch: u64,
    },
    /// The proof of a next set does not name the next epoch.
    #[error("the proven set is for epoch {got}, the next epoch is {expected}")]
    StaleSet {
        /// The next epoch.
        expected: u64,
        /// What the state holds.
        got: u64,
    },
    /// No verified header at this height.
    #[error("no verified header at height {height}")]
    HeaderUnknown {
        /// The height.
        height: Height,
    },
    /// No verified header names the state at this height.
    #[error("no verified header names the state root of height {height}")]
    RootUnknown {
        /// The state's height.
        height: Height,
    },
    /// A state proof that does not verify against the certified root.
    #[error("the state proof does not verify against the certified root of height {height}")]
    BadStateProof {
        /// The state's height.
        height: Height,
    },
    /// A state value that does not decode as what it should hold.
    #[error("the proven value does not decode: {detail}")]
    BadValue {
        /// Why.
        detail: String,
    },
    /// A proof conflicts with what the client verified: it is frozen now.
    #[error("two final blocks at height {}: the client is frozen", .0.height)]
    Misbehaviour(Box<Misbehaviour>),
    /// The client saw misbehaviour and accepts nothing more.
    #[error("the client is frozen by misbehaviour at height {height}")]
    Frozen {
        /// Where.
        height: Height,
    },
}

/// The light client; see the module docs.
#[derive(Clone, Debug)]
pub struct LightClient {
    params: LightParams,
    checkpoint: Checkpoint,
    /// The newest verified block: height, id, time.
    latest: (Height, Hash, Timestamp),
    /// Sets by epoch, proven or from the checkpoint.
    sets: BTreeMap<u64, ValidatorSet>,
    headers: BTreeMap<Height, Header>,
    certificates: BTreeMap<Height, FinalityCertificate>,
    /// State roots named by verified headers, by the state's height.
    roots: BTreeMap<Height, Hash>,
    frozen: Option<Box<Misbehaviour>>,
}

impl LightClient {
    /// A client trusting `checkpoint`; refused when the checkpoint is older than the
    /// trusting period at `now`, or its set is malformed or not of the epoch after it.
    pub fn new(
        params: LightParams,
        checkpoint: Checkpoint,
        now: Timestamp,
    ) -> Result<LightClient, LightError> {
        let age_ms = now.0.saturating_sub(checkpoint.timestamp.0);
        if age_ms > params.trusting_period_ms {
            return Err(LightError::CheckpointExpired {
                age_ms,
                period_ms: params.trusting_period_ms,
            });
        }
        if !checkpoint.set.is_well_formed() {
            return Err(FinalityError::BadSet {
                detail: "keys not ascending and unique".into(),
            }
            .into());
        }
        let expected = params.epoch_of(Height(checkpoint.height.0 + 1));
        if checkpoint.set.epoch != expected {
            return Err(LightError::StaleSet {
                expected,
                got: checkpoint.set.epoch,
            });
        }
        let mut sets = BTreeMap::new();
        sets.insert(checkpoint.set.epoch, checkpoint.set.clone());
        Ok(LightClient {
            latest: (checkpoint.height, checkpoint.block, checkpoint.timestamp),
            params,
            checkpoint,
            sets,
            headers: BTreeMap::new(),
            certificates: BTreeMap::new(),
            roots: BTreeMap::new(),
            frozen: None,
        })
    }

    /// A client that continues one whose state was stored between uses (an on-chain client
    /// keeps its latest verified block and its proven sets in state): `latest` as the
    /// checkpoint, and `later`, sets of the epochs after the checkpoint's that an earlier
    /// [`LightClient::prove_next_set`] proved. Each must be well formed and of the epoch after
    /// the one before it.
    pub fn resume(
        params: LightParams,
        latest: Checkpoint,
        later: impl IntoIterator<Item = ValidatorSet>,
        now: Timestamp,
    ) -> Result<LightClient, LightError> {
        let mut client = LightClient::new(params, latest, now)?;
        for set in later {
            check_set(&set, client.known_epoch() + 1)?;
            client.sets.insert(set.epoch, set);
        }
        Ok(client)
    }

    /// The sets the client knows, oldest epoch first.
    pub fn sets(&self) -> impl Iterator<Item = &ValidatorSet> {
        self.sets.values()
    }

    /// The chain's parameters.
    pub fn params(&self) -> &LightParams {
        &self.params
    }

    /// The highest height the client is sure of, and that block's id.
    pub fn latest(&self) -> (Height, Hash) {
        (self.latest.0, self.latest.1)
    }

    /// The verified header at `height`, if kept.
    pub fn header(&self, height: Height) -> Option<&Header> {
        self.headers.get(&height)
    }

    /// The set of `epoch`, if proven and kept.
    pub fn set(&self, epoch: u64) -> Option<&ValidatorSet> {
        self.sets.get(&epoch)
    }

    /// The epoch of the newest verified block's successor: the one the client follows.
    pub fn epoch(&self) -> u64 {
        self.params.epoch_of(Height(self.latest.0 .0 + 1))
    }

    /// The misbehaviour that froze the client, if any.
    pub fn frozen(&self) -> Option<&Misbehaviour> {
        self.frozen.as_deref()
    }

    /// The state root of `state_height`, when a verified header names it.
    pub fn root(&self, state_height: Height) -> Option<Hash> {
        self.roots.get(&state_height).copied()
    }

    /// The newest state height whose root a verified header names, with the root.
    pub fn latest_root(&self) -> Option<(Height, Hash)> {
        self.roots.last_key_value().map(|(h, r)| (*h, *r))
    }

    /// Checks `proof` at `now` and takes in its headers. See the module docs.
    pub fn update(
        &mut self,
        proof: &FinalityProof,
        now: Timestamp,
    ) -> Result<Verified, LightError> {
        self.usable(now)?;
        let certified = proof.certified().ok_or(FinalityError::NoHeaders)?;
        let epoch = self.params.epoch_of(certified.height);
        if proof.certificate.epoch != epoch {
            return Err(LightError::EpochMismatch {
                height: certified.height,
                certificate: proof.certificate.epoch,
                expected: epoch,
            });
        }
        let set = self.set_of(epoch)?;
        let header = proof.verify(self.params.chain_id, set)?.clone();
        self.check_conflicts(proof)?;
        for h in proof.headers.iter() {
            self.headers.insert(h.height, h.clone());
            self.roots.insert(h.state_height, h.state_root);
        }
        let top = proof.certified().map(|h| (h.height, h.id(), h.timestamp));
        self.certificates
            .insert(certified.height, proof.certificate.clone());
        if let Some(top) = top.filter(|top| top.0 > self.latest.0) {
            self.latest = top;
        }
        self.trim();
        Ok(Verified {
            height: header.height,
            latest: self.latest.0,
        })
    }

    /// Takes in the set of the epoch after `height`'s, proven by `proof` of [`NEXT_SET_KEY`]
    /// against the state root that the verified header at `height` names.
    pub fn prove_next_set(
        &mut self,
        height: Height,
        proof: &StateProof,
        now: Timestamp,
    ) -> Result<&ValidatorSet, LightError> {
        self.usable(now)?;
        let header = self
            .headers
            .get(&height)
            .ok_or(LightError::HeaderUnknown { height })?;
        let expected = self.params.epoch_of(height) + 1;
        let value = state_proof::verify(&header.state_root, NEXT_SET_KEY, proof)
            .map_err(|_| LightError::BadStateProof {
                height: header.state_height,
            })?
            .ok_or(LightError::SetChangeUnproven {
                epoch: expected,
                current: self.known_epoch(),
            })?;
        let set = ValidatorSet::decode(&value).map_err(|e| LightError::BadValue {
            detail: e.to_string(),
        })?;
        check_set(&set, expected)?;
        self.sets.insert(expected, set);
        while self.sets.len() > KEPT_SETS {
            self.sets.pop_first();
        }
        Ok(&self.sets[&expected])
    }

    /// The value of `key` (or `None`: provably absent) in the state of `state_height`,
    /// checked by `proof` against the root a verified header names for it.
    pub fn verify_state(
        &self,
        state_height: Height,
        key: &[u8],
        proof: &StateProof,
    ) -> Result<Option<Vec<u8>>, LightError> {
        if let Some(m) = &self.frozen {
            return Err(LightError::Frozen { height: m.height });
        }
        let root = self
            .roots
            .get(&state_height)
            .ok_or(LightError::RootUnknown {
                height: state_height,
            })?;
        state_proof::verify(root, key, proof).map_err(|_| LightError::BadStateProof {
            height: state_height,
        })
    }

    /// Refuses work once frozen or past the trusting period.
    fn usable(&self, now: Timestamp) -> Result<(), LightError> {
        if let Some(m) = &self.frozen {
            return Err(LightError::Frozen { height: m.height });
        }
        let age_ms = now.0.saturating_sub(self.latest.2 .0);
        if age_ms > self.params.trusting_period_ms {
            return Err(LightError::Expired {
                age_ms,
                period_ms: self.params.trusting_period_ms,
            });
        }
        Ok(())
    }

    /// The newest epoch whose set the client knows.
    fn known_epoch(&self) -> u64 {
        self.sets.keys().next_back().copied().unwrap_or_default()
    }

    /// The set that signs blocks of `epoch`.
    fn set_of(&self, epoch: u64) -> Result<&ValidatorSet, LightError> {
        if let Some(set) = self.sets.get(&epoch) {
            return Ok(set);
        }
        let known = self.known_epoch();
        if epoch > known {
            Err(LightError::SetChangeUnproven {
                epoch,
                current: known,
            })
        } else {
            Err(LightError::SetForgotten { epoch })
        }
    }

    /// Freezes the client when a header of `proof` differs from a verified one (or the
    /// checkpoint) at its height.
    fn check_conflicts(&mut self, proof: &FinalityProof) -> Result<(), LightError> {
        for header in proof.headers.iter() {
            let height = header.height;
            let conflict = match self.headers.get(&height) {
                Some(known) => known.id() != header.id(),
                None => height == self.checkpoint.height && header.id() != self.checkpoint.block,
            };
            if !conflict {
                continue;
            }
            let first = self.proof_of(height).unwrap_or_else(|| proof.clone());
            let evidence = Box::new(Misbehaviour {
                height,
                first,
                second: proof.clone(),
            });
            self.frozen = Some(evidence.clone());
            return Err(LightError::Misbehaviour(evidence));
        }
        Ok(())
    }

    /// The finality proof of a verified height, rebuilt from the kept headers and the
    /// nearest certificate above it.
    pub fn proof_of(&self, height: Height) -> Option<FinalityProof> {
        let (top, certificate) = self.certificates.range(height..).next()?;
        let headers: Vec<Header> = (height.0..=top.0)
            .map(|h| self.headers.get(&Height(h)).cloned())
            .collect::<Option<_>>()?;
        Some(FinalityProof {
            certificate: certificate.clone(),
            headers: crate::codec::BoundedVec::try_from_vec(headers).ok()?,
        })
    }

    /// Keeps the newest [`KEPT_HEADERS`] headers, certificates and roots.
    fn trim(&mut self) {
        while self.headers.len() > KEPT_HEADERS {
            self.headers.pop_first();
        }
        while self.certificates.len() > KEPT_HEADERS {
            self.certificates.pop_first();
        }
        while self.roots.len() > KEPT_HEADERS {
            self.roots.pop_first();
        }
    }
}

/// A set the client may take in as the one of epoch `expected`: that epoch, its keys
/// ascending and unique.
fn check_set(set: &ValidatorSet, expected: u64) -> Result<(), LightError> {
    if set.epoch != expected {
        return Err(LightError::StaleSet {
            expected,
            got: set.epoch,
        });
    }
    if !set.is_well_formed() {
        return Err(FinalityError::BadSet {
            detail: "keys not ascending and unique".into(),
        }
        .into());
    }
    Ok(())
}
