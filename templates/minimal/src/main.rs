//! {{project-name}}: a chain built on Lamina.
//!
//! `cargo run -- node --dev` starts a one-validator dev chain; every other command of the
//! `lamina` binary works here too (`tx`, `query`, `key`, `chain-spec`, `bench`, ...), with
//! this chain's modules.

use names::{Names, NamesGenesis};

/// mimalloc, which `Chain::run` tunes for a node.
#[global_allocator]
static ALLOCATOR: lamina_node::Allocator = lamina_node::Allocator;

fn main() -> anyhow::Result<()> {
    lamina_node::Chain::new("{{project-name}}")
        // The chain's modules, after the framework's accounts, bank and staking. Each comes
        // with its genesis section for the preset chain specs (dev, local, local-pos).
        .module(
            Names,
            NamesGenesis {
                claimed: vec![("alice".into(), lamina_node::dev_account("alice"))],
            },
        )
        // lamina:modules (`lamina new module NAME` adds a line here)
        .run()
}
