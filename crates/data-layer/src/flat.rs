//! Where the flat state lives: the state after the finalized block, key by key, for
//! synchronous reads (see [`crate::snapshot`]).
//!
//! Three layouts:
//!
//! ```text
//! memory    the hot state, complete, made durable by checkpoints in the chain's store and the
//!           redo log; the default for new stores, while the state fits (see checkpoint.rs,
//!           ADR 0023); a state that outgrows the hot state moves to inline for good
//! inline    the chain's key-value store, column state_flat, in the same durable batch as
//!           each block (one writer)
//! sharded   N stores of their own, each key in shard fnv(key) % N; after a block's batch is
//!           durable, each shard writes its part of the delta and the block's height in one
//!           durable batch, all N at once on threads of their own
//! ```
//!
//! Sharding takes the flat-state rows, three of a transfer's four rows, off the single thread
//! that writes the block batch: an LSM tree applies a batch to its memtables while holding its
//! journal's lock, so writers of one store take turns, and only stores of their own write in
//! parallel.
//!
//! A shard is never ahead of the chain: it writes block `h` only once the chain's store holds
//! block `h` and its redo-log entry. After a crash a shard may be behind, by one block at most;
//! [`crate::ChainStore::open`] replays the blocks it misses from the redo log. The layout is
//! recorded in each shard (its index and the shard count), and a shard opened in another
//! layout is refused.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lamina_interop::block::StateChange;
use lamina_interop::profile::{measure, Stage};
use lamina_interop::Height;
use parking_lot::Mutex;

use crate::kv::{Column, Durability, KeyRange, KvStore, WriteBatch};
use crate::{Error, Result};

pub(crate) mod checkpoint;

use checkpoint::Checkpoints;

/// The flat state's column, in the chain's store (inline) or in each shard.
pub(crate) const FLAT_STATE: Column = Column("state_flat");
/// In each shard: the height it holds and its place in the layout.
const FLAT_META: Column = Column("state_flat_meta");
const HEIGHT_KEY: &[u8] = b"height";
const LAYOUT_KEY: &[u8] = b"layout";

/// Most shards a flat state may have.
pub const MAX_SHARDS: usize = 64;

/// Every column a shard store must be opened with.
pub fn shard_columns() -> Vec<Column> {
    vec![FLAT_STATE, FLAT_META]
}

/// The flat state's stores; see the module docs.
pub struct FlatStores<S: KvStore + ?Sized> {
    stores: Vec<Arc<S>>,
    sharded: bool,
    /// A new store keeps its flat state in memory.
    prefer_memory: bool,
    /// The checkpoints while the flat state lives in memory; `None` once it lives in stores.
    memory: Mutex<Option<Checkpoints>>,
    /// A shard failed to write a block the chain's store holds: later blocks are refused,
    /// since a shard would record their heights without that block's changes.
    failed: AtomicBool,
}

impl<S: KvStore + ?Sized> FlatStores<S> {
    /// The flat state inline, in `kv`, the chain's store (or in memory, if that store was
    /// created so).
    pub fn inline(kv: Arc<S>) -> FlatStores<S> {
        FlatStores {
            stores: vec![kv],
            sharded: false,
            prefer_memory: false,
            memory: Mutex::new(None),
            failed: AtomicBool::new(false),
        }
    }

    /// The flat state in memory, made durable in `kv`, the chain's store, if that store is
    /// new; else in the layout the store was created with (in memory, or inline). See the
    /// module docs and ADR 0023.
    pub fn in_memory(kv: Arc<S>) -> FlatStores<S> {
        FlatStores {
            prefer_memory: true,
            ..FlatStores::inline(kv)
        }
    }

    /// The flat state in `shards`, stores of its own opened with [`shard_columns`], in this
    /// order every time (1 to [`MAX_SHARDS`]).
    pub fn sharded(shards: Vec<Arc<S>>) -> Result<FlatStores<S>> {
        if shards.is_empty() || shards.len() > MAX_SHARDS {
            return Err(Error::Mismatch {
                what: "flat-state shards",
                detail: format!("{} shards, expected 1 to {MAX_SHARDS}", shards.len()),
            });
        }
        Ok(FlatStores {
            stores: shards,
            sharded: true,
            prefer_memory: false,
            memory: Mutex::new(None),
            failed: AtomicBool::new(false),
        })
    }

    /// Whether the flat state has stores of its own.
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }

    /// Whether a new store would keep its flat state in memory.
    pub(crate) fn prefers_memory(&self) -> bool {
        self.prefer_memory && !self.sharded
    }

    /// Whether the flat state lives in memory now (the hot state answers every read).
    pub fn is_in_memory(&self) -> bool {
        self.memory.lock().is_some()
    }

    /// The checkpoints, while the flat state lives in memory.
    pub(crate) fn checkpoints(&self) -> parking_lot::MutexGuard<'_, Option<Checkpoints>> {
        self.memory.lock()
    }

    fn store_for(&self, key: &[u8]) -> &S {
        &self.stores[shard_of(key, self.stores.len())]
    }

    /// The value of `key` in the flat state. In memory, the hot state answers every read,
    /// and this refuses.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.is_in_memory() {
            return Err(Error::Inconsistent {
                detail: "the flat state lives in memory, but the hot state missed a key".into(),
            });
        }
        self.store_for(key).get(FLAT_STATE, key)
    }

    /// Calls `visit` with every entry of the flat state, store by store in key order, a page
    /// of at most `page` entries in memory at a time, until `visit` returns false. Returns
    /// whether every entry was visited.
    pub(crate) fn for_each(
        &self,
        page: usize,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<bool> {
        for store in &self.stores {
            let mut range = KeyRange::all();
            loop {
                let entries = store.scan(FLAT_STATE, &range, page)?;
                for (key, value) in &entries {
                    if !visit(key, value) {
                        return Ok(false);
                    }
                }
                let full = entries.len() == page;
                match entries.into_iter().next_back() {
                    Some((last, _)) if full => range.start = Bound::Excluded(last),
                    _ => break,
                }
            }
        }
        Ok(true)
    }

    /// Refuses once a shard failed to write a block: only reopening the store (which replays
    /// the block from the redo log) makes the flat state whole again.
    pub(crate) fn usable(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(Error::Inconsistent {
                detail: "a flat-state shard failed to write an earlier block; reopen the store to repair it".into(),
            });
        }
        Ok(())
    }

    /// Inline: adds `changes` to the block's `batch`. Sharded: nothing (see
    /// [`FlatStores::write`]). Not called while the flat state lives in memory.
    pub(crate) fn stage_inline(&self, batch: &mut WriteBatch, changes: &[StateChange]) {
        if !self.sharded {
            stage(batch, changes.iter());
        }
    }

    /// Sharded: writes `changes`, the delta of block `height` (durable in the chain's store
    /// already), each shard its part and the height, in parallel. Inline: nothing.
    pub(crate) fn write(&self, height: Height, changes: &[StateChange]) -> Result<()> {
        if !self.sharded {
            return Ok(());
        }
        let count = self.stores.len();
        let mut parts: Vec<WriteBatch> = (0..count).map(|_| WriteBatch::new()).collect();
        for change in changes {
            stage(&mut parts[shard_of(&change.key, count)], [change]);
        }
        for part in &mut parts {
            part.put(FLAT_META, HEIGHT_KEY, height.0.to_be_bytes());
        }
        let write = |store: &S, batch: WriteBatch| {
            measure(Stage::Persist, || store.write(batch, Durability::Durable))
        };
        let mut parts = parts.into_iter().zip(&self.stores);
        let Some((first, first_store)) = parts.next() else {
            return Ok(());
        };
        let written = std::thread::scope(|scope| {
            let others: Vec<_> = parts
                .map(|(batch, store)| scope.spawn(move || write(store, batch)))
                .collect();
            let mut result = write(first_store, first);
            for other in others {
                let outcome = other.join().unwrap_or_else(|_| {
                    Err(Error::Inconsistent {
                        detail: "a flat-state shard's writer panicked".into(),
                    })
                });
                result = result.and(outcome);
            }
            result
        });
        if written.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        written
    }

    /// Sharded: checks that each shard belongs to this layout (recording it in new ones) and
    /// returns the height each holds (`None`: no block yet). Inline: empty.
    pub(crate) fn open_shards(&self) -> Result<Vec<Option<Height>>> {
        if !self.sharded {
            return Ok(Vec::new());
        }
        let count = self.stores.len() as u32;
        let mut heights = Vec::with_capacity(self.stores.len());
        for (index, store) in self.stores.iter().enumerate() {
            let layout = [(index as u32).to_be_bytes(), count.to_be_bytes()].concat();
            match store.get(FLAT_META, LAYOUT_KEY)? {
                Some(found) if found == layout => {}
                Some(found) => {
                    return Err(Error::Inconsistent {
                        detail: format!(
                            "flat-state shard {index} of {count} was written as {}",
                            describe_layout(&found)
                        ),
                    })
                }
                None => {
                    let mut batch = WriteBatch::new();
                    batch.put(FLAT_META, LAYOUT_KEY, layout);
                    store.write(batch, Durability::Durable)?;
                }
            }
            let height = match store.get(FLAT_META, HEIGHT_KEY)? {
                None => None,
                Some(bytes) => Some(Height(u64::from_be_bytes(
                    bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
                        what: "flat-state height",
                        detail: format!("{} bytes, expected 8", bytes.len()),
                    })?,
                ))),
            };
            heights.push(height);
        }
        Ok(heights)
    }

    /// Sharded: writes shard `index`'s part of block `height`'s `changes` and the height, as
    /// [`FlatStores::write`] does for every shard. Used to repair a shard that is behind.
    pub(crate) fn replay(
        &self,
        index: usize,
        height: Height,
        changes: &[StateChange],
    ) -> Result<()> {
        let count = self.stores.len();
        let mut batch = WriteBatch::new();
        stage(
            &mut batch,
            changes.iter().filter(|c| shard_of(&c.key, count) == index),
        );
        batch.put(FLAT_META, HEIGHT_KEY, height.0.to_be_bytes());
        self.stores[index].write(batch, Durability::Durable)
    }
}

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

fn describe_layout(bytes: &[u8]) -> String {
    match (bytes.get(0..4), bytes.get(4..8)) {
        (Some(index), Some(count)) if bytes.len() == 8 => format!(
            "shard {} of {}",
            u32::from_be_bytes([index[0], index[1], index[2], index[3]]),
            u32::from_be_bytes([count[0], count[1], count[2], count[3]])
        ),
        _ => format!("an unreadable layout of {} bytes", bytes.len()),
    }
}

/// The shard of `key` among `count`: FNV-1a, fixed forever, since keys stay where they were
/// written.
fn shard_of(key: &[u8], count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % count as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::hooked::{disk_full, HookedStore};
    use crate::kv::MemoryStore;

    fn change(key: &str, value: Option<&str>) -> StateChange {
        StateChange {
            key: key.as_bytes().to_vec(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    fn shards(n: usize) -> Vec<Arc<MemoryStore>> {
        (0..n)
            .map(|_| Arc::new(MemoryStore::new(&shard_columns())))
            .collect()
    }

    #[test]
    fn keys_spread_over_shards_and_read_back() {
        let stores = shards(4);
        let flat = FlatStores::sharded(stores.clone()).unwrap();
        assert_eq!(flat.open_shards().unwrap(), vec![None; 4]);
        let changes: Vec<StateChange> = (0..200)
            .map(|i| change(&format!("bank/balance/{i}"), Some(&i.to_string())))
            .collect();
        flat.write(Height(1), &changes).unwrap();
        flat.write(Height(2), &[change("bank/balance/7", None)])
            .unwrap();
        assert_eq!(flat.open_shards().unwrap(), vec![Some(Height(2)); 4]);
        for i in 0..200 {
            let expected = (i != 7).then(|| i.to_string().into_bytes());
            assert_eq!(
                flat.get(format!("bank/balance/{i}").as_bytes()).unwrap(),
                expected
            );
        }
        // Every shard holds some keys, and no key is in two.
        let held: Vec<usize> = stores
            .iter()
            .map(|s| {
                s.scan(FLAT_STATE, &crate::kv::KeyRange::all(), 1_000)
                    .unwrap()
                    .len()
            })
            .collect();
        assert!(held.iter().all(|n| *n > 20), "{held:?}");
        assert_eq!(held.iter().sum::<usize>(), 199);
    }

    #[test]
    fn a_shard_in_another_layout_is_refused() {
        let stores = shards(2);
        FlatStores::sharded(stores.clone())
            .unwrap()
            .open_shards()
            .unwrap();
        let swapped = FlatStores::sharded(vec![stores[1].clone(), stores[0].clone()]).unwrap();
        assert!(matches!(
            swapped.open_shards(),
            Err(Error::Inconsistent { detail }) if detail.contains("shard 1 of 2")
        ));
        let fewer = FlatStores::sharded(vec![stores[0].clone()]).unwrap();
        assert!(matches!(
            fewer.open_shards(),
            Err(Error::Inconsistent { .. })
        ));
        assert!(FlatStores::<MemoryStore>::sharded(Vec::new()).is_err());
    }

    #[test]
    fn after_a_failed_shard_write_later_blocks_are_refused() {
        let failing = Arc::new(AtomicBool::new(true));
        let fails = failing.clone();
        let good = Arc::new(HookedStore::new(&shard_columns()));
        let bad = Arc::new(HookedStore::new(&shard_columns()).before_write(move || {
            match fails.load(Ordering::Acquire) {
                true => Err(disk_full()),
                false => Ok(()),
            }
        }));
        let flat = FlatStores::sharded(vec![good, bad]).unwrap();
        assert!(flat.usable().is_ok());
        let changes: Vec<StateChange> = (0..20)
            .map(|i| change(&format!("k{i}"), Some("v")))
            .collect();
        assert!(matches!(
            flat.write(Height(1), &changes),
            Err(Error::Backend { .. })
        ));
        // The disk recovers, but this flat state stays refused until reopened.
        failing.store(false, Ordering::Release);
        assert!(matches!(flat.usable(), Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn inline_writes_go_into_the_block_batch() {
        let kv = Arc::new(MemoryStore::new(&[FLAT_STATE]));
        let flat = FlatStores::inline(kv.clone());
        let mut batch = WriteBatch::new();
        flat.stage_inline(&mut batch, &[change("a", Some("1"))]);
        flat.write(Height(1), &[change("b", Some("2"))]).unwrap();
        kv.write(batch, Durability::Durable).unwrap();
        assert_eq!(flat.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(flat.get(b"b").unwrap(), None, "inline: write adds nothing");
        assert!(flat.open_shards().unwrap().is_empty());
    }
}
