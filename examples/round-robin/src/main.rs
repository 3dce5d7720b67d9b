//! A chain with its own consensus engine: a block every interval, the dev accounts taking
//! turns as its proposer, each block final once built (a toy ordering for a trusted operator,
//! to show the engine seam; `simplex` is the engine for networks). It keeps its data in the
//! counting store of the other example, so both of a node's swappable parts are its own.
//!
//! `round-robin [BASE_PATH] [RPC_PORT]` runs until SIGINT or SIGTERM.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use commonware_runtime::Clock;
use counting_storage::{CountingFjall, Counts};
use lamina_incentive::engine::timestamp_now;
use lamina_incentive::{ChainTip, Engine, EngineError, SoloConfig};
use lamina_interop::bus::{Publisher, RequestError, Requester};
use lamina_interop::messages::{BlockFinalized, BuildProposal, ProposalError};
use lamina_interop::{Address, Height};
use lamina_node::{
    dev_account, Chain, EngineChoice, EngineParts, NodeBuilder, NodeContext, Qmdb, DEV_ACCOUNTS,
};

// ANCHOR: engine
/// Blocks on a timer, proposed in turn.
pub struct RoundRobin<C> {
    clock: C,
    interval: Duration,
    proposers: Vec<Address>,
    tip: ChainTip,
    build: Requester<BuildProposal>,
    finalized: Publisher<BlockFinalized>,
}

impl<C: Clock> Engine for RoundRobin<C> {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    async fn run(mut self) -> Result<(), EngineError> {
        let limits = SoloConfig::default();
        loop {
            self.clock.sleep(self.interval).await;
            let height = Height(self.tip.height.0 + 1);
            let turn = (height.0 % self.proposers.len() as u64) as usize;
            let request = BuildProposal {
                parent: self.tip.block,
                height,
                timestamp: timestamp_now(&self.clock),
                proposer: self.proposers[turn],
                max_gas: limits.max_gas,
                max_bytes: limits.max_bytes,
            };
            let block = match self.build.request(request).await {
                Ok(Ok(block)) => block,
                // Not ready (its parent is still executing): try again next tick.
                Ok(Err(ProposalError::Unavailable { .. })) => continue,
                Ok(Err(reason)) => return Err(EngineError::Diverged { height, reason }),
                // The node is stopping.
                Err(RequestError::NoHandler(_) | RequestError::Closed(_)) => return Ok(()),
                Err(err) => {
                    tracing::warn!(%height, error = ?err, "block not built; retrying");
                    continue;
                }
            };
            self.tip = ChainTip {
                height,
                block: block.id(),
            };
            let event = BlockFinalized {
                block,
                certificate: None,
            };
            if self.finalized.publish(event).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// How the node builds the engine: from the tip it resumes at, on its bus.
pub struct RoundRobinChoice {
    interval: Duration,
    proposers: Vec<Address>,
}

impl<R: NodeContext> EngineChoice<R> for RoundRobinChoice {
    type Engine = RoundRobin<R>;

    fn build(self, parts: EngineParts<'_, R>) -> anyhow::Result<RoundRobin<R>> {
        anyhow::ensure!(!self.proposers.is_empty(), "no proposers");
        Ok(RoundRobin {
            clock: parts.ctx.child("engine"),
            interval: self.interval,
            proposers: self.proposers,
            tip: parts.tip,
            build: parts.bus.requester(),
            finalized: parts.bus.publisher(),
        })
    }
}
// ANCHOR_END: engine

// ANCHOR: main
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base_path = args.next().unwrap_or_else(|| "round-robin-data".into());
    let rpc_port: u16 = args.next().map_or(Ok(9944), |port| port.parse())?;

    let chain = Chain::new("round-robin");
    let spec = chain.spec("dev")?;
    let runtime = Arc::new(chain.runtime(&spec)?);
    let counts = Arc::new(Counts::default());
    let engine = RoundRobinChoice {
        interval: Duration::from_millis(200),
        proposers: DEV_ACCOUNTS.iter().map(|name| dev_account(name)).collect(),
    };
    NodeBuilder::new(spec, runtime, base_path)
        .storage(CountingFjall::new(counts.clone()))
        .state(Qmdb::default())
        .engine(engine)
        .rpc(([127, 0, 0, 1], rpc_port).into())
        .metrics(([127, 0, 0, 1], 0).into())
        .run_until_stopped()?;
    println!(
        "the store wrote {} batches",
        counts.batches.load(Ordering::Relaxed)
    );
    Ok(())
}
// ANCHOR_END: main
