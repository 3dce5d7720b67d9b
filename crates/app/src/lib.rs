//! Lamina's application layer: JSON-RPC, the typed client, and DeFi modules.
//!
//! - [`rpc`]: the JSON-RPC server (HTTP and WebSocket on one port) and its typed client.
//! - [`light`]: a light node, verifying what one untrusted endpoint serves.
//! - DeFi runtime modules, reusable by any chain: [`oracle`] (median price feeds),
//!   [`dex`] (constant-product pools and a router), [`lending`] (markets with a kinked rate
//!   model, health factors and liquidation), [`insurance`] (cover pools with voted or
//!   triggered claims), [`liquid_staking`] (a share token for stake across the validators). They compose through typed seams with declared access
//!   (`docs/adr/0028-module-composition.md`).
//! - [`channels`]: two-party payment channels settled on chain, with disputes, and their
//!   off-chain client (a store of signed states, a TCP exchange between two processes).
//! - [`math`]: the exact integer arithmetic they share.

pub mod channels;
pub mod dex;
mod explorer;
pub mod insurance;
pub mod interchain;
pub mod lending;
pub mod light;
pub mod liquid_staking;
pub mod math;
pub mod oracle;
pub mod rpc;
pub mod weights;

#[cfg(test)]
mod composition;
#[cfg(test)]
mod testkit;
