//! The block's conflict graph: for each transaction, the later transactions that must wait
//! for it, and how many earlier ones it waits for.
//!
//! ```text
//! tx reads  k:  waits for k's last writer
//! tx writes k:  waits for k's last writer and every reader of k since that write
//! tx declares everything: waits for every transaction since the last such one,
//!               and every later transaction waits for it
//! ```
//!
//! Keys are tracked by a 64-bit hash: two keys sharing a hash only make two transactions
//! look conflicting, which orders them needlessly but never wrongly.

use std::hash::BuildHasher as _;

use hashbrown::HashMap;

use crate::runtime::PreparedTx;

/// A transaction's declared keys as hashes.
pub(super) struct KeyHashes {
    everything: bool,
    reads: Vec<u64>,
    writes: Vec<u64>,
}

impl KeyHashes {
    pub(super) fn of(tx: &PreparedTx, hasher: &hashbrown::DefaultHashBuilder) -> KeyHashes {
        KeyHashes {
            everything: tx.access.is_everything(),
            reads: tx.access.reads().map(|k| hasher.hash_one(k)).collect(),
            writes: tx.access.writes().map(|k| hasher.hash_one(k)).collect(),
        }
    }
}

/// No transaction.
const NONE: u32 = u32::MAX;

/// The conflict graph of a block's transactions, indexed by position in the block.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Graph {
    /// `dependents[offsets[i]..offsets[i + 1]]`: the transactions that wait for `i`.
    offsets: Vec<u32>,
    dependents: Vec<u32>,
    /// How many earlier transactions each waits for.
    pub(super) waits: Vec<u32>,
    /// The longest chain of transactions each waiting for the one before.
    pub(super) critical_path: u32,
}

impl Graph {
    /// The graph of transactions with declared keys `keys`, in block order.
    pub(super) fn build(keys: &[KeyHashes]) -> Graph {
        /// Per key: its last writer, and the readers since that write as a list in `readers`.
        #[derive(Clone, Copy)]
        struct Seen {
            writer: u32,
            readers: u32,
        }
        let n = keys.len();
        let mut seen: HashMap<u64, Seen> = HashMap::with_capacity(4 * n);
        // (transaction, next) nodes of the per-key reader lists.
        let mut readers: Vec<(u32, u32)> = Vec::new();
        let mut barrier = NONE;
        let mut since_barrier: Vec<u32> = Vec::with_capacity(n);
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(2 * n);
        let mut depth: Vec<u32> = Vec::with_capacity(n);
        let mut waits: Vec<u32> = Vec::with_capacity(n);
        let mut on: Vec<u32> = Vec::new();
        for (i, tx) in keys.iter().enumerate() {
            let i = i as u32;
            on.clear();
            if tx.everything {
                on.append(&mut since_barrier);
                on.push(barrier);
                barrier = i;
                // Everything later waits for the barrier, which waits for everything before.
                seen.clear();
                readers.clear();
            } else {
                on.push(barrier);
                since_barrier.push(i);
                for key in &tx.reads {
                    let s = seen.entry(*key).or_insert(Seen {
                        writer: NONE,
                        readers: NONE,
                    });
                    on.push(s.writer);
                    readers.push((i, s.readers));
                    s.readers = (readers.len() - 1) as u32;
                }
                for key in &tx.writes {
                    let s = seen.entry(*key).or_insert(Seen {
                        writer: NONE,
                        readers: NONE,
                    });
                    on.push(s.writer);
                    let mut next = s.readers;
                    while next != NONE {
                        let (reader, after) = readers[next as usize];
                        on.push(reader);
                        next = after;
                    }
                    s.writer = i;
                    s.readers = NONE;
                }
            }
            on.sort_unstable();
            on.dedup();
            // A transaction that reads and writes a key found itself among the readers.
            on.retain(|&t| t != NONE && t != i);
            depth.push(1 + on.iter().map(|&t| depth[t as usize]).max().unwrap_or(0));
            waits.push(on.len() as u32);
            edges.extend(on.iter().map(|&t| (t, i)));
        }
        // Edges grouped by the transaction waited for, in block order within each group.
        let mut offsets = vec![0u32; n + 1];
        for &(from, _) in &edges {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut dependents = vec![0u32; edges.len()];
        for (from, to) in edges {
            dependents[fill[from as usize] as usize] = to;
            fill[from as usize] += 1;
        }
        Graph {
            offsets,
            dependents,
            waits,
            critical_path: depth.into_iter().max().unwrap_or(0),
        }
    }

    /// The transactions that wait for `tx`.
    pub(super) fn dependents(&self, tx: u32) -> &[u32] {
        let tx = tx as usize;
        &self.dependents[self.offsets[tx] as usize..self.offsets[tx + 1] as usize]
    }

    /// The transactions that wait for nothing, in block order.
    pub(super) fn roots(&self) -> Vec<u32> {
        (0..self.waits.len() as u32)
            .filter(|&t| self.waits[t as usize] == 0)
            .collect()
    }

    /// Whether `threads` threads would finish the block sooner by the graph than one thread
    /// in order: the graph costs about a fifth of a transaction's work, so it must promise
    /// at least 1.25 x. With enough threads a block takes about its critical path or its
    /// share of the work, whichever is longer.
    pub(super) fn worth_threads(&self, threads: usize) -> bool {
        let n = self.waits.len();
        if threads < 2 {
            return false;
        }
        let span = (self.critical_path as usize).max(n.div_ceil(threads));
        4 * n >= 5 * span
    }
}
