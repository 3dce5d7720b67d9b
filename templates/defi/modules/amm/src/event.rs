//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;

use crate::Pair;

/// An event. Amounts are in the pair's order: lower asset id first.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AmmEvent {
    /// A pool opened.
    PoolCreated {
        /// Its assets.
        pair: Pair,
        /// Who opened it.
        provider: Address,
        /// First asset deposited.
        amount_a: u128,
        /// Second asset deposited.
        amount_b: u128,
        /// Shares the provider received (the locked ones not counted).
        shares: u128,
    },
    /// Liquidity added.
    LiquidityAdded {
        /// The pool.
        pair: Pair,
        /// Who added it.
        provider: Address,
        /// First asset taken.
        amount_a: u128,
        /// Second asset taken.
        amount_b: u128,
        /// Shares minted.
        shares: u128,
    },
    /// Liquidity removed.
    LiquidityRemoved {
        /// The pool.
        pair: Pair,
        /// Who removed it.
        provider: Address,
        /// First asset paid out.
        amount_a: u128,
        /// Second asset paid out.
        amount_b: u128,
        /// Shares redeemed.
        shares: u128,
    },
    /// A swap.
    Swapped {
        /// The pool.
        pair: Pair,
        /// Who traded.
        trader: Address,
        /// What was sold.
        asset_in: u32,
        /// How much was sold.
        amount_in: u128,
        /// How much was bought.
        amount_out: u128,
    },
}
