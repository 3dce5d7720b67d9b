//! Lamina's agreement layer: transactions, the mempool, the runtime of modules, and block execution.
