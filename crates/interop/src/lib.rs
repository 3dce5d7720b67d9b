//! The shared language of Lamina: primitives, the canonical codec, the typed cross-layer bus, the message catalogue and the module API.
//!
//! This crate depends on no other Lamina crate, and every other Lamina crate depends on it.
//! Layers talk to each other only through what is defined here: messages on the [`bus`],
//! traits such as [`module::Module`] and [`module::StateView`], and the primitives.

pub mod block;
pub mod bus;
pub mod chain;
pub mod channel;
pub mod codec;
pub mod crypto;
pub mod finality;
pub mod hash;
pub mod interchain;
pub mod light;
pub mod messages;
pub mod module;
pub mod profile;
pub mod signing;
pub mod state_proof;
pub mod timeline;
pub mod types;

pub use hash::Hash;
pub use types::{Address, ChainId, Height, Timestamp};

/// Any error of this crate, for code that reports rather than handles each kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Untrusted bytes did not decode.
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
    /// A key or signature was refused.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    /// A message did not cross the bus.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// A bus wiring mistake.
    #[error(transparent)]
    Wiring(#[from] bus::WiringError),
    /// A state access failed.
    #[error(transparent)]
    State(#[from] module::StateError),
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
