//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;
use serde::Serialize;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OracleEvent {
    /// A feeder reported a price.
    Reported {
        /// The feeder.
        feeder: Address,
        /// The asset.
        asset: u32,
        /// The price reported.
        #[serde(with = "lamina_interop::module::amount")]
        value: u128,
    },
    /// The block's price of an asset.
    PriceSet {
        /// The asset.
        asset: u32,
        /// The price set (the median, after the move limit).
        #[serde(with = "lamina_interop::module::amount")]
        value: u128,
        /// The median of fresh reports.
        #[serde(with = "lamina_interop::module::amount")]
        median: u128,
        /// How many fresh reports it was taken from.
        reports: u32,
    },
}
