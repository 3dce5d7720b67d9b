//! Where a block's time goes: when this node saw each recent block reach each step from
//! proposal to durable commit, for `lamina bench` and the `chain_getTimeline` RPC method.
//!
//! ```text
//! step        marked by                                   clock
//! proposed    the proposer, in the header's timestamp     the proposer's
//! notarized   the consensus engine, on a notarization     this node's
//! finalized   the consensus engine, delivering the block  this node's
//! executed    the agreement layer, before CommitBlock      this node's
//! durable     the data layer, once the commit is durable  this node's
//! ```
//!
//! Engines without notarizations (solo) leave that step out. Times are milliseconds since the
//! Unix epoch; the proposal's comes from another machine's clock unless the network runs on
//! one machine, as `lamina bench --validators N` does.
//!
//! The record is per process, like [`profile`](crate::profile): the last [`KEPT`] blocks, so
//! its memory is bounded whatever the chain does. Marking a block costs a lock and a scan of
//! the few newest entries, once per step per block.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::{Hash, Height};

/// Blocks kept.
pub const KEPT: usize = 1024;

/// A step of a block's way from proposal to durable commit, as this node saw it (its
/// finalization, which also names its height and proposal time, is [`finalized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A notarization of the block reached this node (the block is certified but not final).
    Notarized,
    /// The block was executed; its commit was asked for.
    Executed,
    /// The block, its receipts and its state are durable.
    Durable,
}

/// When one block reached each step on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTimes {
    /// The block id.
    pub block: Hash,
    /// Its height, once it was finalized here.
    pub height: Option<Height>,
    /// The header's timestamp: when the proposer built it.
    pub proposed_ms: Option<u64>,
    /// When a notarization reached this node.
    pub notarized_ms: Option<u64>,
    /// When it was delivered as final.
    pub finalized_ms: Option<u64>,
    /// When its execution was done.
    pub executed_ms: Option<u64>,
    /// When its commit was durable.
    pub durable_ms: Option<u64>,
}

impl BlockTimes {
    fn new(block: Hash) -> Self {
        Self {
            block,
            height: None,
            proposed_ms: None,
            notarized_ms: None,
            finalized_ms: None,
            executed_ms: None,
            durable_ms: None,
        }
    }
}

static RECENT: Mutex<VecDeque<BlockTimes>> = Mutex::new(VecDeque::new());

/// The wall clock in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Notes that `block` reached `step` now. The first mark of a step counts: a block notarized
/// in two views keeps the first.
pub fn mark(block: Hash, step: Step) {
    mark_at(block, step, now_ms());
}

/// Notes that `block` (at `height`, proposed at `proposed_ms`) was delivered as final now.
pub fn finalized(block: Hash, height: Height, proposed_ms: u64) {
    let now = now_ms();
    update(block, |times| {
        times.height = Some(height);
        times.proposed_ms = Some(proposed_ms);
        times.finalized_ms.get_or_insert(now);
    });
}

fn mark_at(block: Hash, step: Step, at: u64) {
    update(block, |times| {
        let slot = match step {
            Step::Notarized => &mut times.notarized_ms,
            Step::Executed => &mut times.executed_ms,
            Step::Durable => &mut times.durable_ms,
        };
        slot.get_or_insert(at);
    });
}

fn update(block: Hash, change: impl FnOnce(&mut BlockTimes)) {
    let mut recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Marks arrive for the newest blocks: search from the back.
    if let Some(times) = recent.iter_mut().rev().find(|t| t.block == block) {
        change(times);
        return;
    }
    if recent.len() >= KEPT {
        recent.pop_front();
    }
    let mut times = BlockTimes::new(block);
    change(&mut times);
    recent.push_back(times);
}

/// The newest `count` blocks finalized here (at most [`KEPT`]), in height order.
pub fn latest(count: usize) -> Vec<BlockTimes> {
    let recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut times: Vec<BlockTimes> = recent
        .iter()
        .filter(|t| t.height.is_some())
        .copied()
        .collect();
    drop(recent);
    times.sort_by_key(|t| t.height);
    let skip = times.len().saturating_sub(count);
    times.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Hash {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        Hash(bytes)
    }

    // One test: the record is per process, and tests run in parallel.
    #[test]
    fn marks_gather_per_block_and_only_the_newest_blocks_are_kept() {
        mark_at(id(1), Step::Notarized, 10);
        mark_at(id(1), Step::Notarized, 30);
        finalized(id(1), Height(1), 5);
        mark_at(id(1), Step::Executed, 50);
        mark_at(id(1), Step::Durable, 70);
        let times = latest(1);
        assert_eq!(times.len(), 1);
        let t = times[0];
        assert_eq!(t.proposed_ms, Some(5));
        assert_eq!(t.notarized_ms, Some(10), "the first notarization counts");
        assert_eq!(t.executed_ms, Some(50));
        assert_eq!(t.durable_ms, Some(70));
        assert!(t.finalized_ms.is_some());

        for n in 2..(KEPT as u32 + 10) {
            finalized(id(n), Height(u64::from(n)), 0);
        }
        let all = latest(usize::MAX);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].height, Some(Height(10)), "the oldest went first");
        assert_eq!(
            all.last().and_then(|t| t.height),
            Some(Height(KEPT as u64 + 9))
        );
    }
}
