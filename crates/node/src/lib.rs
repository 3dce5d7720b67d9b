//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.
//!
//! The library part holds what other assemblies of validators reuse, such as the whole-chain
//! simulation: the evidence reporter that turns observed misbehaviour into slashing reports.

pub mod evidence;
