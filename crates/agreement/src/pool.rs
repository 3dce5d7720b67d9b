//! The mempool: admitted transactions waiting for a block.
//!
//! ```text
//! senders: address -> { next nonce (from state), nonce -> tx }     ready: nonces next, next+1, ...
//! by_id:   tx id -> (sender, nonce)                                 duplicates, removal
//! by_tip:  (tip, newest first) -> (sender, nonce)                   eviction: lowest first
//! ```
//!
//! Rules:
//! - Bounded by transaction count and bytes, and per sender by count and bytes (its share:
//!   by default 16,384 transactions and 16 MiB, a thirtieth of the pool), so one account can
//!   keep a pipeline of thousands of consecutive nonces in flight and still not crowd out the
//!   others (see ADR 0032).
//! - A sender's pooled transactions must together be payable: the sum of their maximum fees
//!   may not exceed its committed native balance. Its balance, not a small count, bounds how
//!   many it has in flight.
//! - A nonce below the sender's next nonce is refused. Nonces run on from the sender's next
//!   nonce through those pooled consecutively after it (the *ready* run); a nonce more than
//!   `max_nonce_gap` past the end of that run is refused, and one within the gap waits until
//!   the nonces before it arrive. So a sender holds at most `max_nonce_gap` transactions that
//!   cannot run yet.
//! - A transaction with the nonce of one already pooled replaces it only if it raises the tip
//!   by at least `replace_bump_percent` and does not lower the maximum fee.
//! - When full, a newcomer evicts the lowest-tipping transactions (newest first among equal
//!   tips), with the later nonces of their senders, if it tips more than each of them.
//! - Blocks take the best ready transaction first: highest tip, then earliest arrival, one
//!   sender's nonces in order.
//! - After each finalized block, the senders whose state changed are re-validated: nonces
//!   used up, and maximum fees their balance can no longer pay, leave the pool.
//! - Committed state lags the blocks being executed, so the pool remembers, per sender, the
//!   next nonce that the last [`FLOOR_BLOCKS`] included blocks imply. A transaction admitted
//!   against state that does not show them yet (a peer's copy of one already included) is
//!   refused as `NonceTooLow`; admission against state older than that window is refused as
//!   `Unavailable` ([`Mempool::admits_as_of`]).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use lamina_interop::messages::Rejection;
use lamina_interop::{Address, Hash, Height};

use crate::tx::VerifiedTx;

/// Limits of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most bytes of transaction encodings held.
    pub max_bytes: usize,
    /// Most transactions of one sender.
    pub max_per_sender: usize,
    /// Most bytes of one sender's transaction encodings.
    pub max_sender_bytes: usize,
    /// How far past the end of the sender's ready run (its next nonce, and the nonces pooled
    /// consecutively after it) a transaction's nonce may be.
    pub max_nonce_gap: u64,
    /// How much a replacement must raise the tip, in percent.
    pub replace_bump_percent: u128,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_txs: 500_000,
            max_bytes: 256 * 1024 * 1024,
            max_per_sender: 16_384,
            max_sender_bytes: 16 * 1024 * 1024,
            max_nonce_gap: 64,
            replace_bump_percent: 10,
        }
    }
}

struct Pooled {
    tx: Arc<VerifiedTx>,
    arrival: u64,
}

#[derive(Default)]
struct Sender {
    /// The account's next nonce in committed state.
    next_nonce: u64,
    /// The end of the ready run: the first nonce from `next_nonce` on that is not pooled.
    ready_end: u64,
    txs: BTreeMap<u64, Pooled>,
    /// Bytes of the pooled encodings.
    bytes: usize,
    /// Sum of the pooled maximum fees.
    reserved: u128,
}

impl Sender {
    /// Moves the ready run's end past the pooled nonces that follow it.
    fn extend_run(&mut self) {
        self.ready_end = self.ready_end.max(self.next_nonce);
        while self.txs.contains_key(&self.ready_end) {
            self.ready_end += 1;
        }
    }

    /// Ends the ready run at `nonce`, which left the pool with every later one.
    fn cut_run(&mut self, nonce: u64) {
        if nonce < self.ready_end {
            self.ready_end = nonce.max(self.next_nonce);
        }
    }

    /// Sets the committed next nonce (never backwards) and extends the run from it.
    fn advance(&mut self, next_nonce: u64) {
        self.next_nonce = self.next_nonce.max(next_nonce);
        self.extend_run();
    }
}

/// Eviction order: lowest tip first; among equal tips, the newest first.
type TipKey = (u128, Reverse<u64>, Address, u64);

/// The pool; see the module docs.
pub struct Mempool {
    config: PoolConfig,
    // foldhash, seeded per process: faster than SipHash, and still not steerable by senders.
    senders: hashbrown::HashMap<Address, Sender>,
    by_id: hashbrown::HashMap<Hash, (Address, u64)>,
    by_tip: BTreeSet<TipKey>,
    bytes: usize,
    arrivals: u64,
    /// Per sender, the next nonce after its transactions in recently included blocks, and the
    /// height of the newest of those blocks.
    floors: hashbrown::HashMap<Address, (u64, Height)>,
    /// The height of the committed state of the last re-validation.
    revalidated: Height,
}

/// Blocks below the last re-validated height whose included nonces the pool still remembers.
pub const FLOOR_BLOCKS: u64 = 8;

/// Bytes a transaction adds to a block body besides its encoding: its length prefix.
pub const BODY_ENTRY_OVERHEAD: usize = 4;

/// The limits a block's selection must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Sum of gas limits.
    pub max_gas: u64,
    /// Size of the block body: each transaction's encoding and its length prefix
    /// ([`BODY_ENTRY_OVERHEAD`]), in bytes.
    pub max_bytes: usize,
    /// Number of transactions.
    pub max_txs: usize,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Mempool {
        Mempool {
            config,
            senders: hashbrown::HashMap::new(),
            by_id: hashbrown::HashMap::new(),
            by_tip: BTreeSet::new(),
            bytes: 0,
            arrivals: 0,
            floors: hashbrown::HashMap::new(),
            revalidated: Height(0),
        }
    }

    /// Number of transactions held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Bytes of transactions held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a transaction with `id` is held.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// Whether a transaction checked against committed state at `height` may be inserted:
    /// the pool still remembers the nonces of every block included since.
    pub fn admits_as_of(&self, height: Height) -> bool {
        height.0.saturating_add(FLOOR_BLOCKS) >= self.revalidated.0
    }

    /// Admits `tx`, whose sender's next nonce and native balance in committed state are
    /// `next_nonce` and `balance` (the state must pass [`Mempool::admits_as_of`]).
    pub fn insert(
        &mut self,
        tx: Arc<VerifiedTx>,
        next_nonce: u64,
        balance: u128,
    ) -> Result<(), Rejection> {
        if self.by_id.contains_key(&tx.id) {
            return Err(Rejection::Duplicate);
        }
        let nonce = tx.tx.body.nonce;
        let floor = self.floors.get(&tx.sender).map_or(0, |(next, _)| *next);
        let sender_next = self
            .senders
            .get(&tx.sender)
            .map_or(next_nonce, |s| s.next_nonce.max(next_nonce))
            .max(floor);
        if nonce < sender_next {
            return Err(Rejection::NonceTooLow {
                expected: sender_next,
                got: nonce,
            });
        }
        let ready_end = match self.senders.get_mut(&tx.sender) {
            Some(sender) => {
                sender.advance(sender_next);
                sender.ready_end
            }
            None => sender_next,
        };
        if nonce.saturating_sub(ready_end) > self.config.max_nonce_gap {
            return Err(Rejection::NonceGap {
                expected: ready_end,
                got: nonce,
                max_gap: self.config.max_nonce_gap,
            });
        }
        let replaced = self.replacement_check(&tx)?;
        self.share_check(&tx, replaced, balance)?;
        let replaced = replaced.and_then(|nonce| self.remove_one(&tx.sender, nonce));
        if let Err(rejection) = self.make_room(&tx) {
            // A refused replacement leaves the original in place.
            if let Some(old) = replaced {
                self.put(old, sender_next);
            }
            return Err(rejection);
        }
        self.put(tx, sender_next);
        Ok(())
    }

    /// Whether `tx` fits its sender's share of the pool and what its balance can pay, counting
    /// out the pooled transaction it replaces, if any.
    fn share_check(
        &self,
        tx: &VerifiedTx,
        replaced: Option<u64>,
        balance: u128,
    ) -> Result<(), Rejection> {
        // What the sender holds, without the transaction `tx` replaces.
        let (count, bytes, reserved) = match self.senders.get(&tx.sender) {
            None => (0, 0, 0),
            Some(sender) => match replaced.and_then(|nonce| sender.txs.get(&nonce)) {
                Some(old) => (
                    sender.txs.len() - 1,
                    sender.bytes - old.tx.encoded_len(),
                    sender.reserved - old.tx.tx.body.max_fee,
                ),
                None => (sender.txs.len(), sender.bytes, sender.reserved),
            },
        };
        if count + 1 > self.config.max_per_sender
            || bytes + tx.encoded_len() > self.config.max_sender_bytes
        {
            return Err(Rejection::SenderFull {
                max_txs: self.config.max_per_sender as u64,
                max_bytes: self.config.max_sender_bytes as u64,
            });
        }
        let needed = reserved.saturating_add(tx.tx.body.max_fee);
        if needed > balance {
            return Err(Rejection::InsufficientBalance { balance, needed });
        }
        Ok(())
    }

    fn put(&mut self, tx: Arc<VerifiedTx>, sender_next: u64) {
        let nonce = tx.tx.body.nonce;
        let arrival = self.arrivals;
        self.arrivals += 1;
        self.bytes += tx.encoded_len();
        self.by_id.insert(tx.id, (tx.sender, nonce));
        self.by_tip
            .insert((tx.tx.body.tip, Reverse(arrival), tx.sender, nonce));
        let sender = self.senders.entry(tx.sender).or_default();
        sender.bytes += tx.encoded_len();
        sender.reserved += tx.tx.body.max_fee;
        sender.txs.insert(nonce, Pooled { tx, arrival });
        sender.advance(sender_next);
        debug_assert_eq!(self.by_id.len(), self.by_tip.len());
    }

    /// For a transaction reusing a pooled nonce: the nonce to replace, or why not.
    fn replacement_check(&self, tx: &VerifiedTx) -> Result<Option<u64>, Rejection> {
        let body = &tx.tx.body;
        let Some(old) = self
            .senders
            .get(&tx.sender)
            .and_then(|s| s.txs.get(&body.nonce))
        else {
            return Ok(None);
        };
        let old = &old.tx.tx.body;
        let min_tip = old
            .tip
            .saturating_mul(100 + self.config.replace_bump_percent)
            .div_ceil(100)
            .max(old.tip.saturating_add(1));
        if body.tip < min_tip || body.max_fee < old.max_fee {
            return Err(Rejection::FeeTooLow {
                min: min_tip,
                offered: body.tip,
            });
        }
        Ok(Some(body.nonce))
    }

    /// Evicts lower-tipping transactions until `tx` fits, or refuses it.
    fn make_room(&mut self, tx: &VerifiedTx) -> Result<(), Rejection> {
        let full = |pool: &Mempool| {
            pool.by_id.len() + 1 > pool.config.max_txs
                || pool.bytes + tx.encoded_len() > pool.config.max_bytes
        };
        if tx.encoded_len() > self.config.max_bytes {
            return Err(Rejection::PoolFull);
        }
        // Decide before touching anything: the victims must all tip less, and none may be
        // an earlier nonce of the newcomer's own sender.
        let mut victims = Vec::new();
        let (mut count, mut bytes) = (self.by_id.len(), self.bytes);
        let mut keys = self.by_tip.iter();
        while count + 1 > self.config.max_txs || bytes + tx.encoded_len() > self.config.max_bytes {
            let Some(&(tip, _, sender, nonce)) = keys.next() else {
                return Err(Rejection::PoolFull);
            };
            if tip >= tx.tx.body.tip || (sender == tx.sender && nonce < tx.tx.body.nonce) {
                return Err(Rejection::PoolFull);
            }
            if victims.contains(&(sender, nonce)) {
                continue;
            }
            // The victim's later nonces go with it: they could never execute.
            for (later, pooled) in self.senders[&sender].txs.range(nonce..) {
                if !victims.contains(&(sender, *later)) {
                    victims.push((sender, *later));
                    count -= 1;
                    bytes -= pooled.tx.encoded_len();
                }
            }
        }
        for (sender, nonce) in victims {
            self.remove_one(&sender, nonce);
            if let Some(sender) = self.senders.get_mut(&sender) {
                sender.cut_run(nonce);
            }
        }
        debug_assert!(!full(self));
        Ok(())
    }

    /// Removes one transaction; the caller keeps the sender's ready run true.
    fn remove_one(&mut self, sender: &Address, nonce: u64) -> Option<Arc<VerifiedTx>> {
        let entry = self.senders.get_mut(sender)?;
        let pooled = entry.txs.remove(&nonce)?;
        entry.bytes -= pooled.tx.encoded_len();
        entry.reserved -= pooled.tx.tx.body.max_fee;
        if entry.txs.is_empty() {
            self.senders.remove(sender);
        }
        self.by_id.remove(&pooled.tx.id);
        self.by_tip.remove(&(
            pooled.tx.tx.body.tip,
            Reverse(pooled.arrival),
            *sender,
            nonce,
        ));
        self.bytes -= pooled.tx.encoded_len();
        Some(pooled.tx)
    }

    /// The best ready transactions within `limits`, in the order a block should hold them:
    /// highest tip first, then earliest arrival, each sender's nonces consecutive from its
    /// next nonce. The pool keeps them until [`Mempool::revalidate`] sees them executed.
    pub fn select(&self, limits: BlockLimits) -> Vec<Arc<VerifiedTx>> {
        self.select_after(limits, &HashMap::new())
    }

    /// Like [`Mempool::select`], for a block built on blocks not yet executed: `pending`
    /// gives, for senders with transactions in those blocks, their next nonce after them.
    pub fn select_after(
        &self,
        limits: BlockLimits,
        pending: &HashMap<Address, u64>,
    ) -> Vec<Arc<VerifiedTx>> {
        // Greedy by (tip, earliest arrival) over each sender's next ready transaction. Those
        // come from two sources merged in that order: the pool's tip index, walked from the
        // top (a transaction there is ready when its nonce is its sender's next), and a heap
        // of successors, pushed when their predecessor is chosen. The walk stops with the
        // block, so the cost follows the block's size, not the pool's.
        let ready_from = |address: &Address, sender: &Sender| {
            pending
                .get(address)
                .map_or(sender.next_nonce, |p| (*p).max(sender.next_nonce))
        };
        // Each sender's next nonce within this block; `None` once its turn is over.
        let mut next: hashbrown::HashMap<Address, Option<u64>> = hashbrown::HashMap::new();
        let expected =
            |address: &Address, next: &hashbrown::HashMap<Address, Option<u64>>| match next
                .get(address)
            {
                Some(nonce) => *nonce,
                None => self
                    .senders
                    .get(address)
                    .map(|sender| ready_from(address, sender)),
            };
        let mut walk = self.by_tip.iter().rev().peekable();
        let mut successors: BinaryHeap<TipKey> = BinaryHeap::new();
        let (mut gas, mut bytes) = (0u64, 0usize);
        let mut out = Vec::new();
        while out.len() < limits.max_txs {
            // Skip walked transactions that are not their sender's next.
            while let Some(key) = walk.peek() {
                if expected(&key.2, &next) == Some(key.3) {
                    break;
                }
                walk.next();
            }
            let (_, _, address, nonce) = match (walk.peek(), successors.peek()) {
                (Some(walked), Some(queued)) if *queued > **walked => {
                    successors.pop().unwrap_or_else(|| unreachable!("peeked"))
                }
                (Some(_), _) => *walk.next().unwrap_or_else(|| unreachable!("peeked")),
                (None, Some(_)) => successors.pop().unwrap_or_else(|| unreachable!("peeked")),
                (None, None) => break,
            };
            if expected(&address, &next) != Some(nonce) {
                // A successor already taken from the walk.
                continue;
            }
            let Some(sender) = self.senders.get(&address) else {
                continue;
            };
            let Some(pooled) = sender.txs.get(&nonce) else {
                continue;
            };
            let tx = &pooled.tx;
            let next_gas = gas.saturating_add(tx.tx.body.gas_limit);
            let size = tx.encoded_len() + BODY_ENTRY_OVERHEAD;
            if next_gas > limits.max_gas || bytes + size > limits.max_bytes {
                // This sender's later nonces wait for the next block.
                next.insert(address, None);
                continue;
            }
            gas = next_gas;
            bytes += size;
            out.push(tx.clone());
            let Some(after) = nonce.checked_add(1) else {
                next.insert(address, None);
                continue;
            };
            next.insert(address, Some(after));
            if let Some(successor) = sender.txs.get(&after) {
                successors.push((
                    successor.tx.tx.body.tip,
                    Reverse(successor.arrival),
                    address,
                    after,
                ));
            }
        }
        out
    }

    /// Removes what the finalized block at `height` included, `(sender, nonce)` pairs, and
    /// moves each sender's next nonce past them, so that neither the pooled transactions nor
    /// copies arriving later are proposed again before the block's execution is committed.
    /// Returns how many transactions left.
    pub fn remove_included(
        &mut self,
        height: Height,
        included: impl IntoIterator<Item = (Address, u64)>,
    ) -> usize {
        let before = self.len();
        for (address, nonce) in included {
            let next = nonce.saturating_add(1);
            let floor = self.floors.entry(address).or_insert((next, height));
            *floor = (floor.0.max(next), height);
            let Some(sender) = self.senders.get(&address) else {
                continue;
            };
            let used: Vec<u64> = sender.txs.range(..=nonce).map(|(n, _)| *n).collect();
            for n in used {
                self.remove_one(&address, n);
            }
            if let Some(sender) = self.senders.get_mut(&address) {
                sender.advance(nonce.saturating_add(1));
            }
        }
        before - self.len()
    }

    /// Re-validates `senders` against the committed state at `height`, after a block:
    /// `account(address)` gives the next nonce and the native balance. Used nonces leave the
    /// pool, and so do the transactions the balance can no longer pay: from the next nonce
    /// on, the first whose maximum fee, added to those of the nonces before it, exceeds the
    /// balance, with every later nonce. Returns how many transactions left.
    pub fn revalidate<E>(
        &mut self,
        height: Height,
        senders: impl IntoIterator<Item = Address>,
        mut account: impl FnMut(&Address) -> Result<(u64, u128), E>,
    ) -> Result<usize, E> {
        let before = self.len();
        self.revalidated = self.revalidated.max(height);
        let horizon = self.revalidated.0;
        self.floors
            .retain(|_, (_, at)| at.0.saturating_add(FLOOR_BLOCKS) > horizon);
        for address in senders {
            if !self.senders.contains_key(&address) {
                continue;
            }
            let (next_nonce, balance) = account(&address)?;
            let stale: Vec<u64> = {
                let sender = &self.senders[&address];
                let used = sender.txs.range(..next_nonce).map(|(n, _)| *n);
                let mut owed = 0u128;
                let unaffordable = sender
                    .txs
                    .range(next_nonce..)
                    .find(|(_, p)| {
                        owed = owed.saturating_add(p.tx.tx.body.max_fee);
                        owed > balance
                    })
                    .map(|(n, _)| *n);
                let dependents = unaffordable
                    .into_iter()
                    .flat_map(|n| sender.txs.range(n..).map(|(n, _)| *n));
                used.chain(dependents).collect()
            };
            for nonce in stale {
                self.remove_one(&address, nonce);
            }
            if let Some(sender) = self.senders.get_mut(&address) {
                // Committed state is the truth here, even behind what included blocks implied.
                sender.next_nonce = next_nonce;
                sender.ready_end = next_nonce;
                sender.extend_run();
            }
        }
        Ok(before - self.len())
    }
}

#[cfg(test)]
mod tests;
