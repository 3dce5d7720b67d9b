//! Authenticated state: the chain's key-value state under one root, with membership and
//! non-membership proofs. [`AuthenticatedState`] is the seam; [`QmdbState`], on QMDB
//! (`commonware-storage`, `current::ordered`; see `docs/adr/0008-authenticated-state-qmdb.md`),
//! is the backend.
//!
//! ```text
//!   commit(height, changes) --> batch: SHA-256(key) -> value | delete
//!                               merkleize (metadata = height)  --> root
//!                               apply + commit (durable)
//!   get(key)                --> current value
//!   prove(key)              --> Member { value, proof } | NonMember { proof }
//!
//!   lamina_interop::state_proof::verify(root, key, proof) --> Some(value) | None | error
//! ```
//!
//! State keys have any length (up to the module API's limit); QMDB keys are fixed, so a state
//! key is stored under its SHA-256. Proofs speak of that hash, and `verify` hashes the key it is
//! given. The height a commit is for travels in the commit's metadata, so after a restart the
//! state knows which block it reflects.
//!
//! The database handle is consumed by every mutation and handed back on success. If a mutation
//! fails, what was not yet durable is lost with the handle and the state refuses further use
//! with [`Error::StateUnavailable`]; reopening recovers the last durable commit.

use std::future::Future;
use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};

use commonware_cryptography::Sha256;
use commonware_parallel::Rayon;
use commonware_runtime::buffer::paged::{page_size, CacheRef};
use commonware_runtime::{Spawner, Strategizer, BLOB_PAGE_SIZE};
use commonware_storage::journal::contiguous::variable::Config as JournalConfig;
use commonware_storage::merkle::full::Config as MerkleConfig;
use commonware_storage::merkle::mmr::Family as Mmr;
use commonware_storage::merkle::Family;
use commonware_storage::qmdb::current::ordered::variable::Db as OrderedVariable;
use commonware_storage::qmdb::current::VariableConfig;
use commonware_storage::qmdb::floor::{Decision, Entry, Limits, Policy};
use commonware_storage::translator::EightCap;
use lamina_interop::block::StateChange;
use lamina_interop::module::MAX_VALUE_LEN;
use lamina_interop::state_proof::{state_key as hash_key, StateDigest, STATE_CHUNK};
pub use lamina_interop::state_proof::{verify, InvalidProof, StateProof};
use lamina_interop::{Hash, Height};

use crate::{Error, Result};

/// The chain's authenticated key-value state: one root over every key, committed a block at a
/// time, with proofs a light client checks through [`verify`] without this crate.
///
/// A backend maps a state key to whatever it stores internally; proofs are [`StateProof`]s,
/// the chain's wire format for them, so light clients and RPC need not know the backend.
pub trait AuthenticatedState: Send + Sync {
    /// The height of the last commit (0 before any).
    fn height(&self) -> Height;

    /// The root after the last commit.
    fn root(&self) -> Hash;

    /// Whether no commit was ever made (not even genesis, which is height 0).
    fn is_empty(&self) -> bool;

    /// Applies `changes` as the state after block `height`, makes it durable and returns the
    /// new root. Heights go up by one; the first commit may be at any height, 0 being the
    /// genesis state. A refused commit ([`Error::OutOfOrder`], an oversized value)
    /// changes nothing.
    fn commit(
        &mut self,
        height: Height,
        changes: &[StateChange],
    ) -> impl Future<Output = Result<Hash>> + Send;

    /// The current value of `key`.
    fn get(&self, key: &[u8]) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// The current value of `key`, or its absence, with a proof against [`Self::root`].
    fn prove(&self, key: &[u8]) -> impl Future<Output = Result<StateProof>> + Send;
}

/// Superseded updates per active update that a commit moves from QMDB's inactivity floor to
/// the tip of its log; see [`Gradual`].
const SUPERSEDED_PER_MOVE: usize = 4;

/// How a commit advances QMDB's inactivity floor, below which the log is pruned. Every update
/// a block supersedes leaves an inactive operation in the log; the floor walks past inactive
/// operations freely and moves each active one it meets to the tip, which costs an operation
/// appended, hashed and written like an update.
///
/// commonware's `Proportional` moves one active update per superseded one: an update of an
/// existing key then costs two operations, and the log stays within `3n + 1` operations of the
/// floor for `n` keys. This moves one per [`SUPERSEDED_PER_MOVE`] (and one per commit): an
/// update costs 1.25 operations, and the floor meets fewer active updates because the
/// operations it reaches are older. The log is longer in exchange. Measured
/// (`the_log_stays_proportional_to_the_live_keys`): about `2n` operations for uniformly random
/// updates (`1.4n` with `Proportional`), and `(SUPERSEDED_PER_MOVE + 1) n` at worst, when a
/// block writes a few hot keys again and again while every other key waits at the floor
/// (`2n` with `Proportional`). ADR 0020.
///
/// The policy decides which operations a commit appends, so it decides the root: every
/// validator of a chain must use the same.
struct Gradual;

impl<F: Family, K, V> Policy<F, K, V> for Gradual {
    fn evicts(&self) -> bool {
        false
    }

    fn limits(&self, made_inactive: usize) -> Limits {
        Limits {
            entries: made_inactive / SUPERSEDED_PER_MOVE + 1,
            skips: u64::MAX,
        }
    }

    fn decide<'a>(&mut self, entry: Entry<'a, F, K, V>) -> Decision<'a, V> {
        entry.keep()
    }
}

type Db<E> = OrderedVariable<Mmr, E, StateDigest, Vec<u8>, Sha256, EightCap, STATE_CHUNK, Rayon>;

fn to_hash(digest: &StateDigest) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Hash(out)
}

/// Where and how the state keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// Prefix of the storage partitions (one store may hold several states).
    pub partition: String,
    /// Page cache, in 4 KiB pages. Size it to the operation log (about 256 MiB per million
    /// keys) for full speed; see ADR 0008.
    pub cache_pages: usize,
    /// Threads used to merkleize.
    pub parallelism: usize,
    /// Prune the operation log below its inactivity floor after every this many commits,
    /// so the log stays proportional to the live state rather than to history.
    pub prune_every: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            partition: "state".into(),
            cache_pages: 65_536,
            parallelism: 2,
            prune_every: 64,
        }
    }
}

fn nz(n: usize, what: &'static str) -> Result<NonZeroUsize> {
    NonZeroUsize::new(n).ok_or(Error::Mismatch {
        what,
        detail: "must be at least 1".into(),
    })
}

/// The authenticated state on QMDB.
pub struct QmdbState<E: commonware_storage::Context + Spawner + Strategizer> {
    db: Option<Db<E>>,
    height: Height,
    root: Hash,
    empty: bool,
    prune_every: u64,
}

fn qmdb_error(err: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: "qmdb",
        detail: err.to_string(),
    }
}

impl<E: commonware_storage::Context + Spawner + Strategizer> QmdbState<E> {
    /// Opens the state in `context`'s storage, recovering the last durable commit.
    pub async fn open(context: E, config: &StateConfig) -> Result<Self> {
        let page: NonZeroU16 = page_size(BLOB_PAGE_SIZE);
        let page_cache = CacheRef::new(page, nz(config.cache_pages, "cache_pages")?);
        let items = NonZeroU64::new(1 << 20).unwrap_or(NonZeroU64::MIN);
        let buffer = nz(2 << 20, "buffer")?;
        let qmdb_config = VariableConfig {
            merkle_config: MerkleConfig {
                journal_partition: format!("{}-merkle-journal", config.partition),
                metadata_partition: format!("{}-merkle-metadata", config.partition),
                items_per_blob: items,
                write_buffer: buffer,
                replay_buffer: buffer,
                strategy: context.strategy(nz(config.parallelism, "parallelism")?),
                page_cache: page_cache.clone(),
            },
            journal_config: JournalConfig {
                partition: format!("{}-log", config.partition),
                items_per_section: items,
                compression: None,
                // Key, then a value of at most MAX_VALUE_LEN bytes.
                codec_config: ((), ((0..=MAX_VALUE_LEN).into(), ())),
                page_cache,
                write_buffer: buffer,
                replay_buffer: buffer,
            },
            grafted_metadata_partition: format!("{}-grafted", config.partition),
            translator: EightCap,
            init_cache: Some(nz(1 << 18, "init_cache")?),
            init_buffer: buffer,
            init_concurrency: (),
        };
        let db = Db::init(context, qmdb_config, None)
            .await
            .map_err(qmdb_error)?;
        let metadata = db.get_metadata().await.map_err(qmdb_error)?;
        let empty = metadata.is_none();
        let height = match metadata {
            Some(bytes) => Height(u64::from_be_bytes(bytes.as_slice().try_into().map_err(
                |_| Error::Corrupt {
                    what: "state height",
                    detail: format!("{} bytes", bytes.len()),
                },
            )?)),
            None => Height::GENESIS,
        };
        let root = to_hash(&db.root());
        Ok(QmdbState {
            db: Some(db),
            height,
            root,
            empty,
            prune_every: config.prune_every.max(1),
        })
    }

    /// Operations of the log from its inactivity floor (rounded down to a bitmap chunk) to its
    /// tip: what it must keep. Pruning frees whole sections of the log below the floor.
    pub fn live_log_len(&self) -> Result<u64> {
        let db = self.db()?;
        Ok(*db.bounds().end - *db.sync_boundary())
    }

    fn db(&self) -> Result<&Db<E>> {
        self.db.as_ref().ok_or(Error::StateUnavailable)
    }
}

impl<E: commonware_storage::Context + Spawner + Strategizer> AuthenticatedState for QmdbState<E> {
    fn height(&self) -> Height {
        self.height
    }

    fn root(&self) -> Hash {
        self.root
    }

    fn is_empty(&self) -> bool {
        self.empty
    }

    async fn commit(&mut self, height: Height, changes: &[StateChange]) -> Result<Hash> {
        let expected = self.height.next().ok_or(Error::OutOfOrder {
            expected: self.height,
            got: height,
        })?;
        let first = self.empty || self.height == Height::GENESIS;
        if height != expected && !(first && (height > self.height || self.empty)) {
            return Err(Error::OutOfOrder {
                expected,
                got: height,
            });
        }
        if let Some(change) = changes
            .iter()
            .find(|c| c.value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_LEN))
        {
            return Err(Error::Mismatch {
                what: "state value",
                detail: format!(
                    "{} bytes exceed {MAX_VALUE_LEN}",
                    change.value.as_ref().map_or(0, Vec::len)
                ),
            });
        }
        let db = self.db.take().ok_or(Error::StateUnavailable)?;
        let mut batch = db.new_batch();
        for change in changes {
            batch = batch.write(hash_key(&change.key), change.value.clone());
        }
        let metadata = Some(height.0.to_be_bytes().to_vec());
        let merkleized = batch
            .merkleize(&db, metadata, &mut Gradual)
            .await
            .map_err(qmdb_error)?;
        let db = db.apply_batch(merkleized).await.map_err(qmdb_error)?;
        let mut db = db.commit().await.map_err(qmdb_error)?;
        if height.0.is_multiple_of(self.prune_every) {
            // Pruning changes no root: it drops operations no proof of current state needs.
            let boundary = db.sync_boundary();
            db = db.prune(boundary).await.map_err(qmdb_error)?;
        }
        self.root = to_hash(&db.root());
        self.height = height;
        self.empty = false;
        self.db = Some(db);
        Ok(self.root)
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db()?.get(&hash_key(key)).await.map_err(qmdb_error)
    }

    async fn prove(&self, key: &[u8]) -> Result<StateProof> {
        let db = self.db()?;
        let hashed = hash_key(key);
        match db.get(&hashed).await.map_err(qmdb_error)? {
            Some(value) => {
                let proof = db.key_value_proof(hashed).await.map_err(qmdb_error)?;
                Ok(StateProof::Member { value, proof })
            }
            None => {
                let proof = db.exclusion_proof(&hashed).await.map_err(qmdb_error)?;
                Ok(StateProof::NonMember { proof })
            }
        }
    }
}

#[cfg(test)]
mod tests;
