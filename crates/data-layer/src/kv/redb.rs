//! The redb backend: a copy-on-write B-tree in one file. Every column is a table; a batch is
//! one write transaction.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::memory::column_of;
use super::{backend_error, check_limit, Column, Durability, KeyRange, KvStore, Op, WriteBatch};
use crate::{Error, Result};

const BACKEND: &str = "redb";

/// A store in a redb database file.
pub struct RedbStore {
    db: Database,
    columns: Vec<Column>,
}

fn table(column: Column) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(column.0)
}

impl RedbStore {
    /// Opens (or creates) the database file `path` with `columns`.
    pub fn open(path: &Path, columns: &[Column]) -> Result<RedbStore> {
        let err = backend_error(BACKEND);
        let db = Database::create(path).map_err(|e| err(&e))?;
        // Create every table up front, so reads never meet a missing table.
        let txn = db.begin_write().map_err(|e| err(&e))?;
        for column in columns {
            txn.open_table(table(*column)).map_err(|e| err(&e))?;
        }
        txn.commit().map_err(|e| err(&e))?;
        Ok(RedbStore {
            db,
            columns: columns.to_vec(),
        })
    }

    fn check_column(&self, column: Column) -> Result<()> {
        if self.columns.contains(&column) {
            Ok(())
        } else {
            Err(Error::UnknownColumn(column.0))
        }
    }
}

impl KvStore for RedbStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_column(column)?;
        let err = backend_error(BACKEND);
        let txn = self.db.begin_read().map_err(|e| err(&e))?;
        let table = txn.open_table(table(column)).map_err(|e| err(&e))?;
        let value = table.get(key).map_err(|e| err(&e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        column: Column,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_limit(limit)?;
        self.check_column(column)?;
        let err = backend_error(BACKEND);
        let txn = self.db.begin_read().map_err(|e| err(&e))?;
        let table = txn.open_table(table(column)).map_err(|e| err(&e))?;
        let mut out = Vec::new();
        for entry in table
            .range::<&[u8]>(range.as_slices())
            .map_err(|e| err(&e))?
            .take(limit)
        {
            let (key, value) = entry.map_err(|e| err(&e))?;
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        if let Some(op) = batch
            .ops()
            .iter()
            .find(|op| !self.columns.contains(&column_of(op)))
        {
            return Err(Error::UnknownColumn(column_of(op).0));
        }
        let err = backend_error(BACKEND);
        let mut txn = self.db.begin_write().map_err(|e| err(&e))?;
        let level = match durability {
            Durability::Durable => redb::Durability::Immediate,
            Durability::Buffered => redb::Durability::None,
        };
        txn.set_durability(level).map_err(|e| err(&e))?;
        {
            // Open each column's table once per batch.
            let mut tables = Vec::with_capacity(self.columns.len());
            for column in &self.columns {
                tables.push(txn.open_table(table(*column)).map_err(|e| err(&e))?);
            }
            for op in batch.ops {
                let index = self
                    .columns
                    .iter()
                    .position(|c| *c == column_of(&op))
                    .unwrap_or(0);
                let table = &mut tables[index];
                match op {
                    Op::Put { key, value, .. } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(|e| err(&e))?;
                    }
                    Op::Delete { key, .. } => {
                        table.remove(key.as_slice()).map_err(|e| err(&e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| err(&e))
    }

    fn sync(&self) -> Result<()> {
        // An empty durable commit makes every earlier non-durable commit durable.
        self.write(WriteBatch::new(), Durability::Durable)
    }
}
