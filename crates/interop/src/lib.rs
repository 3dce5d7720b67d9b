//! The shared language of Lamina: primitives, the canonical codec, the typed cross-layer bus, the message catalogue and the module API.
//!
//! This crate depends on no other Lamina crate, and every other Lamina crate depends on it.
//! Layers talk to each other only through what is defined here: messages on the [`bus`],
//! traits such as [`module::Module`] and [`module::StateView`], and the primitives.

pub mod block;
pub mod bus;
pub mod codec;
pub mod crypto;
pub mod hash;
pub mod signing;
pub mod types;

pub use hash::Hash;
pub use types::{Address, ChainId, Height, Timestamp};
