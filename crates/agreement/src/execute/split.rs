//! A run's transactions split into one share per thread by their conflict components, each
//! share run in block order by one thread over changes of its own.
//!
//! ```text
//! components:  transactions joined through every key one of them writes (union-find)
//! shares:      whole components, largest first, each to the lightest share
//! run:         one job per thread (rayon's broadcast): its share in block order, each
//!              call applied over its own changes, then the block's, then the snapshot
//! merge:       the shares' changes into the block's, a shard per job (keys are disjoint)
//! ```
//!
//! Why this equals sequential execution: two transactions in different components touch no
//! key that either writes, so neither can see the other's effects, in whatever order the
//! threads run them; within a share, a component's transactions run in block order, as in
//! sequential execution. Keys are grouped by their 64-bit hash, not their bytes: two keys
//! that share a hash join their components, which costs parallelism, never exactness.
//!
//! Unlike the graph (`parallel.rs`), a thread never waits for another or reads what another
//! wrote, and each applies its calls one after another in its own tables, as in order: so
//! it pays from two threads (ADR 0031). It gains only where components are many; a block
//! held by one hot component runs in order.

use hashbrown::HashTable;
use lamina_interop::block::Receipt;
use lamina_interop::module::{Env, StateError, StateView};
use lamina_interop::profile::{measure, Stage};
use parking_lot::Mutex;
use rayon::prelude::*;

use super::graph::KeyHashes;
use super::{Changes, Hashed, Layered, CHUNK, SHARDS, SMALL_BLOCK};
use crate::runtime::{FeeTotals, Runtime, RuntimeError};
use crate::tx::VerifiedTx;

/// A split must promise at least this speed-up, in quarters, over running in order: the
/// components and the merge cost a few percent of a block, and a share that holds most of
/// it gains nothing.
const WORTH_QUARTERS: usize = 5;

/// The transactions of each share, in block order; `None` when the largest share would
/// leave the threads less than [`WORTH_QUARTERS`] of a speed-up.
pub(super) fn plan(keys: &[KeyHashes], threads: usize) -> Option<Vec<Vec<u32>>> {
    let n = keys.len();
    if threads < 2 || n < 2 {
        return None;
    }
    let mut parent: Vec<u32> = (0..n as u32).collect();
    // Each written key's first writer; every later toucher of the key joins its component.
    let mut writers: HashTable<(u64, u32)> = HashTable::with_capacity(2 * n);
    for (i, hashes) in keys.iter().enumerate() {
        for (_, hash) in hashes.writes() {
            match writers.find(hash, |&(h, _)| h == hash) {
                Some(&(_, first)) => union(&mut parent, first, i as u32),
                None => {
                    writers.insert_unique(hash, (hash, i as u32), |&(h, _)| h);
                }
            }
        }
    }
    for (i, hashes) in keys.iter().enumerate() {
        for &hash in &hashes.hashes[..hashes.reads] {
            if let Some(&(_, first)) = writers.find(hash, |&(h, _)| h == hash) {
                union(&mut parent, first, i as u32);
            }
        }
    }
    let mut size = vec![0u32; n];
    for i in 0..n as u32 {
        let root = find(&mut parent, i);
        size[root as usize] += 1;
    }
    let mut components: Vec<(u32, u32)> = (0..n as u32)
        .filter(|&i| size[i as usize] > 0)
        .map(|i| (size[i as usize], i))
        .collect();
    // Largest first, ties by position, so the split is the same on every run.
    components.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut loads = vec![0usize; threads];
    // `size` becomes each root's share.
    for (component_size, root) in components {
        let (lightest, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|(_, load)| **load)
            .unwrap_or((0, &0));
        loads[lightest] += component_size as usize;
        size[root as usize] = lightest as u32;
    }
    let heaviest = loads.iter().copied().max().unwrap_or(n);
    if 4 * n < WORTH_QUARTERS * heaviest {
        return None;
    }
    let mut shares: Vec<Vec<u32>> = loads.iter().map(|&l| Vec::with_capacity(l)).collect();
    for i in 0..n as u32 {
        let root = find(&mut parent, i);
        shares[size[root as usize] as usize].push(i);
    }
    Some(shares)
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        // Path halving.
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (a, b) = (find(parent, a), find(parent, b));
    // The earlier transaction stays the root.
    if a < b {
        parent[b as usize] = a;
    } else if b < a {
        parent[a as usize] = b;
    }
}

/// Blocks split so far, for tests that must reach this path.
#[cfg(test)]
pub(super) static SPLITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What one share produced: each transaction's receipt and fees with its position, and the
/// share's changes; or the first transaction whose state could not be read.
type ShareOutput = Result<(Vec<(u32, Receipt, FeeTotals)>, Changes), (u32, RuntimeError)>;

/// Runs `txs` over `changes` and `state` split into one share per thread, their changes
/// into `changes`: one receipt and fee per transaction, in block order. `None`, with
/// nothing changed, where the split would not pay: a sample of the block (its first
/// sixteenth) is planned first, so a block held by one component costs a small part of it.
pub(super) fn run(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    state: &(dyn StateView + Sync),
    changes: &mut Changes,
    threads: usize,
) -> Option<Result<Vec<(Receipt, FeeTotals)>, RuntimeError>> {
    let n = txs.len();
    let hasher = &changes.hasher;
    let sample = (n / 16).clamp(SMALL_BLOCK.min(n), n);
    let mut keys = declared(runtime, &txs[..sample], hasher)?;
    plan(&keys, threads)?;
    keys.extend(declared(runtime, &txs[sample..], hasher)?);
    let shares = plan(&keys, threads)?;
    drop(keys);
    #[cfg(test)]
    SPLITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    let work: Vec<Mutex<Option<Vec<u32>>>> = shares
        .into_iter()
        .map(|share| Mutex::new(Some(share)))
        .collect();
    let before = Layered {
        base: state,
        changes: &*changes,
    };
    let outputs: Vec<Option<ShareOutput>> = rayon::broadcast(|job| {
        let positions = work.get(job.index())?.lock().take()?;
        Some(measure(Stage::Execution, || {
            run_share(runtime, env, txs, &before, positions)
        }))
    });

    let mut results: Vec<Option<(Receipt, FeeTotals)>> = (0..n).map(|_| None).collect();
    let mut first_failure: Option<(u32, RuntimeError)> = None;
    let mut by_shard: Vec<Vec<HashTable<Hashed>>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for output in outputs.into_iter().flatten() {
        match output {
            Ok((receipts, own)) => {
                for (i, receipt, fees) in receipts {
                    results[i as usize] = Some((receipt, fees));
                }
                for (s, shard) in own.shards.into_iter().enumerate() {
                    by_shard[s].push(shard);
                }
            }
            Err((i, error)) => {
                if first_failure.as_ref().is_none_or(|(first, _)| i < *first) {
                    first_failure = Some((i, error));
                }
            }
        }
    }
    if let Some((_, error)) = first_failure {
        return Some(Err(error));
    }
    // The shares wrote disjoint keys: the order between them does not matter.
    changes.merge_by_shard(
        by_shard
            .into_iter()
            .map(|owns| owns.into_iter().flatten())
            .collect(),
    );
    let mut ordered = Vec::with_capacity(n);
    for result in results {
        // Every share ran all its transactions, or one failed and returned above.
        ordered.push(result?);
    }
    Some(Ok(ordered))
}

/// Each transaction's declared keys, hashed, on all threads; `None` if one may touch
/// everything. The declared sets are dropped where they were made: each share prepares its
/// calls again as it runs them, while their data is hot (ADR 0031).
fn declared(
    runtime: &Runtime,
    txs: &[VerifiedTx],
    hasher: &hashbrown::DefaultHashBuilder,
) -> Option<Vec<KeyHashes>> {
    let keys: Vec<Option<KeyHashes>> = txs
        .par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            measure(Stage::Execution, || {
                chunk
                    .iter()
                    .map(|tx| KeyHashes::declared(&runtime.declare(tx), hasher))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    keys.into_iter().collect()
}

/// Runs one share in block order over its own changes, then `before`, preparing each call
/// as it runs it.
fn run_share(
    runtime: &Runtime,
    env: &Env,
    txs: &[VerifiedTx],
    before: &Layered<'_>,
    positions: Vec<u32>,
) -> ShareOutput {
    // Room for eight changed keys a transaction, so the tables never grow mid-share (a
    // share of swaps changes about three and a half; measured: at four, one of two equal
    // shares ran 40% slower than the other).
    let mut own = Changes::with_hasher(before.changes.hasher.clone(), 8 * positions.len() + 64);
    let mut out = Vec::with_capacity(positions.len());
    for i in positions {
        let tx = &txs[i as usize];
        let view = Stacked { own: &own, before };
        let effects = runtime
            .apply(env, tx, runtime.prepare(tx), &view)
            .map_err(|e| (i, e))?;
        own.absorb(effects.changes);
        out.push((i, effects.receipt, effects.fees));
    }
    Ok((out, own))
}

/// A share's view: its own changes, then the block's before the run, then the snapshot.
struct Stacked<'a> {
    own: &'a Changes,
    before: &'a Layered<'a>,
}

impl StateView for Stacked<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let hash = Changes::hash(&self.own.hasher, key);
        match Changes::find(&self.own.shards[Changes::shard(hash)], hash, key) {
            Some(change) => Ok(change.value.clone()),
            None => self.before.get_hashed(hash, key),
        }
    }
}
