//! The data every layer shares: block headers, blocks, receipts and state deltas.
//!
//! # Byte formats
//!
//! All of these are borsh-encoded (see [`codec`](crate::codec)); the hash of a header is the
//! block's id, and the hash of a transaction's bytes is its id.
//!
//! ```text
//! Header  = chain_id u64 | height u64 | parent [32] | timestamp_ms u64 | proposer [32]
//!         | tx_root [32] | tx_count u32 | state_height u64 | state_root [32]
//! Block   = Header | u32 n | n x (u32 len | tx bytes)
//! Receipt = tx [32] | outcome (0 = ok | 1 = failed: module u16, code u32, reason text)
//!         | gas_used u64 | fee_paid u128 | u32 n | n x (module u16 | u32 len | data)
//! ```
//!
//! A header does not carry the state root after its own transactions: execution happens once
//! a block is final, so the root of height `h` is known only later. Instead a header names a
//! committed state (`state_height`, `state_root`) that the proposer had, and every validator
//! checks it against its own commit. This keeps merkleization off the path of the next
//! proposal.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::{BoundedBytes, BoundedString, BoundedVec, Canonical};
use crate::hash::Hash;
use crate::types::{Address, ChainId, Height, Timestamp};

/// Largest encoded transaction, in bytes.
pub const MAX_TX_LEN: usize = 32 * 1024;
/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 256 * 1024;
/// Largest encoded block, in bytes.
pub const MAX_BLOCK_LEN: usize = 64 * 1024 * 1024;
/// Most events one transaction may emit.
pub const MAX_TX_EVENTS: usize = 256;
/// Largest encoded event payload, in bytes.
pub const MAX_EVENT_LEN: usize = 4 * 1024;
/// Longest failure reason kept in a receipt, in bytes.
pub const MAX_REASON_LEN: usize = 256;

/// A transaction as it travels and is stored: its canonical encoding, which the agreement
/// layer defines. Its id is `Hash::of(bytes)`.
pub type RawTx = BoundedBytes<MAX_TX_LEN>;

/// A block header. Its hash is the block id.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Header {
    /// The chain this block belongs to.
    pub chain_id: ChainId,
    /// Height of this block; the parent is at `height - 1`.
    pub height: Height,
    /// Id of the parent block (`Hash::ZERO` for height 1's parent, the genesis).
    pub parent: Hash,
    /// The proposer's clock when it built the block.
    pub timestamp: Timestamp,
    /// Address of the validator that proposed the block.
    pub proposer: Address,
    /// Merkle root of the transaction ids, in block order (see [`merkle_root`]).
    pub tx_root: Hash,
    /// Number of transactions.
    pub tx_count: u32,
    /// Height of the committed state that `state_root` names.
    pub state_height: Height,
    /// State root committed at `state_height`.
    pub state_root: Hash,
}

impl Header {
    /// The block id.
    pub fn id(&self) -> Hash {
        Hash::of(&self.encode())
    }
}

impl Canonical for Header {
    const NAME: &'static str = "Header";
    const MAX_ENCODED_LEN: usize = 8 + 8 + 32 + 8 + 32 + 32 + 4 + 8 + 32;
}

/// A block: a header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions' canonical encodings, in execution order.
    pub txs: BoundedVec<RawTx, MAX_BLOCK_TXS>,
}

impl Block {
    /// The block id (the header's hash).
    pub fn id(&self) -> Hash {
        self.header.id()
    }

    /// Whether the header's transaction count and root match the body.
    pub fn body_matches_header(&self) -> bool {
        self.header.tx_count as usize == self.txs.len()
            && self.header.tx_root == tx_root(self.txs.iter())
    }
}

impl Canonical for Block {
    const NAME: &'static str = "Block";
    const MAX_ENCODED_LEN: usize = MAX_BLOCK_LEN;
}

/// The Merkle root of a block's transaction ids.
pub fn tx_root<'a>(txs: impl Iterator<Item = &'a RawTx>) -> Hash {
    let ids: Vec<Hash> = txs.map(|tx| Hash::of(tx)).collect();
    merkle_root(&ids)
}

/// The root of a binary Merkle tree over `leaves`, split as in RFC 6962: the left subtree
/// holds the largest power of two of leaves that is smaller than the total. The empty tree's
/// root is [`Hash::ZERO`]; one leaf is its own root.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::ZERO,
        1 => leaves[0],
        n => {
            let split = n.next_power_of_two() / 2;
            Hash::node(
                &merkle_root(&leaves[..split]),
                &merkle_root(&leaves[split..]),
            )
        }
    }
}

/// An event emitted by a module during a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EventRecord {
    /// Index of the emitting module in the runtime.
    pub module: u16,
    /// The module's encoding of its event.
    pub data: BoundedBytes<MAX_EVENT_LEN>,
}

/// What happened to a transaction's call.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum Outcome {
    /// The call succeeded; its state changes and events stand.
    Success,
    /// The call failed; its state changes were reverted but the fee was paid.
    Failed {
        /// Index of the module whose call failed.
        module: u16,
        /// The module's error code.
        code: u32,
        /// A human-readable reason.
        reason: BoundedString<MAX_REASON_LEN>,
    },
}

/// The record of one executed transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction id.
    pub tx: Hash,
    /// Success or the reason for failure.
    pub outcome: Outcome,
    /// Gas consumed.
    pub gas_used: u64,
    /// Fee charged, in the fee asset's smallest unit (a decimal string in JSON).
    #[serde(with = "crate::module::amount")]
    pub fee_paid: u128,
    /// Events emitted, in order (none when the call failed).
    pub events: BoundedVec<EventRecord, MAX_TX_EVENTS>,
}

impl Canonical for Receipt {
    const NAME: &'static str = "Receipt";
    const MAX_ENCODED_LEN: usize =
        32 + 1 + 2 + 4 + 4 + MAX_REASON_LEN + 8 + 16 + 4 + MAX_TX_EVENTS * (2 + 4 + MAX_EVENT_LEN);
}

/// One state change: a key set to a value, or deleted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct StateChange {
    /// The full state key.
    pub key: Vec<u8>,
    /// The new value, or `None` for a deletion.
    pub value: Option<Vec<u8>>,
}

/// The state changes of one block, sorted by key, one change per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDelta {
    changes: Vec<StateChange>,
}

impl StateDelta {
    /// Builds a delta from changes in any order; for a key given twice, the later change wins.
    pub fn from_changes(mut changes: Vec<StateChange>) -> StateDelta {
        // A stable sort keeps equal keys in input order; keep the last of each run.
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out: Vec<StateChange> = Vec::with_capacity(changes.len());
        for change in changes {
            match out.last_mut() {
                Some(last) if last.key == change.key => *last = change,
                _ => out.push(change),
            }
        }
        StateDelta { changes: out }
    }

    /// The changes, sorted by key.
    pub fn changes(&self) -> &[StateChange] {
        &self.changes
    }

    /// The change to `key`, if the delta has one: `Some(None)` for a deletion.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.changes
            .binary_search_by(|c| c.key.as_slice().cmp(key))
            .ok()
            .map(|i| self.changes[i].value.as_deref())
    }

    /// Number of keys changed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_root_shapes() {
        let l: Vec<Hash> = (0u8..5).map(|i| Hash::of(&[i])).collect();
        assert_eq!(merkle_root(&[]), Hash::ZERO);
        assert_eq!(merkle_root(&l[..1]), l[0]);
        assert_eq!(merkle_root(&l[..2]), Hash::node(&l[0], &l[1]));
        let left = Hash::node(&Hash::node(&l[0], &l[1]), &Hash::node(&l[2], &l[3]));
        assert_eq!(merkle_root(&l), Hash::node(&left, &l[4]));
    }

    #[test]
    fn delta_sorts_and_keeps_last_write() {
        let c = |k: &[u8], v: Option<&[u8]>| StateChange {
            key: k.to_vec(),
            value: v.map(<[u8]>::to_vec),
        };
        let delta = StateDelta::from_changes(vec![
            c(b"b", Some(b"1")),
            c(b"a", Some(b"1")),
            c(b"b", None),
            c(b"a", Some(b"2")),
        ]);
        assert_eq!(delta.changes(), &[c(b"a", Some(b"2")), c(b"b", None)]);
    }

    #[test]
    fn body_check_catches_mismatch() {
        let txs = BoundedVec::try_from_vec(vec![RawTx::try_from_vec(vec![1, 2]).unwrap()]).unwrap();
        let header = Header {
            chain_id: ChainId(1),
            height: Height(1),
            parent: Hash::ZERO,
            timestamp: Timestamp(0),
            proposer: Address([0; 32]),
            tx_root: tx_root(txs.iter()),
            tx_count: 1,
            state_height: Height(0),
            state_root: Hash::ZERO,
        };
        let mut block = Block { header, txs };
        assert!(block.body_matches_header());
        block.header.tx_count = 2;
        assert!(!block.body_matches_header());
    }
}
