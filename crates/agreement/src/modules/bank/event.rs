//! What the bank reports.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;

use super::AssetId;

/// A bank event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
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
        amount: u128,
    },
}
