//! The conflict graph of a run of transactions: for each, the later ones that must wait for
//! it, how many earlier ones it waits for, and, for each key it declares, which earlier
//! transaction last declared a write of that key (its source).
//!
//! ```text
//! tx reads  k:  waits for k's last writer
//! tx writes k:  waits for k's last writer and every reader of k since that write
//! ```
//!
//! Keys are compared by their bytes, so the graph is exact. A transaction that may touch
//! everything, or whose declared keys share a hash (so that a lookup by hash would be
//! ambiguous), is no part of a graph: it runs alone between two runs (see `parallel.rs`).

use std::hash::BuildHasher as _;

use hashbrown::HashTable;

use lamina_interop::module::AccessSet;

use crate::runtime::PreparedTx;

/// A transaction's declared keys as hashes: its reads, then its writes.
pub(super) struct KeyHashes {
    /// Runs alone: it may touch everything, or two of its keys share a hash.
    pub(super) alone: bool,
    pub(super) hashes: Vec<u64>,
    /// How many of `hashes` are reads.
    pub(super) reads: usize,
}

impl KeyHashes {
    pub(super) fn of(tx: &PreparedTx, hasher: &hashbrown::DefaultHashBuilder) -> KeyHashes {
        let access = &tx.access;
        let hashes: Vec<u64> = access
            .reads()
            .chain(access.writes())
            .map(|k| hasher.hash_one(k))
            .collect();
        let reads = access.reads().count();
        // A key both read and written shares its hash with itself; any other pair is a
        // collision.
        let keys: Vec<&Vec<u8>> = access.reads().chain(access.writes()).collect();
        let collides = (0..hashes.len())
            .any(|i| (i + 1..hashes.len()).any(|j| hashes[i] == hashes[j] && keys[i] != keys[j]));
        KeyHashes {
            alone: access.is_everything() || collides,
            hashes,
            reads,
        }
    }

    /// The declared keys' hashes alone, for splitting a block by components (where a
    /// collision only joins two components); `None` if the transaction may touch everything.
    pub(super) fn declared(
        access: &AccessSet,
        hasher: &hashbrown::DefaultHashBuilder,
    ) -> Option<KeyHashes> {
        if access.is_everything() {
            return None;
        }
        let mut hashes: Vec<u64> = access.reads().map(|k| hasher.hash_one(k)).collect();
        let reads = hashes.len();
        hashes.extend(access.writes().map(|k| hasher.hash_one(k)));
        Some(KeyHashes {
            alone: false,
            hashes,
            reads,
        })
    }

    /// Where `hash` is among the declared keys.
    pub(super) fn position(&self, hash: u64) -> Option<usize> {
        self.hashes.iter().position(|h| *h == hash)
    }

    /// The declared writes, with their positions.
    pub(super) fn writes(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.hashes.iter().copied().enumerate().skip(self.reads)
    }
}

/// No transaction.
pub(super) const NONE: u32 = u32::MAX;

/// The conflict graph of a run of transactions, indexed by position in the run.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Graph {
    /// `dependents[offsets[i]..offsets[i + 1]]`: the transactions that wait for `i`.
    offsets: Vec<u32>,
    dependents: Vec<u32>,
    /// `sources[source_offsets[i] + p]`: the source of transaction `i`'s declared key `p`.
    source_offsets: Vec<u32>,
    sources: Vec<u32>,
    /// How many earlier transactions each waits for.
    pub(super) waits: Vec<u32>,
    /// The longest chain of transactions each waiting for the one before.
    pub(super) critical_path: u32,
}

impl Graph {
    /// The graph of `txs` (none of them alone), whose declared keys hash to `keys`.
    pub(super) fn build(txs: &[PreparedTx], keys: &[KeyHashes]) -> Graph {
        /// A key: its last writer, and the readers since that write as a list in `readers`.
        struct Slot<'k> {
            hash: u64,
            key: &'k [u8],
            writer: u32,
            readers: u32,
        }
        let n = txs.len();
        let mut seen: HashTable<Slot<'_>> = HashTable::with_capacity(4 * n);
        // (transaction, next) nodes of the per-key reader lists.
        let mut readers: Vec<(u32, u32)> = Vec::new();
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(2 * n);
        let mut depth: Vec<u32> = Vec::with_capacity(n);
        let mut waits: Vec<u32> = Vec::with_capacity(n);
        let mut source_offsets: Vec<u32> = Vec::with_capacity(n + 1);
        let mut sources: Vec<u32> = Vec::with_capacity(8 * n);
        let mut on: Vec<u32> = Vec::new();
        for (i, (tx, hashes)) in txs.iter().zip(keys).enumerate() {
            let i = i as u32;
            on.clear();
            source_offsets.push(sources.len() as u32);
            let declared = tx.access.reads().chain(tx.access.writes());
            for (p, (key, &hash)) in declared.zip(&hashes.hashes).enumerate() {
                let slot = match seen.find_mut(hash, |s| s.key == key.as_slice()) {
                    Some(slot) => slot,
                    None => seen
                        .insert_unique(
                            hash,
                            Slot {
                                hash,
                                key,
                                writer: NONE,
                                readers: NONE,
                            },
                            |s| s.hash,
                        )
                        .into_mut(),
                };
                sources.push(slot.writer);
                on.push(slot.writer);
                if p < hashes.reads {
                    readers.push((i, slot.readers));
                    slot.readers = (readers.len() - 1) as u32;
                } else {
                    let mut next = slot.readers;
                    while next != NONE {
                        let (reader, after) = readers[next as usize];
                        on.push(reader);
                        next = after;
                    }
                    slot.writer = i;
                    slot.readers = NONE;
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
        source_offsets.push(sources.len() as u32);
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
            source_offsets,
            sources,
            waits,
            critical_path: depth.into_iter().max().unwrap_or(0),
        }
    }

    /// The transactions that wait for `tx`.
    pub(super) fn dependents(&self, tx: u32) -> &[u32] {
        let tx = tx as usize;
        &self.dependents[self.offsets[tx] as usize..self.offsets[tx + 1] as usize]
    }

    /// The source of `tx`'s declared key at `position`: the last earlier transaction that
    /// declared a write of it, or [`NONE`].
    pub(super) fn source(&self, tx: u32, position: usize) -> u32 {
        self.sources[self.source_offsets[tx as usize] as usize + position]
    }

    /// The transactions that wait for nothing, in block order.
    pub(super) fn roots(&self) -> Vec<u32> {
        (0..self.waits.len() as u32)
            .filter(|&t| self.waits[t as usize] == 0)
            .collect()
    }

    /// Whether `threads` threads would finish the run sooner by the graph than one thread
    /// in order. With enough threads a run takes about its critical path or its share of
    /// the work, whichever is longer, and each transaction costs [`GRAPH_COST`] times what
    /// it costs in order; the graph must promise at least 1.25 x.
    pub(super) fn worth_threads(&self, threads: usize) -> bool {
        let n = self.waits.len();
        if !could_pay(threads) {
            return false;
        }
        let span = (self.critical_path as usize).max(n.div_ceil(threads));
        4 * n >= 5 * GRAPH_COST * span
    }
}

/// Whether any graph could be worth `threads` threads: even one without conflicts, whose
/// span is its share of the work.
pub(super) fn could_pay(threads: usize) -> bool {
    4 * threads >= 5 * GRAPH_COST
}

/// What a transaction costs by the graph, per thread, against in order, rounded up: on two
/// threads of the development machine, 1.55 x on one thread and about 1.9 x each on two
/// (ADR 0031: access sets prepared in a pass of their own are cold when the transaction
/// runs, and frees cross threads). So two threads never promise enough, and a block goes by
/// the graph from three threads on, when its critical path is at most two fifths of it.
const GRAPH_COST: usize = 2;
