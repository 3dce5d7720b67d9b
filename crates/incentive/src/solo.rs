//! `solo`: one validator, instant finality.
//!
//! ```text
//! loop:
//!   wait until   a full block's worth admitted since the last build  (TxsAdmitted)
//!            or  last block + block_time
//!            or  no wait, after a block the limits cut short
//!   BuildProposal{parent, height, now}  --> block
//!   sign the block as a validator set of one  (when given a key)
//!   ==BlockFinalized{block, certificate}==>      final as soon as built
//! ```
//!
//! With a key ([`Solo::signed_by`]), every block carries a
//! [`FinalityCertificate`] from a set of one (epoch 0, view = height, parent view =
//! height - 1), in the same format `simplex` produces, so light clients and relayers treat
//! a dev chain as they treat a BFT one: a checkpoint naming the one key, then certificates.
//!
//! A block takes everything the pool holds, up to the block's gas and byte limits. So a
//! block that stopped short of a limit left nothing behind, and the next one waits until the
//! pool has gathered [`SoloConfig::full_at_txs`] new transactions, or until the block time
//! has passed, whichever comes first; a block that reached nine tenths of a limit may have
//! left transactions behind, and the next one is built at once. Building a block the moment
//! the previous one emptied the pool would make a nearly empty block after every full one,
//! which pays each block's fixed costs (a state commit, two fsyncs) for a handful of
//! transactions. The agreement layer's backpressured subscription to `BlockFinalized` slows
//! the engine to the speed of execution and commit.

use std::sync::Arc;
use std::time::Duration;

use commonware_runtime::Clock;
use futures::{pin_mut, select_biased, FutureExt as _};
use lamina_interop::block::MAX_BLOCK_TXS;
use lamina_interop::bus::{Bus, Publisher, RecvError, RequestError, Requester, Subscription};
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::{FinalityCertificate, ValidatorSet};
use lamina_interop::messages::{BlockFinalized, BuildProposal, ProposalError, TxsAdmitted};
use lamina_interop::timeline;
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
    /// Transactions that make a block worth building before the block time: once this many
    /// were admitted since the last block, the next is built.
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
    admitted: Option<Subscription<TxsAdmitted>>,
    /// The key blocks are certified with, and its set of one.
    signer: Option<(SecretKey, ValidatorSet)>,
}

/// When to build the next block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// At once: the last block reached a limit and may have left transactions behind.
    Now,
    /// When a full block's worth was admitted, or at the deadline.
    Filled,
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
            admitted: Some(bus.subscribe::<TxsAdmitted>()),
            signer: None,
        }
    }

    /// The engine, certifying each block it builds with `key` (module docs).
    pub fn signed_by(mut self, key: SecretKey) -> Solo<C> {
        let set =
            ValidatorSet::new(0, vec![key.public_key()]).expect("a set of one key is well formed");
        self.signer = Some((key, set));
        self
    }

    /// The certificate of `block`, when the engine has a key.
    fn certify(&self, block: &lamina_interop::block::Block) -> Option<Arc<FinalityCertificate>> {
        let (key, set) = self.signer.as_ref()?;
        let height = block.header.height.0;
        Some(Arc::new(FinalityCertificate::sign(
            block.header.chain_id,
            set,
            (height, height.saturating_sub(1)),
            block.id(),
            &[key],
        )))
    }

    /// Waits until `admitted` (transactions admitted since the last build, counted on) reaches
    /// a full block or the clock reaches `deadline`.
    async fn wait_to_build(&mut self, admitted: &mut usize, deadline: std::time::SystemTime) {
        loop {
            if *admitted >= self.config.full_at_txs {
                return;
            }
            let Some(subscription) = self.admitted.as_mut() else {
                self.clock.sleep_until(deadline).await;
                return;
            };
            let sleep = self.clock.sleep_until(deadline).fuse();
            pin_mut!(sleep);
            let event = select_biased! {
                event = subscription.recv().fuse() => event,
                () = sleep => return,
            };
            match event {
                Ok(event) => *admitted += event.accepted.iter().filter(|ok| **ok).count(),
                // Events were missed: their transactions are waiting, count the block full.
                Err(RecvError::Lagged { .. }) => *admitted = self.config.full_at_txs,
                // No more counts come; the deadline alone decides.
                Err(RecvError::Closed) => self.admitted = None,
            }
        }
    }
}

impl<C: Clock> Engine for Solo<C> {
    fn name(&self) -> &'static str {
        "solo"
    }

    async fn run(mut self) -> Result<(), EngineError> {
        let mut next = Next::Filled;
        // Transactions admitted since the last build request.
        let mut admitted = 0usize;
        // Deadlines, not sleeps: the time spent building does not push later blocks back.
        let mut next_at = self.clock.current() + self.config.block_time;
        loop {
            if next == Next::Filled {
                self.wait_to_build(&mut admitted, next_at).await;
            }
            admitted = 0;
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
                    next = Next::Filled;
                    continue;
                }
                Ok(Err(reason)) => return Err(EngineError::Diverged { height, reason }),
                Err(RequestError::NoHandler(_) | RequestError::Closed(_)) => return Ok(()),
                Err(err) => {
                    tracing::warn!(%height, error = ?err, "block not built; retrying");
                    next = Next::Filled;
                    continue;
                }
            };
            let bytes: usize = block.txs.iter().map(|tx| tx.as_ref().len()).sum();
            let at_limit = bytes.saturating_mul(10) >= self.config.max_bytes.saturating_mul(9)
                || block.txs.len().saturating_mul(10) >= MAX_BLOCK_TXS.saturating_mul(9);
            next = if at_limit { Next::Now } else { Next::Filled };
            tracing::debug!(%height, txs = block.txs.len(), "finalized");
            self.tip = ChainTip {
                height,
                block: block.id(),
            };
            let certificate = self.certify(&block);
            timeline::finalized(self.tip.block, height, block.header.timestamp.0);
            let event = BlockFinalized { block, certificate };
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

    /// Runs a solo chain over `builder(txs)` with `config` for `blocks` blocks; `admit` runs
    /// beside it with the bus, to publish admissions.
    fn run_chain_with<F, Fut>(
        config: SoloConfig,
        txs: fn(u64) -> usize,
        blocks: usize,
        admit: F,
    ) -> Vec<Block>
    where
        F: FnOnce(deterministic::Context, Publisher<TxsAdmitted>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        deterministic::Runner::seeded(3).start(|ctx| async move {
            let bus = Bus::new(Default::default()).unwrap();
            let inbox = bus.handle::<BuildProposal>().unwrap();
            let mut finalized = bus.subscribe::<BlockFinalized>();
            ctx.child("builder").spawn(move |_| builder(inbox, txs));
            let engine = Solo::new(ctx.child("engine"), &bus, config, ChainTip::GENESIS);
            assert_eq!(engine.name(), "solo");
            let handle = ctx.child("engine").spawn(|_| engine.run());
            let publisher = bus.publisher::<TxsAdmitted>();
            ctx.child("admit").spawn(move |ctx| admit(ctx, publisher));
            let mut out = Vec::new();
            for _ in 0..blocks {
                out.push((*finalized.recv().await.unwrap().block).clone());
            }
            bus.close();
            assert_eq!(handle.await.unwrap(), Ok(()));
            out
        })
    }

    fn config() -> SoloConfig {
        SoloConfig {
            block_time: Duration::from_millis(500),
            full_at_txs: 3,
            ..SoloConfig::default()
        }
    }

    fn run_chain(txs: fn(u64) -> usize, blocks: usize) -> Vec<Block> {
        run_chain_with(config(), txs, blocks, |_, _| async {})
    }

    fn gaps(blocks: &[Block]) -> Vec<u64> {
        blocks
            .windows(2)
            .map(|pair| pair[1].header.timestamp.0 - pair[0].header.timestamp.0)
            .collect()
    }

    /// With a key, every block carries a certificate that verifies against the set of that
    /// one key, and not against another key's.
    #[test]
    fn a_keyed_engine_certifies_every_block() {
        use lamina_interop::crypto::SecretKey;
        use lamina_interop::finality::{FinalityError, ValidatorSet};

        let key = SecretKey::from_seed([7; 32]);
        let set = ValidatorSet::new(0, vec![key.public_key()]).unwrap();
        let other = ValidatorSet::new(0, vec![SecretKey::from_seed([8; 32]).public_key()]).unwrap();
        let certified = deterministic::Runner::seeded(4).start(|ctx| async move {
            let bus = Bus::new(Default::default()).unwrap();
            let inbox = bus.handle::<BuildProposal>().unwrap();
            let mut finalized = bus.subscribe::<BlockFinalized>();
            ctx.child("builder").spawn(move |_| builder(inbox, |_| 1));
            let keyed =
                Solo::new(ctx.child("engine"), &bus, config(), ChainTip::GENESIS).signed_by(key);
            ctx.child("engine").spawn(|_| keyed.run());
            let mut out = Vec::new();
            for _ in 0..3 {
                out.push(finalized.recv().await.unwrap());
            }
            bus.close();
            out
        });
        for event in certified {
            let certificate = event.certificate.expect("a keyed engine certifies");
            let id = event.block.id();
            certificate.verify(ChainId(1), &set, &id).unwrap();
            assert_eq!(certificate.view, event.block.header.height.0);
            assert!(matches!(
                certificate.verify(ChainId(1), &other, &id),
                Err(FinalityError::BadSignature { .. })
            ));
        }
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
    fn a_block_that_took_the_whole_pool_is_not_followed_at_once() {
        // Every block holds a full block's worth (3) but stays far below the limits: the pool
        // was emptied, so the next block waits for the interval (nothing is admitted).
        let blocks = run_chain(|_| 3, 3);
        for gap in gaps(&blocks) {
            assert!(
                (500..505).contains(&gap),
                "waited the interval, got {gap} ms"
            );
        }
    }

    #[test]
    fn a_block_at_its_byte_limit_is_followed_at_once() {
        // Blocks 1 and 2 fill the 30-byte limit with three 10-byte transactions; block 3 not.
        let config = SoloConfig {
            max_bytes: 30,
            ..config()
        };
        let blocks = run_chain_with(config, |h| if h <= 2 { 3 } else { 1 }, 4, |_, _| async {});
        let gaps = gaps(&blocks);
        assert!(gaps[0] < 10, "no wait after a block at its limit: {gaps:?}");
        assert!(gaps[1] < 10, "{gaps:?}");
        assert!(
            (500..505).contains(&gaps[2]),
            "back to the interval: {gaps:?}"
        );
    }

    #[test]
    fn a_full_blocks_worth_of_admissions_builds_the_next_before_the_interval() {
        // Every 300 ms, three transactions are admitted: a batch with one accepted and two
        // refused (which must not count), then 50 ms later a batch of two. Each block is built
        // on the second batch, not on the first and not at the 500 ms interval.
        let blocks = run_chain_with(
            config(),
            |_| 1,
            4,
            |ctx, publisher| async move {
                loop {
                    ctx.sleep(Duration::from_millis(100)).await;
                    let tx = RawTx::try_from_vec(vec![1; 10]).unwrap();
                    for (pause, accepted) in [(0, vec![true, false, false]), (50, vec![true, true])]
                    {
                        ctx.sleep(Duration::from_millis(pause)).await;
                        let event = TxsAdmitted {
                            submitted: Arc::new(vec![tx.clone(); accepted.len()]),
                            accepted: Arc::new(accepted),
                        };
                        if publisher.publish(event).await.is_err() {
                            return;
                        }
                    }
                    ctx.sleep(Duration::from_millis(150)).await;
                }
            },
        );
        let first = blocks[0].header.timestamp.0;
        assert!(
            (150..155).contains(&first),
            "built on the second batch, at {first} ms"
        );
        let gaps = gaps(&blocks);
        assert!(
            gaps.iter().all(|gap| (300..305).contains(gap)),
            "built on admissions, before the interval: {gaps:?}"
        );
    }
}
