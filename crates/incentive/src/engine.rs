//! The engine seam.
//!
//! ```text
//!            --BuildProposal-->   agreement      (this validator leads)
//!  engine    --VerifyProposal-->  agreement      (another validator's block)
//!            ==BlockFinalized==>  agreement executes, data layer commits, app streams
//! ```
//!
//! An engine is built from the bus and where the chain stands ([`ChainTip`]), and runs until
//! the bus closes. The node's assembly holds it as `impl Engine`, so swapping engines is one
//! line, and an engine that needs more (a network, keys) takes it in its own constructor.

use std::future::Future;
use std::time::UNIX_EPOCH;

use commonware_runtime::Clock;

use lamina_interop::messages::ProposalError;
use lamina_interop::{Hash, Height, Timestamp};

/// The last finalized block an engine continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Its height (0: only the genesis state exists).
    pub height: Height,
    /// Its id (`Hash::ZERO` at genesis).
    pub block: Hash,
}

impl ChainTip {
    /// A chain with only its genesis state.
    pub const GENESIS: ChainTip = ChainTip {
        height: Height::GENESIS,
        block: Hash::ZERO,
    };
}

/// The time to put in a header built now, in milliseconds since the Unix epoch.
pub fn timestamp_now(clock: &impl Clock) -> Timestamp {
    let millis = clock
        .current()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Timestamp(millis)
}

/// Why an engine stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The application refused to build on the engine's chain: the two disagree about the
    /// tip, which only a bug or a damaged store explains.
    #[error("the application cannot build block {height}: {reason}")]
    Diverged {
        /// The block the engine asked for.
        height: Height,
        /// The application's answer.
        reason: ProposalError,
    },
    /// The engine's settings cannot work.
    #[error("engine settings: {0}")]
    Config(String),
    /// Consensus finalized a block that does not extend the chain this node delivered:
    /// more validators misbehaved than the protocol tolerates, or this node's store is
    /// damaged.
    #[error("finalized chain forked at height {height}: {detail}")]
    Forked {
        /// The height below which the two chains differ.
        height: Height,
        /// What was seen.
        detail: String,
    },
}

/// A consensus engine.
pub trait Engine: Send + 'static {
    /// A short name for logs and the node's start-up report: `"solo"`, `"simplex"`.
    fn name(&self) -> &'static str;

    /// Orders and finalizes blocks until the bus closes (`Ok`) or the engine cannot go on.
    ///
    /// Cancel safety: dropping the future stops the engine between blocks or in the middle
    /// of one; a block is final only once `BlockFinalized` was published for it.
    fn run(self) -> impl Future<Output = Result<(), EngineError>> + Send;
}
