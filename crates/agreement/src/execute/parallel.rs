//! A block run by its conflict graph on the rayon pool.
//!
//! Each job holds a stack of ready transactions. It runs one, puts its changes in the
//! block's change set, and counts down the transactions waiting for it; those that reach
//! zero are ready. The job keeps one and hands the rest to the pool in pieces, so a chain of
//! conflicts (every swap on one pool) stays on one thread without a hand-off per
//! transaction, and independent work spreads over every thread.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use lamina_interop::block::Receipt;
use lamina_interop::module::{Env, StateView};
use lamina_interop::profile::{measure, Stage};
use parking_lot::Mutex;

use super::graph::Graph;
use super::{Layered, SharedChanges, CHUNK};
use crate::runtime::{FeeTotals, PreparedTx, Runtime, RuntimeError};
use crate::tx::VerifiedTx;

type Outcome = Result<(Receipt, FeeTotals), RuntimeError>;

struct Run<'a> {
    runtime: &'a Runtime,
    env: &'a Env,
    txs: &'a [VerifiedTx],
    state: &'a (dyn StateView + Sync),
    changes: &'a SharedChanges,
    graph: &'a Graph,
    /// Each transaction's prepared call, taken by the one job that runs it.
    prepared: Vec<Mutex<Option<PreparedTx>>>,
    /// How many earlier transactions each still waits for.
    waits: Vec<AtomicU32>,
    outcomes: Vec<OnceLock<Outcome>>,
    /// Set by a transaction whose state could not be read: the block fails, the rest stop.
    failed: AtomicBool,
    /// Ready transactions per job handed to the pool.
    piece: usize,
}

/// Runs `txs` by `graph` over `state` plus `changes`, into which their changes go; one
/// receipt and fee per transaction, in block order.
pub(super) fn run(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    state: &(dyn StateView + Sync),
    prepared: Vec<PreparedTx>,
    graph: &Graph,
    changes: &SharedChanges,
) -> Result<Vec<(Receipt, FeeTotals)>, RuntimeError> {
    let threads = rayon::current_num_threads();
    let run = Run {
        runtime,
        env,
        txs,
        state,
        changes,
        graph,
        prepared: prepared.into_iter().map(|p| Mutex::new(Some(p))).collect(),
        waits: graph.waits.iter().map(|&w| AtomicU32::new(w)).collect(),
        outcomes: txs.iter().map(|_| OnceLock::new()).collect(),
        failed: AtomicBool::new(false),
        // Eight pieces a thread, so a thread that finishes early finds work to take.
        piece: (txs.len() / (8 * threads)).clamp(1, CHUNK),
    };
    rayon::scope(|scope| run.hand_out(scope, graph.roots()));
    let failed = run.failed.into_inner();
    let outcomes = run.outcomes.into_iter().map(OnceLock::into_inner);
    if failed {
        // Transactions after the failure may not have run; the failure is the block's.
        return match outcomes.flatten().find_map(Result::err) {
            Some(error) => Err(error),
            None => unreachable!("only a failed transaction sets `failed`"),
        };
    }
    outcomes
        .map(|outcome| match outcome {
            Some(result) => result,
            None => unreachable!("with no failure every transaction runs"),
        })
        .collect()
}

impl<'a> Run<'a> {
    /// Hands `ready` to the pool in pieces.
    fn hand_out(&'a self, scope: &rayon::Scope<'a>, mut ready: Vec<u32>) {
        while !ready.is_empty() {
            let piece = ready.split_off(ready.len().saturating_sub(self.piece));
            scope.spawn(move |scope| self.work(scope, piece));
        }
    }

    /// Runs `ready` and whatever it releases, keeping one released transaction at a time.
    fn work(&'a self, scope: &rayon::Scope<'a>, mut ready: Vec<u32>) {
        measure(Stage::Execution, || {
            let mut released = Vec::new();
            while let Some(tx) = ready.pop() {
                if self.failed.load(Ordering::Relaxed) {
                    return;
                }
                self.execute(tx);
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

    fn execute(&self, tx: u32) {
        let index = tx as usize;
        let Some(prepared) = self.prepared[index].lock().take() else {
            unreachable!("a transaction is released once")
        };
        let view = Layered {
            base: self.state,
            changes: self.changes,
        };
        let outcome = self
            .runtime
            .apply(self.env, &self.txs[index], prepared, &view)
            .map(|effects| {
                self.changes.absorb(effects.changes);
                (effects.receipt, effects.fees)
            });
        if outcome.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        // Set once: the job that took the prepared call is the only one here.
        let _ = self.outcomes[index].set(outcome);
    }
}
