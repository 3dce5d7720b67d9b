//! Block execution: a block's transactions over a state snapshot, in parallel where their
//! access sets are disjoint, with a result byte-identical to running them one by one.
//!
//! ```text
//! begin-block hooks                                        (sequential)
//! split:    where the block's conflict components leave    (split.rs, from two threads)
//!           every thread a share: each thread runs its
//!           share in order over changes of its own
//! else
//! prepare:  decode each call, declare its keys              (parallel)
//! graph:    tx -> the earlier txs it conflicts with         (graph.rs)
//! run:      a tx starts once those are done; its changes    (parallel.rs, on the rayon pool)
//!           go into the block's change set, its dependents
//!           are released, the thread goes on with one
//!           (or: in block order, when the longest chain of
//!           conflicts leaves threads nothing to share)
//! end-block hooks, fee payout                               (sequential)
//! ```
//!
//! Why this equals sequential execution: two transactions conflict when one writes a key the
//! other reads or writes, and a transaction starts only after every earlier transaction it
//! conflicts with has finished. So when it reads a key, the block's change set holds that key
//! as the last earlier writer left it (later writers of the key wait for it), and
//! transactions that run at the same time touch disjoint keys. A transaction that touches an
//! undeclared key fails the same way in both (the working set checks the declared set, not
//! what happened to be written), so declaring too little never makes the two differ. A split
//! is the coarse form of the same rule: conflicting transactions share a component, and a
//! component runs whole, in block order, on one thread. ADR 0031 compares these with the
//! conflict levels they replaced, on hot pools.

use std::hash::BuildHasher as _;

use hashbrown::HashTable;

use lamina_interop::block::{Receipt, StateChange, StateDelta};
use lamina_interop::module::{Env, StateError, StateView, ValidatorSet};
use lamina_interop::profile::{measure, Stage};
use rayon::prelude::*;

use crate::runtime::{FeeTotals, PreparedTx, Runtime, RuntimeError};
use crate::tx::VerifiedTx;

mod graph;
mod parallel;
mod split;

use graph::KeyHashes;

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
    /// On the current rayon pool: split by conflict components where every thread gets a
    /// share (see `split.rs`), else by the conflict graph where that promises to be faster
    /// (see `graph.rs`), else in block order. The pipeline's mode.
    Parallel,
    /// By the conflict graph whatever the block's shape or the pool's size: for measuring
    /// the graph where [`Mode::Parallel`] would not choose it.
    Graph,
}

/// Transactions one rayon job prepares or starts with: enough to make measuring the job
/// cheap, few enough to spread a block over every core.
const CHUNK: usize = 64;

/// Below this many transactions a block runs in order: the graph would cost more than the
/// threads give back.
const SMALL_BLOCK: usize = 32;

/// Shards of the block's change set; a power of two.
const SHARDS: usize = 16;

/// A change with its key's hash, computed once, on the thread that made it.
type Hashed = (u64, StateChange);

/// The block's changes so far, `key -> Some(value) | None (deleted)`, in shards by key hash.
/// Hashes are foldhash, randomly seeded per block, so keys chosen by transactions cannot be
/// aimed at one shard or bucket.
struct Changes {
    hasher: hashbrown::DefaultHashBuilder,
    shards: Vec<HashTable<Hashed>>,
}

impl Changes {
    fn new(capacity: usize) -> Changes {
        Changes::with_hasher(hashbrown::DefaultHashBuilder::default(), capacity)
    }

    /// Changes whose keys hash as another's do (so shards can be merged as they are).
    fn with_hasher(hasher: hashbrown::DefaultHashBuilder, capacity: usize) -> Changes {
        Changes {
            hasher,
            shards: (0..SHARDS)
                .map(|_| HashTable::with_capacity(capacity / SHARDS))
                .collect(),
        }
    }

    fn hash(hasher: &hashbrown::DefaultHashBuilder, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }

    fn shard(hash: u64) -> usize {
        // Middle bits: the table itself uses the low bits for buckets and the top ones for tags.
        (hash >> 32) as usize & (SHARDS - 1)
    }

    fn find<'t>(shard: &'t HashTable<Hashed>, hash: u64, key: &[u8]) -> Option<&'t StateChange> {
        shard.find(hash, |(_, c)| c.key == key).map(|(_, c)| c)
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
    fn absorb(&mut self, changes: Vec<StateChange>) {
        for change in changes {
            let hash = Changes::hash(&self.hasher, &change.key);
            let shard = Changes::shard(hash);
            Changes::insert(&mut self.shards[shard], (hash, change));
        }
    }

    /// Adds changes already hashed by this hasher and grouped by shard, each shard on its
    /// own thread, in the order each group gives them.
    fn merge_by_shard<I>(&mut self, by_shard: Vec<I>)
    where
        I: IntoIterator<Item = Hashed> + Send,
    {
        self.shards
            .par_iter_mut()
            .zip(by_shard)
            .for_each(|(shard, hashed)| {
                measure(Stage::Execution, || {
                    for change in hashed {
                        Changes::insert(shard, change);
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
            Mode::Parallel | Mode::Graph => {
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

impl Layered<'_> {
    /// The value of `key`, whose hash by the changes' hasher is `hash`.
    fn get_hashed(&self, hash: u64, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match Changes::find(&self.changes.shards[Changes::shard(hash)], hash, key) {
            Some(change) => Ok(change.value.clone()),
            None => self.base.get(key),
        }
    }
}

impl StateView for Layered<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get_hashed(Changes::hash(&self.changes.hasher, key), key)
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
    changes.absorb(runtime.begin_block(env, state)?);

    let threads = rayon::current_num_threads();
    // Split into one share per thread by conflict components, where that pays (split.rs).
    let split = match mode {
        Mode::Parallel if threads >= 2 && txs.len() >= SMALL_BLOCK => {
            split::run(runtime, env, txs, state, &mut changes, threads)
        }
        _ => None,
    };
    // Else too few threads to pay for the graph, or a block too small to share: parallel
    // mode has nothing to gain, and in order it prepares each call as it runs it.
    let mode = match mode {
        Mode::Parallel if !graph::could_pay(threads) || txs.len() < SMALL_BLOCK => Mode::Sequential,
        mode => mode,
    };
    // A split block's changes are many: sort them on all threads.
    let sort = if split.is_some() {
        Mode::Parallel
    } else {
        mode
    };
    let results = match (split, mode) {
        (Some(results), _) => results?,
        (None, mode) => match mode {
            Mode::Sequential => in_order(
                runtime,
                env,
                txs,
                txs.iter().map(|tx| runtime.prepare(tx)),
                state,
                &mut changes,
            )?,
            Mode::Parallel | Mode::Graph => {
                let hasher = &changes.hasher;
                let (prepared, keys): (Vec<PreparedTx>, Vec<KeyHashes>) = txs
                    .par_chunks(CHUNK)
                    .flat_map_iter(|chunk| {
                        measure(Stage::Execution, || {
                            chunk
                                .iter()
                                .map(|tx| {
                                    let prepared = runtime.prepare(tx);
                                    // Warm the snapshot while the order is not yet known: these
                                    // loads are independent, so the memory system overlaps them.
                                    for key in
                                        prepared.access.writes().chain(prepared.access.reads())
                                    {
                                        state.prefetch(key);
                                    }
                                    let keys = KeyHashes::of(&prepared, hasher);
                                    (prepared, keys)
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .unzip();
                parallel::run(runtime, env, txs, state, prepared, keys, &mut changes, mode)?
            }
        },
    };

    let mut fees = FeeTotals::default();
    let mut receipts = Vec::with_capacity(results.len());
    for (receipt, tx_fees) in results {
        fees.base = fees.base.saturating_add(tx_fees.base);
        fees.tips = fees.tips.saturating_add(tx_fees.tips);
        receipts.push(receipt);
    }
    let view = Layered {
        base: state,
        changes: &changes,
    };
    let (end, validators) = runtime.end_block(env, fees, &view)?;
    changes.absorb(end);
    let delta = StateDelta::from_changes(changes.into_sorted(sort));
    Ok(BlockOutput {
        receipts,
        delta,
        fees,
        validators,
    })
}

/// Runs `txs`, already prepared, one by one in block order.
fn in_order(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    prepared: impl IntoIterator<Item = PreparedTx>,
    state: &(dyn StateView + Sync),
    changes: &mut Changes,
) -> Result<Vec<(Receipt, FeeTotals)>, RuntimeError> {
    let mut results = Vec::with_capacity(txs.len());
    for (tx, prepared) in txs.iter().zip(prepared) {
        let view = Layered {
            base: state,
            changes: &*changes,
        };
        let effects = runtime.apply(env, tx, prepared, &view)?;
        changes.absorb(effects.changes);
        results.push((effects.receipt, effects.fees));
    }
    Ok(results)
}

#[cfg(test)]
mod tests;
