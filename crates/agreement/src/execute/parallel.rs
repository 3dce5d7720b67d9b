//! A block's transactions by their conflict graph, on the rayon pool.
//!
//! ```text
//! block:   [ run ][alone][ run ... ]   a transaction that may touch everything (or whose
//!                                      keys share a hash) runs alone, in order
//! run:     graph -> worth threads?  no: in order over the block's changes
//!                                   yes: by the graph, below; then its changes merged
//! ```
//!
//! Each job holds a stack of ready transactions. It runs one and counts down the
//! transactions waiting for it; those that reach zero are ready. The job keeps one and hands
//! the rest to the pool in pieces, so a chain of conflicts (every swap on one pool) stays on
//! one thread without a hand-off per transaction, and independent work spreads.
//!
//! Nothing is locked while transactions run. A transaction's output (its changes, and for
//! each key it declared as written but left alone, the value it saw) is written once, before
//! the transactions waiting for it are released. A transaction reads key `k` from the output
//! of `k`'s source (the last earlier transaction that declared a write of `k`, known from the
//! graph), or, without one, from the block's changes before the run and the snapshot, which
//! no one writes during the run.

use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use lamina_interop::block::Receipt;
use lamina_interop::module::{Env, StateError, StateView};
use lamina_interop::profile::{measure, Stage};
use parking_lot::Mutex;

use super::graph::{Graph, KeyHashes, NONE};
use super::{in_order, Changes, Hashed, Layered, Mode, CHUNK, SHARDS, SMALL_BLOCK};
use crate::runtime::{FeeTotals, PreparedTx, Runtime, RuntimeError};
use crate::tx::VerifiedTx;

/// Runs `txs`, prepared, with declared keys hashed to `keys`, over `state` plus `changes`,
/// into which their changes go; one receipt and fee per transaction, in block order. In
/// [`Mode::Parallel`] a run goes by the graph only where that is worth the threads.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    state: &(dyn StateView + Sync),
    prepared: Vec<PreparedTx>,
    keys: Vec<KeyHashes>,
    changes: &mut Changes,
    mode: Mode,
) -> Result<Vec<(Receipt, FeeTotals)>, RuntimeError> {
    let mut results = Vec::with_capacity(txs.len());
    let mut prepared = prepared.into_iter();
    let mut keys = keys.into_iter();
    let mut start = 0;
    while start < txs.len() {
        // The run up to the next transaction that runs alone.
        let mut run_prepared = Vec::new();
        let mut run_keys = Vec::new();
        let mut alone = None;
        for (tx, hashes) in prepared.by_ref().zip(keys.by_ref()) {
            if hashes.alone {
                alone = Some(tx);
                break;
            }
            run_prepared.push(tx);
            run_keys.push(hashes);
        }
        let end = start + run_prepared.len();
        let run_txs = &txs[start..end];
        if !run_prepared.is_empty() {
            let graph = Graph::build(&run_prepared, &run_keys);
            let threads = rayon::current_num_threads();
            let worth = run_prepared.len() >= SMALL_BLOCK && graph.worth_threads(threads);
            if worth || mode == Mode::Graph {
                let outputs = by_graph(
                    runtime,
                    env,
                    run_txs,
                    state,
                    changes,
                    run_prepared,
                    &run_keys,
                    &graph,
                )?;
                merge(outputs, changes, &mut results);
            } else {
                results.extend(in_order(
                    runtime,
                    env,
                    run_txs,
                    run_prepared,
                    state,
                    changes,
                )?);
            }
        }
        start = end;
        if let Some(tx) = alone {
            results.extend(in_order(
                runtime,
                env,
                &txs[start..start + 1],
                [tx],
                state,
                changes,
            )?);
            start += 1;
        }
    }
    Ok(results)
}

/// What a transaction left for the ones after it, and for the block.
struct Output {
    receipt: Receipt,
    fees: FeeTotals,
    changes: Vec<Hashed>,
    /// For each declared write it did not make: what it saw, so that a later reader of
    /// that key need look no further.
    passed_on: Vec<(u64, Seen)>,
}

/// A key's value as a transaction's output knows it.
#[derive(Clone)]
enum Seen {
    Value(Option<Vec<u8>>),
    /// As before the run: the block's earlier changes, else the snapshot.
    Before,
}

impl Output {
    /// The value of the declared write whose key hashes to `hash`.
    fn find(&self, hash: u64) -> Seen {
        if let Some((_, change)) = self.changes.iter().find(|(h, _)| *h == hash) {
            return Seen::Value(change.value.clone());
        }
        match self.passed_on.iter().find(|(h, _)| *h == hash) {
            Some((_, seen)) => seen.clone(),
            // Every declared write is a change or passed on.
            None => Seen::Before,
        }
    }
}

struct Run<'a> {
    runtime: &'a Runtime,
    env: &'a Env,
    txs: &'a [VerifiedTx],
    before: Layered<'a>,
    hasher: &'a hashbrown::DefaultHashBuilder,
    keys: &'a [KeyHashes],
    graph: &'a Graph,
    /// Each transaction's prepared call, taken by the one job that runs it.
    prepared: Vec<Mutex<Option<PreparedTx>>>,
    /// How many earlier transactions each still waits for.
    waits: Vec<AtomicU32>,
    outputs: Vec<OnceLock<Output>>,
    /// The first transaction whose state could not be read: the block fails, the rest stop.
    failed: Mutex<Option<(u32, RuntimeError)>>,
    stop: AtomicBool,
    threads: usize,
}

/// Runs `txs` by `graph` over `state` plus `changes`; their outputs, in block order.
#[allow(clippy::too_many_arguments)]
fn by_graph(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    state: &(dyn StateView + Sync),
    changes: &Changes,
    prepared: Vec<PreparedTx>,
    keys: &[KeyHashes],
    graph: &Graph,
) -> Result<Vec<Output>, RuntimeError> {
    let run = Run {
        runtime,
        env,
        txs,
        before: Layered {
            base: state,
            changes,
        },
        hasher: &changes.hasher,
        keys,
        graph,
        prepared: prepared.into_iter().map(|p| Mutex::new(Some(p))).collect(),
        waits: graph.waits.iter().map(|&w| AtomicU32::new(w)).collect(),
        outputs: txs.iter().map(|_| OnceLock::new()).collect(),
        failed: Mutex::new(None),
        stop: AtomicBool::new(false),
        threads: rayon::current_num_threads(),
    };
    rayon::scope(|scope| run.hand_out(scope, graph.roots()));
    if let Some((_, error)) = run.failed.into_inner() {
        return Err(error);
    }
    Ok(run
        .outputs
        .into_iter()
        .map(|output| match output.into_inner() {
            Some(output) => output,
            None => unreachable!("with no failure every transaction runs"),
        })
        .collect())
}

impl<'a> Run<'a> {
    /// Hands `ready` to the pool in pieces: eight a thread, so a thread that finishes early
    /// finds work to take, and at most [`CHUNK`] each, so that measuring a job stays cheap.
    fn hand_out(&'a self, scope: &rayon::Scope<'a>, mut ready: Vec<u32>) {
        let piece = (ready.len() / (8 * self.threads)).clamp(1, CHUNK);
        while !ready.is_empty() {
            let job = ready.split_off(ready.len().saturating_sub(piece));
            scope.spawn(move |scope| self.work(scope, job));
        }
    }

    /// Runs `ready` and whatever it releases, keeping one released transaction at a time.
    fn work(&'a self, scope: &rayon::Scope<'a>, mut ready: Vec<u32>) {
        measure(Stage::Execution, || {
            let mut released = Vec::new();
            while let Some(tx) = ready.pop() {
                if self.stop.load(Ordering::Relaxed) || !self.execute(tx) {
                    return;
                }
                for &next in self.graph.dependents(tx) {
                    if self.waits[next as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                        released.push(next);
                    }
                }
                if let Some(keep) = released.pop() {
                    ready.push(keep);
                }
                if !released.is_empty() {
                    self.hand_out(scope, std::mem::take(&mut released));
                }
            }
        })
    }

    /// Runs `tx` and records its output; false if its state could not be read.
    fn execute(&self, tx: u32) -> bool {
        let index = tx as usize;
        let Some(prepared) = self.prepared[index].lock().take() else {
            unreachable!("a transaction is released once")
        };
        let view = View { run: self, tx };
        match self
            .runtime
            .apply(self.env, &self.txs[index], prepared, &view)
        {
            Ok(effects) => {
                let changes: Vec<Hashed> = effects
                    .changes
                    .into_iter()
                    .map(|c| (self.hasher.hash_one(&c.key), c))
                    .collect();
                let keys = &self.keys[index];
                let mut passed_on = Vec::new();
                for (position, hash) in keys.writes() {
                    let made = changes.iter().any(|(h, _)| *h == hash)
                        || passed_on.iter().any(|(h, _)| *h == hash);
                    if !made {
                        passed_on.push((hash, self.source_value(tx, position, hash)));
                    }
                }
                // Set once: the job that took the prepared call is the only one here.
                let _ = self.outputs[index].set(Output {
                    receipt: effects.receipt,
                    fees: effects.fees,
                    changes,
                    passed_on,
                });
                true
            }
            Err(error) => {
                let mut failed = self.failed.lock();
                if failed.as_ref().is_none_or(|(first, _)| tx < *first) {
                    *failed = Some((tx, error));
                }
                self.stop.store(true, Ordering::Relaxed);
                false
            }
        }
    }

    /// What `tx`'s declared key at `position` (hashing to `hash`) holds before `tx`.
    fn source_value(&self, tx: u32, position: usize, hash: u64) -> Seen {
        let source = self.graph.source(tx, position);
        if source == NONE {
            return Seen::Before;
        }
        match self.outputs[source as usize].get() {
            Some(output) => output.find(hash),
            None => unreachable!("a transaction runs after its sources"),
        }
    }
}

/// What one transaction of a run sees: each declared key from its source.
struct View<'r, 'a> {
    run: &'r Run<'a>,
    tx: u32,
}

impl StateView for View<'_, '_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let hash = self.run.hasher.hash_one(key);
        // The working set refuses undeclared keys before it asks, and a transaction's
        // declared keys have distinct hashes (or it runs alone): the position is the key's.
        let seen = match self.run.keys[self.tx as usize].position(hash) {
            Some(position) => self.run.source_value(self.tx, position, hash),
            None => Seen::Before,
        };
        match seen {
            Seen::Value(value) => Ok(value),
            Seen::Before => self.run.before.get(key),
        }
    }
}

/// Adds a run's outputs to `changes` (each shard on its own thread, in block order within
/// it) and their receipts and fees to `results`.
fn merge(outputs: Vec<Output>, changes: &mut Changes, results: &mut Vec<(Receipt, FeeTotals)>) {
    let total: usize = outputs.iter().map(|o| o.changes.len()).sum();
    let mut by_shard: Vec<Vec<Hashed>> = (0..SHARDS)
        .map(|_| Vec::with_capacity(total / SHARDS + total / (4 * SHARDS) + 8))
        .collect();
    for output in outputs {
        results.push((output.receipt, output.fees));
        for hashed in output.changes {
            by_shard[Changes::shard(hashed.0)].push(hashed);
        }
    }
    changes.merge_by_shard(by_shard);
}
