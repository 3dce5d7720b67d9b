//! `solo`: one validator, instant finality.
//!
//! ```text
//! loop:
//!   wait until   last block + block_time        (or no wait after a full block)
//!   BuildProposal{parent, height, now}  --> block
//!   ==BlockFinalized{block}==>                   final as soon as built
//! ```
//!
//! A block counts as full when it holds [`SoloConfig::full_at_txs`] transactions or nine
//! tenths of the block's bytes: more are then likely waiting, so the next block is built at
//! once. The
//! agreement layer's backpressured subscription to `BlockFinalized` slows the engine to the
//! speed of execution and commit.

use std::sync::Arc;
use std::time::Duration;

use commonware_runtime::Clock;
use lamina_interop::bus::{Bus, Publisher, RequestError, Requester};
use lamina_interop::messages::{BlockFinalized, BuildProposal, ProposalError};
use lamina_interop::{Address, Height};

use crate::engine::{timestamp_now, ChainTip, Engine, EngineError};

/// Settings of the solo engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoloConfig {
    /// Time between blocks when the pool does not fill them.
    pub block_time: Duration,
    /// Gas limit of a block.
    pub max_gas: u64,
    /// Size limit of a block, in bytes.
    pub max_bytes: usize,
    /// The validator's address, named in headers.
    pub proposer: Address,
    /// A block with this many transactions counts as full.
    pub full_at_txs: usize,
}

impl Default for SoloConfig {
    fn default() -> Self {
        SoloConfig {
            block_time: Duration::from_millis(1_000),
            max_gas: 2_000_000_000,
            max_bytes: 32 * 1024 * 1024,
            proposer: Address([0; 32]),
            full_at_txs: 5_000,
        }
    }
}

/// The solo engine; see the module docs.
pub struct Solo<C: Clock> {
    clock: C,
    config: SoloConfig,
    tip: ChainTip,
    build: Requester<BuildProposal>,
    finalized: Publisher<BlockFinalized>,
}

impl<C: Clock> Solo<C> {
    /// An engine continuing from `tip`, on `bus`.
    pub fn new(clock: C, bus: &Bus, config: SoloConfig, tip: ChainTip) -> Solo<C> {
        Solo {
            clock,
            config,
            tip,
            build: bus.requester::<BuildProposal>(),
            finalized: bus.publisher::<BlockFinalized>(),
        }
    }
}

impl<C: Clock> Engine for Solo<C> {
    fn name(&self) -> &'static str {
        "solo"
    }

    async fn run(mut self) -> Result<(), EngineError> {
        let mut full = false;
        // Deadlines, not sleeps: the time spent building does not push later blocks back.
        let mut next_at = self.clock.current() + self.config.block_time;
        loop {
            if !full {
                self.clock.sleep_until(next_at).await;
            }
            next_at = self.clock.current() + self.config.block_time;
            let height = Height(self.tip.height.0 + 1);
            let request = BuildProposal {
                parent: self.tip.block,
                height,
                timestamp: timestamp_now(&self.clock),
                proposer: self.config.proposer,
                max_gas: self.config.max_gas,
                max_bytes: self.config.max_bytes,
            };
            let block = match self.build.request(request).await {
                Ok(Ok(block)) => block,
                Ok(Err(ProposalError::Unavailable { detail })) => {
                    tracing::warn!(%height, %detail, "block not built; retrying");
                    full = false;
                    continue;
                }
                Ok(Err(reason)) => return Err(EngineError::Diverged { height, reason }),
                Err(RequestError::NoHandler(_) | RequestError::Closed(_)) => return Ok(()),
                Err(err) => {
                    tracing::warn!(%height, error = ?err, "block not built; retrying");
                    full = false;
                    continue;
                }
            };
            let bytes: usize = block.txs.iter().map(|tx| tx.as_ref().len()).sum();
            full = block.txs.len() >= self.config.full_at_txs
                || bytes.saturating_mul(10) >= self.config.max_bytes.saturating_mul(9);
            tracing::debug!(%height, txs = block.txs.len(), "finalized");
            self.tip = ChainTip {
                height,
                block: block.id(),
            };
            let event = BlockFinalized {
                block,
                proof: Arc::new(Vec::new()),
            };
            if self.finalized.publish(event).await.is_err() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use commonware_runtime::{deterministic, Runner as _, Spawner as _, Supervisor as _};
    use lamina_interop::block::{tx_root, Block, Header, RawTx};
    use lamina_interop::bus::Request;
    use lamina_interop::codec::BoundedVec;
    use lamina_interop::{ChainId, Hash};

    use super::*;

    /// Builds blocks with `txs(height)` transactions, as the agreement layer would.
    async fn builder(inbox: lamina_interop::bus::Inbox<BuildProposal>, txs: fn(u64) -> usize) {
        while let Some(Request {
            command, responder, ..
        }) = inbox.recv().await
        {
            let body: Vec<RawTx> = (0..txs(command.height.0))
                .map(|i| RawTx::try_from_vec(vec![i as u8; 10]).unwrap())
                .collect();
            let body = BoundedVec::try_from_vec(body).unwrap();
            let header = Header {
                chain_id: ChainId(1),
                height: command.height,
                parent: command.parent,
                timestamp: command.timestamp,
                proposer: command.proposer,
                tx_root: tx_root(body.iter()),
                tx_count: body.len() as u32,
                state_height: Height(command.height.0 - 1),
                state_root: Hash::ZERO,
            };
            let _ = responder.send(Ok(Arc::new(Block { header, txs: body })));
        }
    }

    fn run_chain(txs: fn(u64) -> usize, blocks: usize) -> Vec<Block> {
        deterministic::Runner::seeded(3).start(|ctx| async move {
            let bus = Bus::new(Default::default()).unwrap();
            let inbox = bus.handle::<BuildProposal>().unwrap();
            let mut finalized = bus.subscribe::<BlockFinalized>();
            ctx.child("builder").spawn(move |_| builder(inbox, txs));
            let config = SoloConfig {
                block_time: Duration::from_millis(500),
                full_at_txs: 3,
                ..SoloConfig::default()
            };
            let engine = Solo::new(ctx.child("engine"), &bus, config, ChainTip::GENESIS);
            assert_eq!(engine.name(), "solo");
            let handle = ctx.child("engine").spawn(|_| engine.run());
            let mut out = Vec::new();
            for _ in 0..blocks {
                out.push((*finalized.recv().await.unwrap().block).clone());
            }
            bus.close();
            assert_eq!(handle.await.unwrap(), Ok(()));
            out
        })
    }

    #[test]
    fn blocks_chain_up_one_per_interval() {
        let blocks = run_chain(|_| 1, 4);
        for (i, block) in blocks.iter().enumerate() {
            assert_eq!(block.header.height, Height(i as u64 + 1));
            let parent = if i == 0 {
                Hash::ZERO
            } else {
                blocks[i - 1].id()
            };
            assert_eq!(block.header.parent, parent);
        }
        for pair in blocks.windows(2) {
            let gap = pair[1].header.timestamp.0 - pair[0].header.timestamp.0;
            assert!(
                (500..505).contains(&gap),
                "one block per interval, got {gap} ms"
            );
        }
    }

    #[test]
    fn a_full_block_is_followed_at_once() {
        // Blocks 1 and 2 are full, block 3 is not.
        let blocks = run_chain(|h| if h <= 2 { 3 } else { 1 }, 4);
        let at: Vec<u64> = blocks.iter().map(|b| b.header.timestamp.0).collect();
        assert!(at[1] - at[0] < 10, "no wait after a full block");
        assert!(at[2] - at[1] < 10);
        assert!(
            (500..505).contains(&(at[3] - at[2])),
            "back to the interval"
        );
    }
}
