//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::{Address, Height};
use serde::Serialize;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiquidStakingEvent {
    /// Native staked for share tokens.
    Staked {
        /// Who.
        account: Address,
        /// Native staked.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Share tokens minted.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// Share tokens redeemed for a request.
    Redeemed {
        /// Who.
        account: Address,
        /// Its number for the request.
        request: u64,
        /// Share tokens burned.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
        /// Native owed.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// When it may be claimed.
        ready_at: Height,
    },
    /// A request paid.
    Claimed {
        /// Who.
        account: Address,
        /// Its number for the request.
        request: u64,
        /// Native paid.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// The pool settled with the staking module.
    Rebalanced {
        /// What the shares are worth.
        #[serde(with = "lamina_interop::module::amount")]
        pooled: u128,
        /// Share tokens outstanding.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
        /// What the delegations are worth.
        #[serde(with = "lamina_interop::module::amount")]
        delegated: u128,
    },
}
