//! The RocksDB backend (cargo feature `rocksdb`): an LSM tree with a write-ahead log. Every
//! column is a column family; a batch is one `WriteBatch`, atomic across column families.
//! Durable writes sync the write-ahead log before returning.

use std::ops::Bound;
use std::path::Path;

use rocksdb::{ColumnFamily, Direction, IteratorMode, Options, WriteOptions, DB};

use super::memory::column_of;
use super::{backend_error, check_limit, Column, Durability, KeyRange, KvStore, Op, WriteBatch};
use crate::{Error, Result};

const BACKEND: &str = "rocksdb";

/// A store in a RocksDB database folder.
pub struct RocksStore {
    db: DB,
    columns: Vec<Column>,
}

impl RocksStore {
    /// Opens (or creates) the database folder `path` with `columns`.
    pub fn open(path: &Path, columns: &[Column]) -> Result<RocksStore> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
        let db = DB::open_cf(&options, path, names).map_err(|e| backend_error(BACKEND)(&e))?;
        Ok(RocksStore {
            db,
            columns: columns.to_vec(),
        })
    }

    fn handle(&self, column: Column) -> Result<&ColumnFamily> {
        if !self.columns.contains(&column) {
            return Err(Error::UnknownColumn(column.0));
        }
        self.db
            .cf_handle(column.0)
            .ok_or(Error::UnknownColumn(column.0))
    }
}

impl KvStore for RocksStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = self.handle(column)?;
        self.db
            .get_cf(cf, key)
            .map_err(|e| backend_error(BACKEND)(&e))
    }

    fn scan(
        &self,
        column: Column,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_limit(limit)?;
        let cf = self.handle(column)?;
        let mode = match &range.start {
            Bound::Included(key) | Bound::Excluded(key) => {
                IteratorMode::From(key, Direction::Forward)
            }
            Bound::Unbounded => IteratorMode::Start,
        };
        let mut out = Vec::new();
        for entry in self.db.iterator_cf(cf, mode) {
            let (key, value) = entry.map_err(|e| backend_error(BACKEND)(&e))?;
            if matches!(&range.start, Bound::Excluded(start) if key.as_ref() == start.as_slice()) {
                continue;
            }
            if !range.contains(&key) {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        let mut rocks_batch = rocksdb::WriteBatch::default();
        for op in &batch.ops {
            let cf = self.handle(column_of(op))?;
            match op {
                Op::Put { key, value, .. } => rocks_batch.put_cf(cf, key, value),
                Op::Delete { key, .. } => rocks_batch.delete_cf(cf, key),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(durability == Durability::Durable);
        self.db
            .write_opt(rocks_batch, &options)
            .map_err(|e| backend_error(BACKEND)(&e))
    }

    fn sync(&self) -> Result<()> {
        self.db
            .flush_wal(true)
            .map_err(|e| backend_error(BACKEND)(&e))
    }
}
