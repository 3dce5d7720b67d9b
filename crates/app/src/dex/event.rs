//! What the module reports, in receipts. Amounts are in the pair's order: lower asset first.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;
use serde::Serialize;

use super::Pair;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DexEvent {
    /// A pool opened.
    PoolCreated {
        /// Its assets.
        pair: Pair,
        /// Who opened it.
        provider: Address,
        /// First asset deposited.
        #[serde(with = "lamina_interop::module::amount")]
        amount_a: u128,
        /// Second asset deposited.
        #[serde(with = "lamina_interop::module::amount")]
        amount_b: u128,
        /// Shares the provider received (the locked ones not counted).
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// Liquidity added.
    LiquidityAdded {
        /// The pool.
        pair: Pair,
        /// Who added it.
        provider: Address,
        /// First asset taken.
        #[serde(with = "lamina_interop::module::amount")]
        amount_a: u128,
        /// Second asset taken.
        #[serde(with = "lamina_interop::module::amount")]
        amount_b: u128,
        /// Shares minted.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// Liquidity removed.
    LiquidityRemoved {
        /// The pool.
        pair: Pair,
        /// Who removed it.
        provider: Address,
        /// First asset paid out.
        #[serde(with = "lamina_interop::module::amount")]
        amount_a: u128,
        /// Second asset paid out.
        #[serde(with = "lamina_interop::module::amount")]
        amount_b: u128,
        /// Shares redeemed.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// One hop of a swap.
    Swapped {
        /// The pool.
        pair: Pair,
        /// Who traded.
        trader: Address,
        /// What was sold into the pool.
        asset_in: u32,
        /// How much was sold.
        #[serde(with = "lamina_interop::module::amount")]
        amount_in: u128,
        /// How much the pool paid out.
        #[serde(with = "lamina_interop::module::amount")]
        amount_out: u128,
    },
}
