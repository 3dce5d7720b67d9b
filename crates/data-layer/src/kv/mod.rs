//! The key-value seam: what every storage backend provides.
//!
//! ```text
//!   block store, authenticated state
//!            |  get / scan / write(batch, durability) / sync
//!            v
//!   +------------------+------------------+-----------------+
//!   | MemoryStore      | FjallStore       | RedbStore       |  RocksStore
//!   | (tests)          | (LSM, default)   | (B-tree)        |  (feature `rocksdb`)
//!   +------------------+------------------+-----------------+
//! ```
//!
//! - Keys are ordered bytewise within a [`Column`]; columns are fixed when a store is opened.
//! - A [`WriteBatch`] is atomic across columns: after a crash, all of it or none of it is
//!   visible.
//! - [`Durability::Durable`] (the default) returns only once the batch survives power loss;
//!   [`Durability::Buffered`] returns once the batch is visible to reads, and it becomes durable
//!   with a later durable write or [`KvStore::sync`]. Buffered batches are still applied
//!   atomically and in order.
//! - Scans return at most `limit` entries (at most [`MAX_SCAN_LIMIT`]); callers page with
//!   [`KeyRange::after`].

mod fjall;
mod memory;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocksdb;

#[cfg(test)]
mod conformance;
#[cfg(test)]
pub(crate) mod hooked;

use std::ops::Bound;

pub use self::fjall::{FjallStore, DEFAULT_CACHE_BYTES as FJALL_DEFAULT_CACHE_BYTES};
pub use self::memory::MemoryStore;
pub use self::redb::RedbStore;
#[cfg(feature = "rocksdb")]
pub use self::rocksdb::RocksStore;

use crate::{Error, Result};

/// Most entries one scan may return.
pub const MAX_SCAN_LIMIT: usize = 1 << 20;

/// A named column (table, keyspace, column family) of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Column(pub &'static str);

impl Column {
    /// The column's name.
    pub fn name(&self) -> &'static str {
        self.0
    }
}

/// When a write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Once the write survives a crash or power loss (fsync).
    #[default]
    Durable,
    /// Once the write is visible to reads; durable after a later durable write or `sync`.
    Buffered,
}

/// One change of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set a key to a value.
    Put {
        /// The column.
        column: Column,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove a key (absent keys are fine).
    Delete {
        /// The column.
        column: Column,
        /// The key.
        key: Vec<u8>,
    },
}

/// Changes applied atomically, in order: a later change to the same key wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// An empty batch with room for `capacity` changes.
    pub fn with_capacity(capacity: usize) -> WriteBatch {
        WriteBatch {
            ops: Vec::with_capacity(capacity),
        }
    }

    /// Sets `key` in `column` to `value`.
    pub fn put(&mut self, column: Column, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put {
            column,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Removes `key` from `column`.
    pub fn delete(&mut self, column: Column, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete {
            column,
            key: key.into(),
        });
    }

    /// The changes, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no changes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A range of keys: a lower and an upper bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Keys from `start` (inclusive) to `end` (exclusive).
    pub fn between(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            start: Bound::Included(start.into()),
            end: Bound::Excluded(end.into()),
        }
    }

    /// Keys that start with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end: prefix_end(prefix),
        }
    }

    /// The same range, restarted just after `key`: the next page of a scan whose last entry
    /// was `key`.
    pub fn after(&self, key: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Excluded(key.to_vec()),
            end: self.end.clone(),
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    /// The bounds as borrowed slices, as range APIs take them.
    pub fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_slice(&self.start), as_slice(&self.end))
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`: the prefix with its last
/// byte below 0xff incremented and what follows dropped. Unbounded when there is none.
fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// An ordered key-value store with named columns and atomic batches.
///
/// Methods block on I/O; async callers run them on a blocking-friendly task.
pub trait KvStore: Send + Sync + 'static {
    /// The backend's name, for errors and metrics.
    fn backend(&self) -> &'static str;

    /// The value of `key` in `column`.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` entries of `column` in `range`, in key order.
    fn scan(
        &self,
        column: Column,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Applies `batch` atomically; returns per `durability`.
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()>;

    /// Makes every write so far durable.
    fn sync(&self) -> Result<()>;

    /// Writes `rows` into `column` durably: a bulk load, not atomic with other writes, for
    /// rows that can be written again after a crash. The rows come in strictly rising key
    /// order (each key once; anything else is refused with [`Error::Unsorted`] before a row
    /// is written), and each replaces its key's value.
    ///
    /// The default is one durable batch. fjall builds a table file from the rows and adds it
    /// to the tree, skipping the journal and the memory table that a batch goes through.
    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<()> {
        check_sorted(column, rows)?;
        let mut batch = WriteBatch::with_capacity(rows.len());
        for (key, value) in rows {
            batch.put(column, *key, *value);
        }
        self.write(batch, Durability::Durable)
    }
}

/// Refuses rows to ingest that are not in strictly rising key order.
pub(crate) fn check_sorted(column: Column, rows: &[(&[u8], &[u8])]) -> Result<()> {
    match rows.windows(2).position(|pair| pair[0].0 >= pair[1].0) {
        Some(at) => Err(Error::Unsorted {
            column: column.0,
            row: at + 1,
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > MAX_SCAN_LIMIT {
        return Err(Error::InvalidLimit {
            limit,
            max: MAX_SCAN_LIMIT,
        });
    }
    Ok(())
}

/// Maps an engine error into [`Error::Backend`].
pub(crate) fn backend_error(backend: &'static str) -> impl Fn(&dyn std::fmt::Display) -> Error {
    move |err| Error::Backend {
        backend,
        detail: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_end(b"ab"), Bound::Excluded(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Bound::Excluded(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), Bound::Unbounded);
        assert_eq!(prefix_end(&[]), Bound::Unbounded);
        let range = KeyRange::prefix(&[1, 0xff]);
        assert!(range.contains(&[1, 0xff]) && range.contains(&[1, 0xff, 0xff, 7]));
        assert!(!range.contains(&[2]) && !range.contains(&[1, 0xfe]));
    }

    #[test]
    fn after_excludes_the_key() {
        let range = KeyRange::between(b"a".to_vec(), b"z".to_vec()).after(b"c");
        assert!(!range.contains(b"c") && range.contains(b"ca") && !range.contains(b"z"));
    }
}
