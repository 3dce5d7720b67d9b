//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.

fn main() {}
