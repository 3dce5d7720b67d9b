//! Lamina's application layer: JSON-RPC, the typed client, the wallet, and DeFi modules.
