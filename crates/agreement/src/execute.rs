//! Block execution: a block's transactions over a state snapshot, in parallel where their
//! access sets are disjoint, with a result byte-identical to running them one by one.
//!
//! ```text
//! begin-block hooks                                   (sequential)
//! schedule:  level(tx) = 1 + max level of earlier txs it conflicts with
//! level 1:   txs run in parallel over  snapshot + hooks' changes
//! level 2:   txs run in parallel over  ... + level 1's changes
//! ...
//! end-block hooks, fee payout                          (sequential)
//! ```
//!
//! Why this equals sequential execution: two transactions conflict when one writes a key the
//! other reads or writes. A transaction's level is above that of every earlier transaction it
//! conflicts with, so each transaction sees every earlier conflicting write, and transactions
//! of one level touch disjoint keys, so their order among themselves does not matter. A
//! transaction that touches an undeclared key fails the same way in both (the working set
//! checks the declared set, not what happened to be written), so declaring too little never
//! makes the two differ.

use std::hash::BuildHasher as _;

use hashbrown::{HashMap, HashTable};

use lamina_interop::block::{Receipt, StateChange, StateDelta};
use lamina_interop::module::{Env, StateError, StateView, ValidatorSet};
use lamina_interop::profile::{measure, Stage};
use rayon::prelude::*;

use crate::runtime::{FeeTotals, PreparedTx, Runtime, RuntimeError};
use crate::tx::VerifiedTx;

/// What executing a block produced, for `CommitBlock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutput {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// The block's state changes.
    pub delta: StateDelta,
    /// Fees collected.
    pub fees: FeeTotals,
    /// The validator set an end-block hook announced for the next block on.
    pub validators: Option<ValidatorSet>,
}

/// How to run a block's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One at a time, in block order: the reference.
    Sequential,
    /// By conflict level, each level in parallel on the current rayon pool.
    Parallel,
}

/// Transactions one rayon job prepares or executes: enough to make measuring the job cheap,
/// few enough to spread a level over every core.
const CHUNK: usize = 64;

/// `items` in pieces of [`CHUNK`].
fn chunked<T>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut chunks = Vec::with_capacity(items.len().div_ceil(CHUNK));
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<T> = items.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return chunks;
        }
        chunks.push(chunk);
    }
}

/// Shards of the block's change set; a power of two.
const SHARDS: usize = 16;

/// A change with its key's hash, computed once, on the thread that made it.
type Hashed = (u64, StateChange);

/// The block's changes so far, `key -> Some(value) | None (deleted)`, in shards by key hash so
/// that a level's changes are merged on all cores. Hashes are foldhash, randomly seeded per
/// block, so keys chosen by transactions cannot be aimed at one shard or bucket.
struct Changes {
    hasher: hashbrown::DefaultHashBuilder,
    shards: Vec<HashTable<Hashed>>,
}

impl Changes {
    fn new(capacity: usize) -> Changes {
        Changes {
            hasher: hashbrown::DefaultHashBuilder::default(),
            shards: (0..SHARDS)
                .map(|_| HashTable::with_capacity(capacity / SHARDS))
                .collect(),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(hash: u64) -> usize {
        // Middle bits: the table itself uses the low bits for buckets and the top ones for tags.
        (hash >> 32) as usize & (SHARDS - 1)
    }

    fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        let hash = self.hash(key);
        self.shards[Changes::shard(hash)]
            .find(hash, |(_, c)| c.key == key)
            .map(|(_, c)| &c.value)
    }

    fn hashed(&self, changes: Vec<StateChange>) -> Vec<Hashed> {
        changes
            .into_iter()
            .map(|c| (self.hash(&c.key), c))
            .collect()
    }

    fn insert(shard: &mut HashTable<Hashed>, (hash, change): Hashed) {
        match shard.find_mut(hash, |(_, c)| c.key == change.key) {
            Some(slot) => slot.1.value = change.value,
            None => {
                shard.insert_unique(hash, (hash, change), |(h, _)| *h);
            }
        }
    }

    /// Merges changes of one transaction or hook.
    fn absorb(&mut self, changes: Vec<Hashed>) {
        for hashed in changes {
            let shard = Changes::shard(hashed.0);
            Changes::insert(&mut self.shards[shard], hashed);
        }
    }

    /// Merges the changes of one level, whose transactions wrote disjoint keys, on all cores.
    fn absorb_level(&mut self, level: Vec<Vec<Hashed>>) {
        let total: usize = level.iter().map(Vec::len).sum();
        let mut by_shard: Vec<Vec<Hashed>> = (0..SHARDS)
            .map(|_| Vec::with_capacity(total / SHARDS + total / (4 * SHARDS) + 8))
            .collect();
        for hashed in level.into_iter().flatten() {
            by_shard[Changes::shard(hashed.0)].push(hashed);
        }
        self.shards
            .par_iter_mut()
            .zip(by_shard)
            .for_each(|(shard, changes)| {
                measure(Stage::Execution, || {
                    for hashed in changes {
                        Changes::insert(shard, hashed);
                    }
                })
            });
    }

    /// Every change, sorted by key.
    fn into_sorted(self, mode: Mode) -> Vec<StateChange> {
        // Keys are unique here; sorting leaves `from_changes` a single sorted run.
        match mode {
            Mode::Sequential => {
                let mut changes: Vec<StateChange> = self
                    .shards
                    .into_iter()
                    .flat_map(|shard| shard.into_iter().map(|(_, c)| c))
                    .collect();
                changes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                changes
            }
            Mode::Parallel => {
                let mut changes: Vec<StateChange> = self
                    .shards
                    .into_par_iter()
                    .flat_map_iter(|shard| shard.into_iter().map(|(_, c)| c))
                    .collect();
                changes.par_sort_unstable_by(|a, b| a.key.cmp(&b.key));
                changes
            }
        }
    }
}

/// Snapshot plus the block's changes so far.
struct Layered<'a> {
    base: &'a (dyn StateView + Sync),
    changes: &'a Changes,
}

impl StateView for Layered<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }
}

/// Executes `txs` as block `env.height` over `state`.
pub fn execute_block(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    state: &(dyn StateView + Sync),
    mode: Mode,
) -> Result<BlockOutput, RuntimeError> {
    // Sized for a transfer's three keys per transaction, so it never grows mid-block.
    let mut changes = Changes::new(4 * txs.len() + 64);
    let begin = runtime.begin_block(env, state)?;
    let begin = changes.hashed(begin);
    changes.absorb(begin);

    let mut receipts: Vec<Option<Receipt>> = vec![None; txs.len()];
    let mut fees = FeeTotals::default();
    let mut account = |index: usize, receipt: Receipt, tx_fees: FeeTotals| {
        fees.base = fees.base.saturating_add(tx_fees.base);
        fees.tips = fees.tips.saturating_add(tx_fees.tips);
        receipts[index] = Some(receipt);
    };

    match mode {
        Mode::Sequential => {
            for (index, tx) in txs.iter().enumerate() {
                let prepared = runtime.prepare(tx);
                let view = Layered {
                    base: state,
                    changes: &changes,
                };
                let effects = runtime.apply(env, tx, prepared, &view)?;
                let hashed = changes.hashed(effects.changes);
                changes.absorb(hashed);
                account(index, effects.receipt, effects.fees);
            }
        }
        Mode::Parallel => {
            let hasher = &changes.hasher;
            let prepared: Vec<(PreparedTx, KeyHashes)> = txs
                .par_chunks(CHUNK)
                .flat_map_iter(|chunk| {
                    measure(Stage::Execution, || {
                        chunk
                            .iter()
                            .map(|tx| {
                                let prepared = runtime.prepare(tx);
                                // Warm the snapshot while the schedule is not yet known:
                                // these loads are independent, so the memory system overlaps
                                // them.
                                for key in prepared.access.writes().chain(prepared.access.reads()) {
                                    state.prefetch(key);
                                }
                                let hashes = KeyHashes::of(&prepared, hasher);
                                (prepared, hashes)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for level in schedule(prepared) {
                let view = Layered {
                    base: state,
                    changes: &changes,
                };
                let results: Vec<(usize, Receipt, FeeTotals, Vec<Hashed>)> = chunked(level)
                    .into_par_iter()
                    .flat_map_iter(|chunk| {
                        measure(Stage::Execution, || {
                            chunk
                                .into_iter()
                                .map(|(index, prepared)| {
                                    let effects =
                                        runtime.apply(env, &txs[index], prepared, &view)?;
                                    let hashed = view.changes.hashed(effects.changes);
                                    Ok((index, effects.receipt, effects.fees, hashed))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect::<Result<_, RuntimeError>>()?;
                let mut level_changes = Vec::with_capacity(results.len());
                for (index, receipt, tx_fees, hashed) in results {
                    account(index, receipt, tx_fees);
                    level_changes.push(hashed);
                }
                changes.absorb_level(level_changes);
            }
        }
    }

    let view = Layered {
        base: state,
        changes: &changes,
    };
    let (end, validators) = runtime.end_block(env, fees, &view)?;
    let end = changes.hashed(end);
    changes.absorb(end);
    let receipts = receipts
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every transaction is scheduled once")))
        .collect();
    let delta = StateDelta::from_changes(changes.into_sorted(mode));
    Ok(BlockOutput {
        receipts,
        delta,
        fees,
        validators,
    })
}

/// A transaction's declared keys as hashes, for scheduling.
struct KeyHashes {
    everything: bool,
    reads: Vec<u64>,
    writes: Vec<u64>,
}

impl KeyHashes {
    fn of(tx: &PreparedTx, hasher: &hashbrown::DefaultHashBuilder) -> KeyHashes {
        KeyHashes {
            everything: tx.access.is_everything(),
            reads: tx.access.reads().map(|k| hasher.hash_one(k)).collect(),
            writes: tx.access.writes().map(|k| hasher.hash_one(k)).collect(),
        }
    }
}

/// Groups transactions into levels: each level's transactions touch disjoint keys, and each
/// transaction's level is above that of every earlier transaction it conflicts with.
///
/// Keys are tracked by a 64-bit hash: two keys sharing a hash only make two transactions look
/// conflicting, which orders them needlessly but never wrongly.
fn schedule(prepared: Vec<(PreparedTx, KeyHashes)>) -> Vec<Vec<(usize, PreparedTx)>> {
    // Per key hash: the highest levels that wrote and that read it.
    #[derive(Default, Clone, Copy)]
    struct Seen {
        written: usize,
        read: usize,
    }
    let mut seen: HashMap<u64, Seen> = HashMap::with_capacity(4 * prepared.len());
    // A transaction that may touch everything is a barrier: all later ones go above it,
    // and it goes above all earlier ones.
    let mut barrier = 0;
    let mut highest = 0;
    let mut levels: Vec<Vec<(usize, PreparedTx)>> = Vec::new();
    for (index, (tx, keys)) in prepared.into_iter().enumerate() {
        let level = if keys.everything {
            barrier = highest + 1;
            barrier
        } else {
            let mut after = barrier;
            for key in &keys.reads {
                if let Some(s) = seen.get(key) {
                    after = after.max(s.written);
                }
            }
            for key in &keys.writes {
                if let Some(s) = seen.get(key) {
                    after = after.max(s.written).max(s.read);
                }
            }
            let level = after + 1;
            for key in keys.reads {
                let s = seen.entry(key).or_default();
                s.read = s.read.max(level);
            }
            for key in keys.writes {
                let s = seen.entry(key).or_default();
                s.written = s.written.max(level);
            }
            level
        };
        highest = highest.max(level);
        if levels.len() < level {
            levels.resize_with(level, Vec::new);
        }
        levels[level - 1].push((index, tx));
    }
    levels
}

#[cfg(test)]
mod tests;
