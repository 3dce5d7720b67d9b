//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;
use serde::Serialize;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LendingEvent {
    /// A supply.
    Supplied {
        /// The supplier.
        account: Address,
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Shares minted.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// A withdrawal.
    Withdrawn {
        /// The supplier.
        account: Address,
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Shares burned.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// A borrow.
    Borrowed {
        /// The borrower.
        account: Address,
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// A repayment.
    Repaid {
        /// Who paid.
        payer: Address,
        /// Whose debt.
        borrower: Address,
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// A liquidation.
    Liquidated {
        /// Who repaid.
        liquidator: Address,
        /// Whose debt.
        borrower: Address,
        /// The debt's market.
        debt_asset: u32,
        /// How much was repaid.
        #[serde(with = "lamina_interop::module::amount")]
        repaid: u128,
        /// The collateral's market.
        collateral_asset: u32,
        /// Collateral seized, in its asset.
        #[serde(with = "lamina_interop::module::amount")]
        seized: u128,
        /// The shares it was.
        #[serde(with = "lamina_interop::module::amount")]
        seized_shares: u128,
        /// The bonus applied, in basis points.
        bonus_bps: u16,
    },
    /// Debt written off: the borrower had no collateral left.
    BadDebt {
        /// Whose debt.
        borrower: Address,
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
}
