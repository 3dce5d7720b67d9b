//! Lamina's application layer: JSON-RPC, the typed client, the wallet, and DeFi modules.
//!
//! - [`rpc`]: the JSON-RPC server (HTTP and WebSocket on one port) and its typed client.

pub mod rpc;
