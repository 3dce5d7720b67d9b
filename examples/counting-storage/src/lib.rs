//! A key-value store of the chain's own: fjall underneath, every write counted. It shows the
//! storage seam of Lamina's node builder: a type that implements `KvStore` (the store) and
//! one that implements `StorageBackend` (how a node opens it).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lamina_data_layer::{KeyRange, Result};
use lamina_data_layer::{Column, Durability, KvStore, WriteBatch};
use lamina_node::{Fjall, StorageBackend};

// ANCHOR: store
/// What a counting store has written.
#[derive(Debug, Default)]
pub struct Counts {
    /// Atomic batches written.
    pub batches: AtomicU64,
    /// Rows put or deleted, in batches and bulk loads.
    pub rows: AtomicU64,
}

/// A key-value store that counts the writes it passes to the store inside.
pub struct CountingStore {
    inner: Arc<dyn KvStore>,
    counts: Arc<Counts>,
}

impl KvStore for CountingStore {
    fn backend(&self) -> &'static str {
        "counting-fjall"
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
        let rows = batch.len() as u64;
        self.inner.write(batch, durability)?;
        self.counts.batches.fetch_add(1, Ordering::Relaxed);
        self.counts.rows.fetch_add(rows, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.inner.sync()
    }

    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<()> {
        self.inner.ingest(column, rows)?;
        self.counts.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
// ANCHOR_END: store

// ANCHOR: backend
/// How a node opens the counting store: fjall's own backend opens the store inside, the
/// flat state stays in memory (the default layout), and the counts are shared with the caller.
pub struct CountingFjall {
    fjall: Fjall,
    counts: Arc<Counts>,
}

impl CountingFjall {
    /// fjall with its default settings, counted into `counts`.
    pub fn new(counts: Arc<Counts>) -> CountingFjall {
        CountingFjall {
            fjall: Fjall::default(),
            counts,
        }
    }
}

impl StorageBackend for CountingFjall {
    fn open(&self, dir: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
        Ok(Arc::new(CountingStore {
            inner: self.fjall.open(dir)?,
            counts: self.counts.clone(),
        }))
    }

    fn name(&self) -> &'static str {
        "counting-fjall"
    }
}
// ANCHOR_END: backend
