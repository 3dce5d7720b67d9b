//! Gas from measured cost: what each DeFi call is charged for its computation, beyond the
//! state access the gas schedule meters as it happens.
//!
//! ```text
//! a call's gas = the transaction's base gas (size, signature, bookkeeping)
//!              + metered state access (reads, writes, events, by the schedule)
//!              + its weight: base + per_item x items     (this table, charged before it runs)
//! ```
//!
//! The table is generated, as Substrate's weights are, by a benchmark of every call
//! (`cargo bench -p lamina-app --bench gas -- --write`, which rewrites [`table`]):
//!
//! 1. Each call runs alone, over state prepared so that it succeeds (`Runtime::dry_run`,
//!    best of several rounds of many runs), and so does a native transfer.
//! 2. The transfer sets the rate: its gas over its time, in gas per nanosecond. Every call's
//!    gas should be its time at that rate; its weight is what the base gas and the metered
//!    access leave short of that (never below zero). A call whose cost grows with an item
//!    count (a swap's hops, a report's prices, a stake's validators) is measured at two counts;
//!    the difference gives the per-item weight.
//! 3. `-- --check` measures again and fails when a call's gas differs from its time at the
//!    transfer's rate by more than [`MARGIN_PERCENT`] (a call that the metered access alone
//!    over-charges is not a failure: it can only cost less than its gas).
//!
//! So a block's gas limit bounds its execution time: at most the limit over the transfer's
//! rate, whatever the mix. The book's "Gas from measured cost" shows the table.

#[rustfmt::skip]
pub mod table;

/// How far a call's gas may drift from its measured cost, in percent, before the check fails.
pub const MARGIN_PERCENT: u64 = 25;

/// A call's weight: `base` gas, and `per_item` for each item of its variable part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weight {
    /// Gas whatever the items.
    pub base: u64,
    /// Gas per item.
    pub per_item: u64,
}

impl Weight {
    /// The gas of a call with `items` items (saturating: a weight never wraps to little).
    pub const fn of(self, items: usize) -> u64 {
        self.base
            .saturating_add(self.per_item.saturating_mul(items as u64))
    }
}

#[cfg(test)]
mod tests;
