//! The price seam and the bad-debt seam: how a module reads an asset's price, or the debt a
//! lending module wrote off, without reaching into the owner's keys, the way
//! [`Ledger`](super::Ledger) moves assets.
//!
//! The oracle (in `app`) implements [`PriceFeed`]; a module that needs prices (lending, a
//! liquidation bot's module, insurance triggers) is generic over it and is handed the oracle
//! when the runtime is composed. Each read comes with an access declaration,
//! [`PriceFeed::price_access`], that the caller adds to its own access set, so the executor
//! knows which calls read which prices and the working set refuses a read it did not declare.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use super::{AccessSet, StateError, StateView, WorkingSet};
use crate::types::{Height, Timestamp};

/// Prices are fixed-point numbers with 18 decimals: `value` units of the quote asset (the
/// oracle's numeraire, in its smallest unit) buy `PRICE_SCALE` units of the asset (in its
/// smallest unit). The worth of `amount` is `amount * value / PRICE_SCALE`.
pub const PRICE_SCALE: u128 = 1_000_000_000_000_000_000;

/// An asset's price, as of the block that set it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Price {
    /// Quote units per [`PRICE_SCALE`] units of the asset.
    #[serde(with = "super::amount")]
    pub value: u128,
    /// The block that set it.
    pub height: Height,
    /// That block's time.
    pub timestamp: Timestamp,
    /// Whether the price never changes (the quote asset at one): it is never stale.
    #[serde(default)]
    pub fixed: bool,
}

impl Price {
    /// Blocks since the price was set, as of `now`; zero for a fixed price.
    pub fn age_blocks(&self, now: Height) -> u64 {
        if self.fixed {
            return 0;
        }
        now.0.saturating_sub(self.height.0)
    }
}

// ANCHOR: price_feed
/// Current prices, as an oracle keeps them.
pub trait PriceFeed: Send + Sync + 'static {
    /// The latest price of `asset`, or `None` when it has none. Freshness is the caller's
    /// rule: it compares [`Price::height`] with its own limit.
    fn price(&self, state: &mut WorkingSet<'_>, asset: u32) -> Result<Option<Price>, StateError>;

    /// The same, from committed state, for queries.
    fn committed_price(
        &self,
        state: &dyn StateView,
        asset: u32,
    ) -> Result<Option<Price>, StateError>;

    /// Adds to `access` the keys [`PriceFeed::price`] reads for `asset`.
    fn price_access(&self, access: AccessSet, asset: u32) -> AccessSet;
}
// ANCHOR_END: price_feed

// ANCHOR: bad_debt_record
/// Debt a lending module wrote off, per market: an on-chain event other modules may act on
/// (an insurance pool's trigger).
pub trait BadDebtRecord: Send + Sync + 'static {
    /// The total written off in `asset`'s market since it opened (only ever rises).
    fn bad_debt(&self, state: &mut WorkingSet<'_>, asset: u32) -> Result<u128, StateError>;

    /// Adds to `access` the keys [`BadDebtRecord::bad_debt`] reads for `asset`.
    fn bad_debt_access(&self, access: AccessSet, asset: u32) -> AccessSet;

    /// The assets whose bad debt is recorded (fixed when the runtime is composed, so a
    /// reader can declare them before a call runs).
    fn recorded_assets(&self) -> &[u32];
}
// ANCHOR_END: bad_debt_record

/// No lending module: nothing is ever written off.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBadDebt;

impl BadDebtRecord for NoBadDebt {
    fn bad_debt(&self, _state: &mut WorkingSet<'_>, _asset: u32) -> Result<u128, StateError> {
        Ok(0)
    }

    fn bad_debt_access(&self, access: AccessSet, _asset: u32) -> AccessSet {
        access
    }

    fn recorded_assets(&self) -> &[u32] {
        &[]
    }
}
