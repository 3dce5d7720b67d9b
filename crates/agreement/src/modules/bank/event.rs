//! What the bank reports.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;
use serde::Serialize;

use super::AssetId;

/// A bank event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BankEvent {
    /// Value moved between accounts.
    Transfer {
        /// The sender.
        from: Address,
        /// The recipient.
        to: Address,
        /// The asset.
        asset: AssetId,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
}
