//! The in-memory backend, for tests. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;

use super::{check_limit, Column, Durability, KeyRange, KvStore, Op, WriteBatch};
use crate::{Error, Result};

/// One ordered map per column name.
type Columns = HashMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>;

/// An in-memory store: one ordered map per column behind one lock, so batches are atomic.
pub struct MemoryStore {
    columns: RwLock<Columns>,
}

impl MemoryStore {
    /// An empty store with `columns`.
    pub fn new(columns: &[Column]) -> MemoryStore {
        let columns = columns.iter().map(|c| (c.0, BTreeMap::new())).collect();
        MemoryStore {
            columns: RwLock::new(columns),
        }
    }
}

impl KvStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let columns = self.columns.read();
        let map = columns
            .get(column.0)
            .ok_or(Error::UnknownColumn(column.0))?;
        Ok(map.get(key).cloned())
    }

    fn scan(
        &self,
        column: Column,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_limit(limit)?;
        let columns = self.columns.read();
        let map = columns
            .get(column.0)
            .ok_or(Error::UnknownColumn(column.0))?;
        Ok(map
            .range::<[u8], _>(range.as_slices())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn write(&self, batch: WriteBatch, _durability: Durability) -> Result<()> {
        let mut columns = self.columns.write();
        // Check every column first, so a bad batch changes nothing.
        if let Some(op) = batch
            .ops()
            .iter()
            .find(|op| !columns.contains_key(column_of(op).0))
        {
            return Err(Error::UnknownColumn(column_of(op).0));
        }
        for op in batch.ops {
            match op {
                Op::Put { column, key, value } => {
                    columns.get_mut(column.0).map(|map| map.insert(key, value));
                }
                Op::Delete { column, key } => {
                    columns.get_mut(column.0).map(|map| map.remove(&key));
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

pub(crate) fn column_of(op: &Op) -> Column {
    match op {
        Op::Put { column, .. } | Op::Delete { column, .. } => *column,
    }
}
