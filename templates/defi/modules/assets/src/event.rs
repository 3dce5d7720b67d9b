//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use lamina_interop::Address;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetsEvent {
    /// New supply.
    Minted {
        /// The asset.
        asset: u32,
        /// The recipient.
        to: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Supply destroyed.
    Burned {
        /// The asset.
        asset: u32,
        /// Whose.
        from: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// A new issuer.
    AdminChanged {
        /// The asset.
        asset: u32,
        /// The issuer.
        admin: Address,
    },
}
