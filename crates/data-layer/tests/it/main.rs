//! Integration tests of lamina-data-layer, compiled as one binary.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

mod crash;
