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

use hashbrown::HashMap;

use lamina_interop::block::{Receipt, StateChange, StateDelta};
use lamina_interop::module::{Env, StateError, StateView};
use rayon::prelude::*;

use crate::runtime::{FeeTotals, PreparedTx, Runtime, RuntimeError, TxEffects};
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
}

/// How to run a block's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One at a time, in block order: the reference.
    Sequential,
    /// By conflict level, each level in parallel on the current rayon pool.
    Parallel,
}

/// Snapshot plus the block's changes so far.
struct Layered<'a> {
    base: &'a (dyn StateView + Sync),
    changes: &'a HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl StateView for Layered<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }
}

fn absorb(changes: &mut HashMap<Vec<u8>, Option<Vec<u8>>>, new: Vec<StateChange>) {
    for change in new {
        changes.insert(change.key, change.value);
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
    let mut changes = HashMap::with_capacity(4 * txs.len() + 64);
    let begin = runtime.begin_block(env, state)?;
    absorb(&mut changes, begin);

    let prepared: Vec<PreparedTx> = match mode {
        Mode::Sequential => txs.iter().map(|tx| runtime.prepare(tx)).collect(),
        Mode::Parallel => txs.par_iter().map(|tx| runtime.prepare(tx)).collect(),
    };
    let mut receipts: Vec<Option<Receipt>> = vec![None; txs.len()];
    let mut fees = FeeTotals::default();
    let mut collect = |index: usize, effects: TxEffects, changes: &mut HashMap<_, _>| {
        absorb(changes, effects.changes);
        fees.base = fees.base.saturating_add(effects.fees.base);
        fees.tips = fees.tips.saturating_add(effects.fees.tips);
        receipts[index] = Some(effects.receipt);
    };

    match mode {
        Mode::Sequential => {
            for (index, (tx, prepared)) in txs.iter().zip(prepared).enumerate() {
                let view = Layered {
                    base: state,
                    changes: &changes,
                };
                let effects = runtime.apply(env, tx, prepared, &view)?;
                collect(index, effects, &mut changes);
            }
        }
        Mode::Parallel => {
            for level in schedule(prepared) {
                let view = Layered {
                    base: state,
                    changes: &changes,
                };
                let results: Vec<(usize, TxEffects)> = level
                    .into_par_iter()
                    .map(|(index, prepared)| {
                        runtime
                            .apply(env, &txs[index], prepared, &view)
                            .map(|effects| (index, effects))
                    })
                    .collect::<Result<_, _>>()?;
                for (index, effects) in results {
                    collect(index, effects, &mut changes);
                }
            }
        }
    }

    let view = Layered {
        base: state,
        changes: &changes,
    };
    let end = runtime.end_block(env, fees, &view)?;
    absorb(&mut changes, end);
    let receipts = receipts
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every transaction is scheduled once")))
        .collect();
    let mut changes: Vec<StateChange> = changes
        .into_iter()
        .map(|(key, value)| StateChange { key, value })
        .collect();
    // Keys are unique here; sorting in parallel leaves `from_changes` a single sorted run.
    match mode {
        Mode::Sequential => changes.sort_unstable_by(|a, b| a.key.cmp(&b.key)),
        Mode::Parallel => changes.par_sort_unstable_by(|a, b| a.key.cmp(&b.key)),
    }
    let delta = StateDelta::from_changes(changes);
    Ok(BlockOutput {
        receipts,
        delta,
        fees,
    })
}

/// Groups transactions into levels: each level's transactions touch disjoint keys, and each
/// transaction's level is above that of every earlier transaction it conflicts with.
///
/// Keys are tracked by a 64-bit hash: two keys sharing a hash only make two transactions look
/// conflicting, which orders them needlessly but never wrongly.
fn schedule(prepared: Vec<PreparedTx>) -> Vec<Vec<(usize, PreparedTx)>> {
    let hasher = hashbrown::DefaultHashBuilder::default();
    // Per key: the highest level that wrote it and the highest that read it.
    let mut written: HashMap<u64, usize> = HashMap::new();
    let mut read: HashMap<u64, usize> = HashMap::new();
    // A transaction that may touch everything is a barrier: all later ones go above it,
    // and it goes above all earlier ones.
    let mut barrier = 0;
    let mut highest = 0;
    let mut levels: Vec<Vec<(usize, PreparedTx)>> = Vec::new();
    for (index, tx) in prepared.into_iter().enumerate() {
        let level = if tx.access.is_everything() {
            barrier = highest + 1;
            barrier
        } else {
            let reads: Vec<u64> = tx.access.reads().map(|k| hasher.hash_one(k)).collect();
            let writes: Vec<u64> = tx.access.writes().map(|k| hasher.hash_one(k)).collect();
            let after_reads = reads.iter().filter_map(|k| written.get(k)).max().copied();
            let after_writes = writes
                .iter()
                .flat_map(|k| [written.get(k), read.get(k)])
                .flatten()
                .max()
                .copied();
            let level = 1 + after_reads.max(after_writes).unwrap_or(0).max(barrier);
            for key in reads {
                let entry = read.entry(key).or_insert(0);
                *entry = (*entry).max(level);
            }
            for key in writes {
                let entry = written.entry(key).or_insert(0);
                *entry = (*entry).max(level);
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
