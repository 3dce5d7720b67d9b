//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.

mod cli;
mod config;
mod keys;
mod metrics;
mod node;
mod spec;

fn main() -> anyhow::Result<()> {
    cli::main()
}
