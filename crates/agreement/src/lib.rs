//! Lamina's agreement layer: transactions, the mempool, the runtime of modules, and block execution.
//!
//! ```text
//! SubmitTxs --> admission: decode, batch-verify on all cores, check nonce/fee/balance
//!                  |
//!                  v
//!               mempool: per sender by nonce, best tip first, bounded
//!                  |
//! BuildProposal ---+--> block (up to gas and byte limits)
//!
//! BlockFinalized --> execute (parallel by access sets) --> CommitBlock{block, receipts, delta}
//! ```
//!
//! - [`tx`]: the transaction format and its byte layout.
//! - [`runtime`]: modules composed in order; what happens around each call; fees.
//! - [`modules`]: the core modules `accounts` and `bank`.
//! - [`execute`]: parallel block execution, equal to sequential.

pub mod admission;
pub mod execute;
pub mod memory_state;
pub mod modules;
pub mod pool;
pub mod runtime;
pub mod service;
pub mod testing;
pub mod tx;

pub use execute::{execute_block, BlockOutput, Mode};
pub use memory_state::MemoryState;
pub use runtime::{Runtime, RuntimeBuilder, RuntimeConfig, RuntimeError};
pub use tx::{SignedTx, UnsignedTx, VerifiedTx};
