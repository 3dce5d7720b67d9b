//! Lamina's data layer: storage backends, the block store, and authenticated state with proofs.
//!
//! The foundation is the [`kv`] seam: ordered keys in named columns, point reads, bounded
//! range scans, and atomic write batches with an explicit durability level. Backends:
//! [`kv::MemoryStore`] for tests, [`kv::FjallStore`] (the embedded default, chosen by the
//! benchmark in `docs/adr/0007-default-storage-backend.md`), [`kv::RedbStore`], and
//! `kv::RocksStore` behind the `rocksdb` feature.
//!
//! On it sit the [`blocks`] store (finalized blocks, receipts, transaction index) and, on
//! commonware-runtime storage, the [`state`]: the chain's key-value state under one root, with
//! proofs (`docs/adr/0008-authenticated-state-qmdb.md`).

pub mod blocks;
pub mod commit;
pub mod flat;
pub mod hot;
pub mod kv;
pub mod service;
pub mod set_changes;
pub mod snapshot;
pub mod state;

pub use blocks::{BlockStore, Pruning, StagedBlock, TxLocation, TX_INDEX_RUN, TX_INDEX_RUN_BLOCKS};
pub use commit::{ChainStore, Persister, Recovery};
pub use flat::{FlatLayout, FlatStore};
pub use hot::{HotState, DEFAULT_HOT_ENTRIES};
pub use kv::{Column, Durability, KeyRange, KvStore, WriteBatch};
pub use service::CommitService;
pub use snapshot::{FlatState, SnapshotService};

use lamina_interop::Height;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine reported an error.
    #[error("{backend}: {detail}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The engine's message.
        detail: String,
    },
    /// A column the store was not opened with.
    #[error("unknown column {0}")]
    UnknownColumn(&'static str),
    /// A scan limit outside `1..=max`.
    #[error("scan limit {limit} is outside 1..={max}")]
    InvalidLimit {
        /// The limit asked for.
        limit: usize,
        /// The largest allowed.
        max: usize,
    },
    /// Stored bytes do not decode: the store was damaged or written by something else.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Why it does not decode.
        detail: String,
    },
    /// Rows to ingest that are not in strictly rising key order.
    #[error("rows to ingest into {column} do not rise strictly at row {row}")]
    Unsorted {
        /// The column.
        column: &'static str,
        /// The first row whose key is not above the one before it.
        row: usize,
    },
    /// A block arrived out of height order.
    #[error("expected block {expected}, got {got}")]
    OutOfOrder {
        /// The next height the store accepts.
        expected: Height,
        /// The height given.
        got: Height,
    },
    /// Parts of a commit do not fit together.
    #[error("{what} do not match: {detail}")]
    Mismatch {
        /// What does not match.
        what: &'static str,
        /// How.
        detail: String,
    },
    /// The stores disagree in a way the redo log cannot repair.
    #[error("inconsistent store: {detail}")]
    Inconsistent {
        /// What disagrees.
        detail: String,
    },
    /// An earlier failure consumed the state's database handle; reopen it to recover the last
    /// durable commit.
    #[error("authenticated state unavailable after an earlier failure; reopen it")]
    StateUnavailable,
    /// A lookup by transaction id on a store that keeps no transaction index.
    #[error("this node keeps no transaction index (tx_index = false)")]
    NoTxIndex,
    /// A file system operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
