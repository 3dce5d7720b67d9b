//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.
//!
//! A chain built on Lamina is a binary whose `main` names its modules and hands over to the
//! same command line as `lamina` itself:
//!
//! ```no_run
//! fn main() -> anyhow::Result<()> {
//!     lamina_node::Chain::new("mychain")
//!         // .module(MyModule, MyModuleGenesis::default())   // index 3, 4, ...
//!         .run()
//! }
//! ```
//!
//! [`Chain::run`] parses the command line: `node --dev`, `tx`, `query`, `key`, `chain-spec`,
//! `bench`, `testnet` and the rest, with the chain's runtime wherever a runtime is built.
//!
//! The library also holds what other assemblies of validators reuse, such as the whole-chain
//! simulation: the evidence reporter that turns observed misbehaviour into slashing reports,
//! and the loopback ports that node processes started side by side can bind without a race.

mod bench;
mod chain;
mod channel;
mod cli;
mod config;
mod defi;
pub mod evidence;
pub mod follow;
mod keys;
mod light;
mod metrics;
mod network;
mod node;
pub mod ports;
mod relay;
mod scaffold;
mod shell;
mod spec;
mod submit;
mod testnet;

pub use chain::Chain;
pub use defi::STAKED_NATIVE;
/// The allocator a chain's binary installs with `#[global_allocator]`: mimalloc, which
/// [`Chain::run`] tunes for a node (ADR 0024).
pub use lamina_alloc::Allocator;
pub use node::{
    dev_validator, state_dir, Assembled, Endpoints, EngineChoice, EngineParts, Fjall, Missing,
    NodeBuilder, NodeContext, Qmdb, Redb, SimplexEngine, SoloEngine, Started, StateBackend,
    StorageBackend, TokioContext,
};
pub use spec::{dev_account, DEV_ACCOUNTS};
pub use spec::{Bootnode, ChainSpec, ConsensusSpec, RuntimeSpec};
