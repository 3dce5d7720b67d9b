//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::{Address, Height};
use serde::Serialize;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceEvent {
    /// Capital deposited.
    Deposited {
        /// The pool.
        pool: u32,
        /// Who.
        underwriter: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Shares minted.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// Capital withdrawn.
    Withdrawn {
        /// The pool.
        pool: u32,
        /// Who.
        underwriter: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Shares burned.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// Cover bought.
    CoverBought {
        /// The pool.
        pool: u32,
        /// Who is covered.
        holder: Address,
        /// The holder's number for it.
        cover: u64,
        /// The most a claim pays.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// What it cost.
        #[serde(with = "lamina_interop::module::amount")]
        premium: u128,
        /// Its last block.
        end: Height,
    },
    /// A claim filed.
    ClaimFiled {
        /// The pool.
        pool: u32,
        /// The holder.
        holder: Address,
        /// The holder's number for the cover.
        cover: u64,
        /// The cover's amount.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// A vote.
    Voted {
        /// The pool.
        pool: u32,
        /// The holder.
        holder: Address,
        /// The holder's number for the cover.
        cover: u64,
        /// The underwriter.
        voter: Address,
        /// Whether to pay.
        approve: bool,
        /// Its shares.
        #[serde(with = "lamina_interop::module::amount")]
        weight: u128,
    },
    /// A claim closed: paid (`paid` > 0) or denied.
    ClaimSettled {
        /// The pool.
        pool: u32,
        /// The holder.
        holder: Address,
        /// The holder's number for the cover.
        cover: u64,
        /// What was paid.
        #[serde(with = "lamina_interop::module::amount")]
        paid: u128,
    },
}
