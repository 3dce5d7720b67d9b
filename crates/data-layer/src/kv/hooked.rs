//! A memory store for tests whose writes and ingestions ask a hook first: a test makes one
//! fail, or pause, to see what its caller does then.

use super::{Column, Durability, KeyRange, KvStore, MemoryStore, WriteBatch};
use crate::{Error, Result};

/// Runs before a write or an ingestion, which goes ahead only if it returns `Ok`.
type Hook = Box<dyn Fn() -> Result<()> + Send + Sync>;

/// A [`MemoryStore`] with a hook before each [`KvStore::write`] and each [`KvStore::ingest`].
pub(crate) struct HookedStore {
    inner: MemoryStore,
    before_write: Hook,
    before_ingest: Hook,
}

impl HookedStore {
    /// A store over `columns` whose hooks let everything through.
    pub(crate) fn new(columns: &[Column]) -> HookedStore {
        HookedStore {
            inner: MemoryStore::new(columns),
            before_write: Box::new(|| Ok(())),
            before_ingest: Box::new(|| Ok(())),
        }
    }

    /// Runs `hook` before each batch is written.
    pub(crate) fn before_write(
        mut self,
        hook: impl Fn() -> Result<()> + Send + Sync + 'static,
    ) -> HookedStore {
        self.before_write = Box::new(hook);
        self
    }

    /// Runs `hook` before each run of rows is ingested.
    pub(crate) fn before_ingest(
        mut self,
        hook: impl Fn() -> Result<()> + Send + Sync + 'static,
    ) -> HookedStore {
        self.before_ingest = Box::new(hook);
        self
    }
}

/// The error a hook returns for a disk that has filled up.
pub(crate) fn disk_full() -> Error {
    Error::Backend {
        backend: "hooked",
        detail: "disk full".into(),
    }
}

impl KvStore for HookedStore {
    fn backend(&self) -> &'static str {
        "hooked"
    }
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(column, key)
    }
    fn scan(
        &self,
        column: Column,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan(column, range, limit)
    }
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        (self.before_write)()?;
        self.inner.write(batch, durability)
    }
    fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<()> {
        (self.before_ingest)()?;
        self.inner.ingest(column, rows)
    }
}
