//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use lamina_interop::Address;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamesEvent {
    /// `owner` claimed `name`.
    Claimed {
        /// The name.
        name: String,
        /// Its owner.
        owner: Address,
    },
    /// `name` moved from `from` to `to`.
    Transferred {
        /// The name.
        name: String,
        /// The previous owner.
        from: Address,
        /// The new owner.
        to: Address,
    },
    /// `owner` gave up `name`.
    Released {
        /// The name.
        name: String,
        /// Its last owner.
        owner: Address,
    },
}
