//! A dev chain on the counting store: `counting-storage [BASE_PATH] [RPC_PORT]`. It runs
//! until SIGINT or SIGTERM, then reports what the store wrote.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use counting_storage::{CountingFjall, Counts};
use lamina_node::{Chain, NodeBuilder, Qmdb, SoloEngine};

// ANCHOR: main
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base_path = args.next().unwrap_or_else(|| "counting-data".into());
    let rpc_port: u16 = args.next().map_or(Ok(9944), |port| port.parse())?;

    let chain = Chain::new("counting");
    let spec = chain.spec("dev")?;
    let runtime = Arc::new(chain.runtime(&spec)?);
    let counts = Arc::new(Counts::default());
    NodeBuilder::new(spec.clone(), runtime, base_path)
        .storage(CountingFjall::new(counts.clone()))
        .state(Qmdb::default())
        .engine(SoloEngine::from_spec(&spec)?)
        .rpc(([127, 0, 0, 1], rpc_port).into())
        .metrics(([127, 0, 0, 1], 0).into())
        .run_until_stopped()?;
    println!(
        "the store wrote {} batches, {} rows",
        counts.batches.load(Ordering::Relaxed),
        counts.rows.load(Ordering::Relaxed)
    );
    Ok(())
}
// ANCHOR_END: main
