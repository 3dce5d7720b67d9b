//! Where the flat state lives: the state after the finalized block, key by key, for
//! synchronous reads (see [`crate::snapshot`]).
//!
//! Two layouts, both in the chain's key-value store; a store is created in one and keeps it
//! (ADR 0030):
//!
//! ```text
//! memory    the hot state, complete, made durable by checkpoints and the redo log (see
//!           checkpoint.rs, ADR 0023); the default for new stores. A state that outgrows the
//!           hot state moves to inline for good
//! inline    the column state_flat, written in each block's durable batch
//! ```
//!
//! [`FlatStore`] hides which: the commit path asks it to stage a block's changes into the
//! block's batch and, once the batch is durable, tells it the block was written, whatever
//! the layout.

use std::ops::{Bound, Range};

use lamina_interop::block::StateChange;
use lamina_interop::Height;
use parking_lot::{Mutex, MutexGuard};

use crate::hot::{HotState, SHARDS};
use crate::kv::{Column, Durability, KeyRange, KvStore, WriteBatch};
use crate::{Error, Result};

pub(crate) mod checkpoint;

use checkpoint::{Checkpoints, CHECKPOINTS, SEED_KEY};

/// The flat state's column, in the chain's store (the inline layout).
pub(crate) const FLAT_STATE: Column = Column("state_flat");

/// Entries in memory at a time while the flat state moves out of memory.
const MOVE_PAGE: usize = 16 * 1024;

/// The layout a new store is created with; a store that holds a chain keeps its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlatLayout {
    /// In memory, checkpointed (the default).
    #[default]
    Memory,
    /// In the store's `state_flat` column, a row per key.
    Inline,
}

/// The flat state of one chain's key-value store; see the module docs.
pub struct FlatStore<S: KvStore + ?Sized> {
    kv: std::sync::Arc<S>,
    /// The layout of a new store.
    new_layout: FlatLayout,
    /// The checkpoints while the flat state lives in memory; `None` once it lives inline.
    memory: Mutex<Option<Checkpoints>>,
}

impl<S: KvStore + ?Sized> FlatStore<S> {
    /// The flat state of `kv`, the chain's store: in the layout that store was created with,
    /// or, for a new store, in `new_layout`.
    pub fn new(kv: std::sync::Arc<S>, new_layout: FlatLayout) -> FlatStore<S> {
        FlatStore {
            kv,
            new_layout,
            memory: Mutex::new(None),
        }
    }

    /// The layout a new store gets.
    pub(crate) fn new_layout(&self) -> FlatLayout {
        self.new_layout
    }

    /// Whether the flat state lives in memory now (the hot state answers every read).
    pub fn is_in_memory(&self) -> bool {
        self.memory.lock().is_some()
    }

    /// The checkpoints, while the flat state lives in memory.
    pub(crate) fn checkpoints(&self) -> MutexGuard<'_, Option<Checkpoints>> {
        self.memory.lock()
    }

    /// The value of `key` in the flat state. In memory, the hot state answers every read,
    /// and this refuses.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.is_in_memory() {
            return Err(Error::Inconsistent {
                detail: "the flat state lives in memory, but the hot state missed a key".into(),
            });
        }
        self.kv.get(FLAT_STATE, key)
    }

    /// Calls `visit` with every entry of the inline flat state in key order, a page of at
    /// most `page` entries in memory at a time, until `visit` returns false. Returns whether
    /// every entry was visited.
    pub(crate) fn for_each(
        &self,
        page: usize,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<bool> {
        let mut range = KeyRange::all();
        loop {
            let entries = self.kv.scan(FLAT_STATE, &range, page)?;
            for (key, value) in &entries {
                if !visit(key, value) {
                    return Ok(false);
                }
            }
            let full = entries.len() == page;
            match entries.into_iter().next_back() {
                Some((last, _)) if full => range.start = Bound::Excluded(last),
                _ => return Ok(true),
            }
        }
    }

    /// Adds to `batch`, the durable batch of block `height` (or of the genesis state), what
    /// the flat state needs of the block's `changes`, which the hot state does not hold yet:
    /// in memory, the checkpoint chunk due and the trimming of `deltas`, the redo log, to
    /// what the checkpoints and the last `keep` blocks need; inline, the rows and the trim to
    /// the last `keep` blocks. The layout stays locked (only one thread commits) until
    /// [`Staged::written`].
    pub(crate) fn stage<'a>(
        &'a self,
        batch: &mut WriteBatch,
        hot: &HotState,
        height: Height,
        changes: &[StateChange],
        (deltas, keep): (Column, u64),
    ) -> Staged<'a, S> {
        let memory = self.memory.lock();
        let chunk = match memory.as_ref() {
            Some(checkpoints) => {
                Some(checkpoints.stage(batch, hot, height, changes.len(), deltas, keep))
            }
            None => {
                if height.0 > keep {
                    batch.delete(deltas, (height.0 - keep).to_be_bytes());
                }
                stage(batch, changes);
                None
            }
        };
        Staged {
            flat: self,
            memory,
            chunk,
            redo: (deltas, keep),
        }
    }
}

/// A block's flat-state part, staged in its batch and waiting for that batch to be durable.
pub(crate) struct Staged<'a, S: KvStore + ?Sized> {
    flat: &'a FlatStore<S>,
    memory: MutexGuard<'a, Option<Checkpoints>>,
    chunk: Option<checkpoint::Staged>,
    redo: (Column, u64),
}

impl<S: KvStore + ?Sized> Staged<'_, S> {
    /// The block's batch of `height` with `changes` is durable: in memory, the checkpoints
    /// record what it carried, and a state the hot state can no longer hold moves inline
    /// for good. Call before the hot state applies `changes`.
    pub(crate) fn written(
        mut self,
        hot: &HotState,
        height: Height,
        changes: &[StateChange],
    ) -> Result<()> {
        let (Some(checkpoints), Some(chunk)) = (self.memory.as_mut(), self.chunk) else {
            return Ok(());
        };
        checkpoints.staged(chunk);
        if !hot.has_room_for(changes) {
            let (deltas, keep) = self.redo;
            let redo = checkpoints.redo_from()..(height.0 + 1).saturating_sub(keep);
            move_out_of_memory(&*self.flat.kv, hot, changes, (deltas, redo))?;
            *self.memory = None;
        }
        Ok(())
    }
}

/// Moves the flat state out of memory into the chain's store for good (the inline layout),
/// when the hot state cannot take `changes`: every entry it holds, then `changes`, go to the
/// `state_flat` column (cleared first of what an interrupted move left), and then one durable
/// batch deletes the layout's rows and the redo log's entries in `redo`, which only the
/// checkpoints needed. Until that batch, opening finds the layout in memory as before.
fn move_out_of_memory<S: KvStore + ?Sized>(
    kv: &S,
    hot: &HotState,
    changes: &[StateChange],
    redo: (Column, Range<u64>),
) -> Result<()> {
    tracing::warn!(
        entries = hot.len(),
        "the state outgrew the hot state: moving the flat state into the store"
    );
    clear_column(kv, FLAT_STATE)?;
    for index in 0..SHARDS {
        let mut batch = WriteBatch::new();
        hot.for_each_in_shard(index, |key, value| batch.put(FLAT_STATE, key, value));
        kv.write(batch, Durability::Buffered)?;
    }
    let mut batch = WriteBatch::new();
    stage(&mut batch, changes);
    kv.write(batch, Durability::Buffered)?;
    finish_move(kv, redo)
}

/// The last step of a move out of memory: the layout's rows and the redo log's entries in
/// `redo` go, durably and together with every buffered write before.
pub(crate) fn finish_move<S: KvStore + ?Sized>(
    kv: &S,
    (deltas, redo): (Column, Range<u64>),
) -> Result<()> {
    let mut batch = WriteBatch::new();
    batch.delete(CHECKPOINTS, SEED_KEY);
    for index in 0..SHARDS {
        batch.delete(CHECKPOINTS, checkpoint::chunk_key(index));
    }
    for height in redo {
        batch.delete(deltas, height.to_be_bytes());
    }
    kv.write(batch, Durability::Durable)
}

/// Deletes every row of `column`, a page at a time.
pub(crate) fn clear_column<S: KvStore + ?Sized>(kv: &S, column: Column) -> Result<()> {
    loop {
        let rows = kv.scan(column, &KeyRange::all(), MOVE_PAGE)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for (key, _) in rows {
            batch.delete(column, key);
        }
        kv.write(batch, Durability::Buffered)?;
    }
}

/// Puts `changes` into `batch` as rows of the inline flat state.
pub(crate) fn stage<'a>(
    batch: &mut WriteBatch,
    changes: impl IntoIterator<Item = &'a StateChange>,
) {
    for change in changes {
        match &change.value {
            Some(value) => batch.put(FLAT_STATE, change.key.clone(), value.clone()),
            None => batch.delete(FLAT_STATE, change.key.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kv::MemoryStore;

    const DELTAS: Column = Column("deltas");

    fn change(key: &str, value: Option<&str>) -> StateChange {
        StateChange {
            key: key.as_bytes().to_vec(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn inline_rows_and_the_redo_trim_go_into_the_block_batch() {
        let kv = Arc::new(MemoryStore::new(&[FLAT_STATE, DELTAS, CHECKPOINTS]));
        let flat = FlatStore::new(kv.clone(), FlatLayout::Inline);
        let hot = HotState::new(16);
        let mut seed = WriteBatch::new();
        seed.put(FLAT_STATE, b"gone".to_vec(), b"0".to_vec());
        seed.put(DELTAS, 6u64.to_be_bytes(), Vec::new());
        seed.put(DELTAS, 7u64.to_be_bytes(), Vec::new());
        kv.write(seed, Durability::Durable).unwrap();

        let changes = [change("a", Some("1")), change("gone", None)];
        let mut batch = WriteBatch::new();
        let staged = flat.stage(&mut batch, &hot, Height(10), &changes, (DELTAS, 4));
        // Nothing reaches the store before the block's batch does.
        assert_eq!(kv.get(FLAT_STATE, b"a").unwrap(), None);
        kv.write(batch, Durability::Durable).unwrap();
        staged.written(&hot, Height(10), &changes).unwrap();
        assert!(!flat.is_in_memory());
        assert_eq!(flat.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(flat.get(b"gone").unwrap(), None);
        assert_eq!(
            kv.get(DELTAS, &6u64.to_be_bytes()).unwrap(),
            None,
            "10 - 4 trimmed"
        );
        assert!(kv.get(DELTAS, &7u64.to_be_bytes()).unwrap().is_some());
        let mut seen = Vec::new();
        assert!(flat
            .for_each(1, |key, _| {
                seen.push(key.to_vec());
                true
            })
            .unwrap());
        assert_eq!(seen, vec![b"a".to_vec()]);
    }

    #[test]
    fn a_flat_state_in_memory_refuses_reads_of_the_store() {
        let kv = Arc::new(MemoryStore::new(&[FLAT_STATE, CHECKPOINTS]));
        let flat = FlatStore::new(kv, FlatLayout::Memory);
        *flat.checkpoints() = Some(Checkpoints::new([None; SHARDS], 0));
        assert!(flat.is_in_memory());
        assert!(matches!(flat.get(b"a"), Err(Error::Inconsistent { .. })));
    }
}
