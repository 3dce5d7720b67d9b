//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.

mod bench;
mod cli;
mod config;
mod keys;
mod metrics;
mod network;
mod node;
mod spec;
mod testnet;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    cli::main()
}
