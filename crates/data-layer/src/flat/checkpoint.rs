//! The flat state in memory: the complete hot state answers every read, and the chain's store
//! keeps it durable as checkpoints plus the redo log (ADR 0023).
//!
//! ```text
//! state_flat_checkpoints   "seed"  -> the hot state's hash seed (marks the layout)
//!                          [i]     -> chunk i: every entry of hot-state shard i at some height
//!
//! block h   the block's batch may also carry the next chunk (shard i as of h - 1), written in
//!           turn once the blocks since the last chunk changed 1/64 of the state's entries
//!           (or MAX_CHUNK_INTERVAL blocks passed), and deletes redo-log entries no chunk needs
//! open      load the chunks, oldest first, then replay the redo log from just above the oldest
//! ```
//!
//! A chunk is a *fuzzy* checkpoint of its shard: chunks have different heights, and replaying
//! every block above the oldest one corrects every key a later block changed, since a block's
//! delta sets its keys to their final values whatever they held before. So the redo log keeps
//! each block above the oldest chunk; while a chunk has never been written, it keeps every
//! block. Each transfer then costs no row of an LSM tree for the flat state: the chunks are a
//! few large values, the whole state rewritten about once per state's worth of changes.
//!
//! The in-memory layout lasts while the hot state holds everything. A block that would make it
//! evict, or an open whose state does not fit, moves the flat state into the chain's store
//! (the inline layout) for good: every entry is written to the `state_flat` column, and then,
//! in one durable batch, the layout's rows are deleted.

use lamina_interop::Height;

use crate::hot::{HotState, SHARDS};
use crate::kv::{Column, WriteBatch};
use crate::{Error, Result};

/// The in-memory layout's rows in the chain's store: the seed and the chunks.
pub(crate) const CHECKPOINTS: Column = Column("state_flat_checkpoints");
/// Its value is the hot state's seed; its presence means the flat state lives in memory.
pub(crate) const SEED_KEY: &[u8] = b"seed";

/// Most blocks between two chunks, so that an idle chain's redo log stays short.
pub(crate) const MAX_CHUNK_INTERVAL: u64 = 256;
/// Most redo-log entries one block's batch deletes.
const MAX_REDO_DELETES: u64 = 1_024;

/// The row key of chunk `index`.
pub(crate) fn chunk_key(index: usize) -> [u8; 1] {
    [index as u8]
}

/// Encodes shard `index` of `hot` as a chunk of height `height`:
/// `height (u64) | count (u32) | (key length (u32) | key | value length (u32) | value)*`,
/// big-endian.
pub(crate) fn encode_chunk(hot: &HotState, index: usize, height: Height) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(&height.0.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    let mut count = 0u32;
    hot.for_each_in_shard(index, |key, value| {
        count += 1;
        for part in [key, value] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    });
    out[8..12].copy_from_slice(&count.to_be_bytes());
    out
}

/// A decoded chunk's height.
pub(crate) fn chunk_height(bytes: &[u8]) -> Result<Height> {
    let mut reader = Reader(bytes);
    Ok(Height(reader.u64()?))
}

/// Calls `visit` with every entry of a chunk, until it returns false; returns the chunk's
/// height. Malformed bytes are [`Error::Corrupt`], whatever they hold.
pub(crate) fn for_each_in_chunk(
    bytes: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> bool,
) -> Result<Height> {
    let mut reader = Reader(bytes);
    let height = Height(reader.u64()?);
    let count = reader.u32()?;
    for _ in 0..count {
        let key_len = reader.u32()? as usize;
        let key = reader.take(key_len)?;
        let value_len = reader.u32()? as usize;
        let value = reader.take(value_len)?;
        if !visit(key, value) {
            return Ok(height);
        }
    }
    if !reader.0.is_empty() {
        return Err(corrupt(format!(
            "{} bytes after the last entry",
            reader.0.len()
        )));
    }
    Ok(height)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.0.len() < len {
            return Err(corrupt(format!(
                "{len} bytes wanted, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let bytes = self.take(8)?;
        let mut out = [0; 8];
        out.copy_from_slice(bytes);
        Ok(u64::from_be_bytes(out))
    }
}

fn corrupt(detail: String) -> Error {
    Error::Corrupt {
        what: "flat-state checkpoint",
        detail,
    }
}

/// Where the checkpoints stand: the height of each chunk, the next to write, and the redo
/// log's lowest entry.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    /// The height each chunk holds its shard at; `None`: never written.
    heights: [Option<u64>; SHARDS],
    /// The chunk written next.
    next: usize,
    /// State changes and blocks since the last chunk.
    pending_changes: usize,
    pending_blocks: u64,
    /// The lowest height the redo log may still hold.
    redo_from: u64,
}

/// What one block's batch carries for the checkpoints, recorded once the batch is durable.
#[derive(Debug)]
pub(crate) struct Staged {
    chunk: Option<(usize, u64)>,
    redo_from: u64,
    changes: usize,
}

impl Checkpoints {
    /// The checkpoints of a store, as opening found them.
    pub(crate) fn new(heights: [Option<u64>; SHARDS], redo_from: u64) -> Checkpoints {
        let next = (0..SHARDS)
            .min_by_key(|i| heights[*i].map_or(0, |h| h + 1))
            .unwrap_or(0);
        Checkpoints {
            heights,
            next,
            pending_changes: 0,
            pending_blocks: 0,
            redo_from,
        }
    }

    /// Every chunk at `height` (written by the caller).
    pub(crate) fn all_at(&mut self, height: Height) {
        self.heights = [Some(height.0); SHARDS];
        self.pending_changes = 0;
        self.pending_blocks = 0;
    }

    /// Adds to `batch`, the batch of block `height` whose `changes` state changes the hot
    /// state does not hold yet (it holds `height - 1`): the next chunk when it is due, and the
    /// deletion (from `deltas`) of redo-log entries below both the oldest chunk and the last
    /// `keep` blocks.
    pub(crate) fn stage(
        &self,
        batch: &mut WriteBatch,
        hot: &HotState,
        height: Height,
        changes: usize,
        deltas: Column,
        keep: u64,
    ) -> Staged {
        let due = self.pending_blocks >= MAX_CHUNK_INTERVAL
            || self.pending_changes.saturating_mul(SHARDS) >= hot.len().max(1);
        let chunk = (due && height.0 > 0).then(|| {
            let at = height.0 - 1;
            batch.put(
                CHECKPOINTS,
                chunk_key(self.next),
                encode_chunk(hot, self.next, Height(at)),
            );
            (self.next, at)
        });
        let mut heights = self.heights;
        if let Some((index, at)) = chunk {
            heights[index] = Some(at);
        }
        let oldest_needed = heights
            .iter()
            .map(|h| h.map(|h| h + 1))
            .min()
            .flatten()
            .unwrap_or(self.redo_from);
        let keep_from = oldest_needed
            .min((height.0 + 1).saturating_sub(keep))
            .min(self.redo_from + MAX_REDO_DELETES)
            .max(self.redo_from);
        for old in self.redo_from..keep_from {
            batch.delete(deltas, old.to_be_bytes());
        }
        Staged {
            chunk,
            redo_from: keep_from,
            changes,
        }
    }

    /// Records what [`Checkpoints::stage`] put in a batch that is now durable.
    pub(crate) fn staged(&mut self, staged: Staged) {
        self.redo_from = staged.redo_from;
        match staged.chunk {
            Some((index, at)) => {
                self.heights[index] = Some(at);
                self.next = (index + 1) % SHARDS;
                self.pending_changes = staged.changes;
                self.pending_blocks = 1;
            }
            None => {
                self.pending_changes = self.pending_changes.saturating_add(staged.changes);
                self.pending_blocks += 1;
            }
        }
    }

    /// The lowest height the redo log may still hold.
    pub(crate) fn redo_from(&self) -> u64 {
        self.redo_from
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_interop::block::StateChange;

    fn hot_with(n: u32) -> HotState {
        let hot = HotState::with_seed(100_000, 7);
        let changes: Vec<StateChange> = (0..n)
            .map(|i| StateChange {
                key: i.to_be_bytes().to_vec(),
                value: Some(vec![i as u8; (i % 5) as usize]),
            })
            .collect();
        hot.apply(&changes);
        hot
    }

    #[test]
    fn a_chunk_holds_its_shard_and_reads_back() {
        let hot = hot_with(1_000);
        let mut seen = 0;
        for index in 0..SHARDS {
            let bytes = encode_chunk(&hot, index, Height(9));
            assert_eq!(chunk_height(&bytes).unwrap(), Height(9));
            let height = for_each_in_chunk(&bytes, |key, value| {
                assert_eq!(hot.shard_of(key), index);
                assert_eq!(hot.get(key), Some(Some(value.to_vec())));
                seen += 1;
                true
            })
            .unwrap();
            assert_eq!(height, Height(9));
        }
        assert_eq!(seen, 1_000);
    }

    #[test]
    fn malformed_chunks_are_corrupt_not_a_panic() {
        let hot = hot_with(50);
        let bytes = encode_chunk(&hot, 3, Height(1));
        for cut in 0..bytes.len() {
            let result = for_each_in_chunk(&bytes[..cut], |_, _| true);
            assert!(
                matches!(result, Err(Error::Corrupt { .. })),
                "cut at {cut} of {}",
                bytes.len()
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(for_each_in_chunk(&long, |_, _| true).is_err());
        let mut huge = bytes;
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(for_each_in_chunk(&huge, |_, _| true).is_err());
    }

    #[test]
    fn chunks_come_in_turn_and_the_redo_log_follows_the_oldest() {
        let hot = hot_with(6_400);
        let deltas = Column("deltas");
        let mut checkpoints = Checkpoints::new([None; SHARDS], 0);
        let mut written = Vec::new();
        let mut deleted = Vec::new();
        // 200 changes a block: a chunk is due every block (6,400 / 64 = 100).
        for height in 1..=(SHARDS as u64 + 10) {
            let mut batch = WriteBatch::new();
            let staged = checkpoints.stage(&mut batch, &hot, Height(height), 200, deltas, 4);
            for op in batch.ops() {
                match op {
                    crate::kv::Op::Put { column, key, .. } if *column == CHECKPOINTS => {
                        written.push(key[0] as usize)
                    }
                    crate::kv::Op::Delete { column, key } if *column == deltas => {
                        deleted.push(u64::from_be_bytes(key.as_slice().try_into().unwrap()))
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            checkpoints.staged(staged);
        }
        // The first block has no changes before it to count; then one chunk a block, in turn.
        assert_eq!(written.len(), SHARDS + 9);
        assert_eq!(&written[..SHARDS], &(0..SHARDS).collect::<Vec<_>>()[..]);
        // Nothing is deleted until every chunk exists; then everything below the oldest chunk.
        let oldest = (0..SHARDS)
            .filter_map(|i| checkpoints.heights[i])
            .min()
            .unwrap();
        assert_eq!(deleted, (0..=oldest).collect::<Vec<_>>());
        assert_eq!(checkpoints.redo_from(), oldest + 1);
    }

    #[test]
    fn an_idle_chain_still_writes_a_chunk_now_and_then() {
        let hot = hot_with(5_000);
        let mut checkpoints = Checkpoints::new([None; SHARDS], 0);
        let mut chunks = 0;
        for height in 1..=(3 * MAX_CHUNK_INTERVAL) {
            let mut batch = WriteBatch::new();
            let staged = checkpoints.stage(&mut batch, &hot, Height(height), 0, Column("d"), 4);
            chunks += usize::from(staged.chunk.is_some());
            checkpoints.staged(staged);
        }
        assert_eq!(chunks, 2);
    }
}
