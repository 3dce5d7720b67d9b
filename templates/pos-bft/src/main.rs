//! {{project-name}}: a proof-of-stake chain built on Lamina.
//!
//! `cargo run -- testnet --validators 4 --staking` starts four validators on this machine
//! (simplex BFT consensus, bonded stake, block rewards, slashing of double signers), each a
//! process of this binary; `cargo run -- chain-spec export --preset local-pos` prints their
//! chain spec, to edit for a network of your own.

use attendance::{Attendance, AttendanceGenesis};

/// mimalloc, which `Chain::run` tunes for a node.
#[global_allocator]
static ALLOCATOR: lamina_node::Allocator = lamina_node::Allocator;

fn main() -> anyhow::Result<()> {
    let monikers = lamina_node::DEV_ACCOUNTS
        .iter()
        .map(|name| (lamina_node::dev_account(name), name.to_string()))
        .collect();
    lamina_node::Chain::new("{{project-name}}")
        // The chain's modules, after the framework's accounts, bank and staking.
        .module(Attendance, AttendanceGenesis { monikers })
        // lamina:modules (`lamina new module NAME` adds a line here)
        .run()
}
