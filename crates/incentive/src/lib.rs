//! Lamina's incentive layer: consensus engines and the economics modules that pay and punish validators.
//!
//! An engine orders blocks and declares them final. It reaches the application only through
//! the bus: it asks the agreement layer to build (`BuildProposal`) and, with other
//! validators, to check (`VerifyProposal`) blocks, and announces final ones
//! (`BlockFinalized`), which the agreement layer executes and the data layer commits.
//!
//! - [`engine`]: the seam every engine implements.
//! - [`solo`]: one validator, instant finality, for development, tests and benchmarks.
//! - [`simplex`]: Byzantine fault tolerant consensus among a validator set, over an
//!   authenticated network.

pub mod engine;
pub mod gossip;
pub mod simplex;
pub mod solo;
pub mod staking;

pub use engine::{ChainTip, Engine, EngineError};
pub use simplex::{Simplex, SimplexConfig, SimplexError};
pub use solo::{Solo, SoloConfig};
