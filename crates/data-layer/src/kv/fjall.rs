//! The fjall backend: a log-structured merge tree with a write-ahead journal. Every column is
//! a keyspace; a batch is one journal entry, atomic across keyspaces.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::memory::column_of;
use super::{
    backend_error, check_limit, check_sorted, Column, Durability, KeyRange, KvStore, Op, WriteBatch,
};
use crate::{Error, Result};

const BACKEND: &str = "fjall";

/// The block cache of [`FjallStore::open`]: 32 MiB, fjall's own default. A node sizes it to
/// its hot set (blocks being served and the flat state that execution reads).
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A store in a fjall database folder.
pub struct FjallStore {
    db: Database,
    keyspaces: Vec<(Column, Keyspace)>,
}

impl FjallStore {
    /// Opens (or creates) the database folder `path` with `columns` and the default block
    /// cache, [`DEFAULT_CACHE_BYTES`].
    pub fn open(path: &Path, columns: &[Column]) -> Result<FjallStore> {
        FjallStore::open_with_cache(path, columns, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the database folder `path` with `columns` and a block cache of at
    /// most `cache_bytes`.
    pub fn open_with_cache(
        path: &Path,
        columns: &[Column],
        cache_bytes: u64,
    ) -> Result<FjallStore> {
        let err = backend_error(BACKEND);
        // The journal's large values are block bodies, receipts and redo deltas: keys,
        // hashes and signatures, which do not compress. Compressing them (fjall's default for
        // values of 4 KiB and more) costs the single writer a pass over each block.
        let db = Database::builder(path)
            .cache_size(cache_bytes)
            .journal_compression(fjall::CompressionType::None)
            .open()
            .map_err(|e| err(&e))?;
        let keyspaces = columns
            .iter()
            .map(|column| {
                let keyspace = db
                    .keyspace(column.0, || {
                        // Values of a kilobyte or more (block bodies, receipts, redo deltas)
                        // go to blob files, so compaction moves pointers, not megabytes. They
                        // are mostly keys, hashes and signatures: not worth compressing.
                        let blobs = fjall::KvSeparationOptions::default()
                            .compression(fjall::CompressionType::None);
                        KeyspaceCreateOptions::default().with_kv_separation(Some(blobs))
                    })
                    .map_err(|e| err(&e))?;
                Ok((*column, keyspace))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FjallStore { db, keyspaces })
    }

    fn keyspace(&self, column: Column) -> Result<&Keyspace> {
        self.keyspaces
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, keyspace)| keyspace)
            .ok_or(Error::UnknownColumn(column.0))
    }
}

impl KvStore for FjallStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self
            .keyspace(column)?
            .get(key)
            .map_err(|e| backend_error(BACKEND)(&e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        column: Column,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_limit(limit)?;
        let keyspace = self.keyspace(column)?;
        let err = backend_error(BACKEND);
        let mut out = Vec::new();
        for guard in keyspace.range::<&[u8], _>(range.as_slices()).take(limit) {
            let (key, value) = guard.into_inner().map_err(|e| err(&e))?;
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        let mode = match durability {
            Durability::Durable => Some(PersistMode::SyncAll),
            Durability::Buffered => None,
        };
        let mut fjall_batch = self.db.batch().durability(mode);
        for op in batch.ops {
            let keyspace = self.keyspace(column_of(&op))?;
            match op {
                Op::Put { key, value, .. } => fjall_batch.insert(keyspace, key, value),
                Op::Delete { key, .. } => fjall_batch.remove(keyspace, key),
            }
        }
        fjall_batch.commit().map_err(|e| backend_error(BACKEND)(&e))
    }

    fn sync(&self) -> Result<()> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| backend_error(BACKEND)(&e))
    }

    /// The rows become a table file of the keyspace's tree, written and synced before the
    /// tree's new version (which names it) is; readers see all of them or none.
    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<()> {
        let keyspace = self.keyspace(column)?;
        check_sorted(column, rows)?;
        if rows.is_empty() {
            return Ok(());
        }
        let err = backend_error(BACKEND);
        let mut ingestion = keyspace.start_ingestion().map_err(|e| err(&e))?;
        for (key, value) in rows {
            ingestion.write(*key, *value).map_err(|e| err(&e))?;
        }
        ingestion.finish().map_err(|e| err(&e))
    }
}
