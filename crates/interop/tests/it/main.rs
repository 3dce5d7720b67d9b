//! Integration tests of lamina-interop, compiled as one binary.

#![allow(clippy::unwrap_used)]

mod channel;
mod codec_props;
mod conformance;
mod interchain;
mod light;
mod signatures;
