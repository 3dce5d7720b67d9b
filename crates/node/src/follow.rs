//! A full node's engine: it follows a chain's finality through any node's JSON-RPC, trusting
//! nothing the endpoint says until the chain's validators are shown to have signed it, and
//! executes every block itself. It never proposes and never votes.
//!
//! ```text
//! loop:
//!   chain_getFinalizedHead                  until the endpoint is past this node's tip
//!   chain_getFinalityProof(tip + 1)         headers tip+1 ..= c, the certificate of c
//!     check: c's epoch is the one its height falls in, and the certificate is signed by
//!            a quorum of that epoch's set, read from this node's own state (the set in
//!            force at start, then staking/next_set as the chain decides each next set)
//!   chain_getBlock(h), h in tip+1 ..= c     each body must match the header the proof holds
//!   VerifyProposal(block)                   the agreement layer's checks, as a validator's:
//!                                           parent, body, signatures, and the state root
//!                                           the header names against this node's own
//!   ==BlockFinalized{block, c's certificate on the last}==>   executed and stored here
//! transactions this node's clients submit --tx_submit--> the endpoint
//! ```
//!
//! With several endpoints (`--follow A,B`), one that fails, withholds a proof or serves one
//! that does not verify hands over to the next.
//!
//! So a full node is as sure of a block as a validator that did not vote for it: a quorum
//! signed it, and this node's own execution agrees with the state roots the chain names. The
//! endpoint can withhold blocks (the node waits and says so) but cannot make it accept one
//! the validators did not finalize. ADR 0035 says why this runs over JSON-RPC and not the
//! validators' peer-to-peer network.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use commonware_runtime::Clock;
use lamina_app::rpc::{RpcClient, RpcClientError};
use lamina_incentive::staking::consensus_set;
use lamina_incentive::{ChainTip, Engine, EngineError};
use lamina_interop::block::Block;
use lamina_interop::bus::{Bus, Publisher, RecvError, Requester, Subscription};
use lamina_interop::codec::{BoundedVec, Canonical as _};
use lamina_interop::finality::{FinalityProof, ValidatorSet};
use lamina_interop::light::NEXT_SET_KEY;
use lamina_interop::messages::{
    BlockFinalized, OpenSnapshot, ProposalError, TxsAdmitted, VerifyProposal,
};
use lamina_interop::module::StateView;
use lamina_interop::{ChainId, Height};

use crate::node::{EngineChoice, EngineParts, NodeContext};
use crate::spec::{dev_key, ChainSpec, ConsensusSpec};

/// How often the endpoint is asked again while it has nothing new, or failed.
pub const POLL: Duration = Duration::from_millis(100);
/// How long a block waits for this node's execution to reach the state it names, or for
/// the set of its epoch, before the node gives up on the chain.
pub const WAIT: Duration = Duration::from_secs(120);
/// Most validator sets kept (the newest).
const KEPT_SETS: usize = 16;

/// What a follower needs besides the bus.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// The endpoints followed, in order of preference: the node turns to the next when one
    /// fails, withholds, or serves what does not verify.
    pub urls: Vec<String>,
    /// The chain's id.
    pub chain_id: ChainId,
    /// Blocks per epoch; `None` on a chain whose set never changes.
    pub epoch_blocks: Option<u64>,
    /// The set in force after the tip, when the chain's state holds none (a chain without
    /// staking: the spec's validators, or the solo key).
    pub fixed_set: Option<ValidatorSet>,
}

/// The full node's engine; see the module docs.
pub struct Follow<C: Clock> {
    clock: C,
    config: FollowConfig,
    /// One client per endpoint, and the one in use.
    endpoints: Vec<RpcClient>,
    current: usize,
    tip: ChainTip,
    sets: BTreeMap<u64, ValidatorSet>,
    verify: Requester<VerifyProposal>,
    snapshot: Requester<OpenSnapshot>,
    finalized: Publisher<BlockFinalized>,
}

/// Why one round of following stopped short; the transient ones are retried.
enum Stop {
    /// The endpoint failed or lacks something: try again later.
    Endpoint(String),
    /// The bus closed: the node is stopping.
    Closed,
    /// The engine cannot go on.
    Fatal(EngineError),
}

impl From<RpcClientError> for Stop {
    fn from(err: RpcClientError) -> Stop {
        Stop::Endpoint(err.to_string())
    }
}

impl<C: Clock> Follow<C> {
    /// A follower of `config.urls` continuing from `tip`, whose committed state is `state`.
    pub fn new(
        clock: C,
        bus: &Bus,
        config: FollowConfig,
        tip: ChainTip,
        state: &dyn StateView,
    ) -> anyhow::Result<Follow<C>> {
        if config.urls.is_empty() {
            anyhow::bail!("a full node needs an endpoint to follow");
        }
        let endpoints = config
            .urls
            .iter()
            .map(|url| RpcClient::new(url))
            .collect::<Result<Vec<_>, _>>()?;
        let mut follow = Follow {
            clock,
            endpoints,
            current: 0,
            tip,
            sets: BTreeMap::new(),
            verify: bus.requester::<VerifyProposal>(),
            snapshot: bus.requester::<OpenSnapshot>(),
            finalized: bus.publisher::<BlockFinalized>(),
            config,
        };
        follow.learn(state)?;
        if follow.sets.is_empty() {
            anyhow::bail!("the chain's state holds no validator set and the spec names none");
        }
        Ok(follow)
    }

    /// Takes in the sets `state` holds: the one in force, and the next once decided.
    fn learn(&mut self, state: &dyn StateView) -> anyhow::Result<()> {
        match consensus_set(state)? {
            Some((epoch, keys)) => {
                self.keep(ValidatorSet::new(epoch, keys)?);
            }
            None => {
                if let Some(set) = self.config.fixed_set.clone() {
                    self.keep(set);
                }
            }
        }
        if let Some(bytes) = state.get(NEXT_SET_KEY)? {
            let set = ValidatorSet::decode(&bytes)
                .map_err(|e| anyhow::anyhow!("the next validator set in state: {e}"))?;
            self.keep(set);
        }
        Ok(())
    }

    fn keep(&mut self, set: ValidatorSet) {
        self.sets.insert(set.epoch, set);
        while self.sets.len() > KEPT_SETS {
            self.sets.pop_first();
        }
    }

    fn epoch_of(&self, height: Height) -> u64 {
        match self.config.epoch_blocks {
            Some(blocks) if blocks > 0 && height.0 > 0 => (height.0 - 1) / blocks,
            _ => self.sets.keys().next_back().copied().unwrap_or(0),
        }
    }

    /// The set of `epoch`, from this node's state as its execution reaches the block that
    /// decides it.
    async fn set(&mut self, epoch: u64) -> Result<ValidatorSet, Stop> {
        let since = Instant::now();
        loop {
            if let Some(set) = self.sets.get(&epoch) {
                return Ok(set.clone());
            }
            if since.elapsed() > WAIT {
                return Err(Stop::Fatal(EngineError::Forked {
                    height: Height(self.tip.height.0 + 1),
                    detail: format!(
                        "this node's state never decided the validator set of epoch {epoch}"
                    ),
                }));
            }
            let snapshot = self
                .snapshot
                .request(OpenSnapshot { height: None })
                .await
                .map_err(|_| Stop::Closed)?
                .map_err(|e| Stop::Endpoint(format!("state: {e}")))?;
            self.learn(snapshot.view.as_ref())
                .map_err(|e| Stop::Endpoint(format!("state: {e}")))?;
            if !self.sets.contains_key(&epoch) {
                self.clock.sleep(POLL / 10).await;
            }
        }
    }

    /// Follows one proof's worth of blocks past the tip from the endpoint in use; `false`
    /// when there was nothing new.
    async fn step(&mut self) -> Result<bool, Stop> {
        let rpc = self.endpoints[self.current].clone();
        let head = rpc.finalized_head().await?.height;
        let next = Height(self.tip.height.0 + 1);
        if head < next {
            return Ok(false);
        }
        let Some(proof) = rpc.finality_proof(next).await? else {
            return Err(Stop::Endpoint(format!(
                "no finality proof of block {next} yet"
            )));
        };
        self.check(&proof, next).await?;
        let last = proof.headers.len() - 1;
        for (index, header) in proof.headers.iter().enumerate() {
            let view = rpc
                .block(header.height)
                .await?
                .ok_or_else(|| Stop::Endpoint(format!("no block {}", header.height)))?;
            if view.header != *header {
                return Err(Stop::Endpoint(format!(
                    "block {} is not the one its finality proof holds",
                    header.height
                )));
            }
            let txs = BoundedVec::try_from_vec(view.txs).map_err(|txs| {
                Stop::Endpoint(format!(
                    "block {} holds {} transactions",
                    header.height,
                    txs.len()
                ))
            })?;
            let block = std::sync::Arc::new(Block {
                header: view.header,
                txs,
            });
            self.verified(&block).await?;
            let certificate =
                (index == last).then(|| std::sync::Arc::new(proof.certificate.clone()));
            tracing::debug!(height = %block.header.height, txs = block.txs.len(), "followed");
            self.tip = ChainTip {
                height: block.header.height,
                block: block.id(),
            };
            lamina_interop::timeline::finalized(
                self.tip.block,
                self.tip.height,
                block.header.timestamp.0,
            );
            if self
                .finalized
                .publish(BlockFinalized { block, certificate })
                .await
                .is_err()
            {
                return Err(Stop::Closed);
            }
        }
        Ok(true)
    }

    /// Checks that `proof` starts at `next` on this node's tip and that a quorum of the
    /// right epoch's set signed it.
    async fn check(&mut self, proof: &FinalityProof, next: Height) -> Result<(), Stop> {
        let (Some(first), Some(certified)) = (proof.header(), proof.certified()) else {
            return Err(Stop::Endpoint("a finality proof without headers".into()));
        };
        if first.height != next || first.parent != self.tip.block {
            return Err(Stop::Endpoint(format!(
                "the finality proof of block {next} does not continue this node's chain"
            )));
        }
        let epoch = self.epoch_of(certified.height);
        if proof.certificate.epoch != epoch {
            return Err(Stop::Endpoint(format!(
                "the certificate of block {} claims epoch {}, its height is in epoch {epoch}",
                certified.height, proof.certificate.epoch
            )));
        }
        let set = self.set(epoch).await?;
        proof
            .verify(self.config.chain_id, &set)
            .map_err(|e| Stop::Endpoint(format!("the finality proof of block {next}: {e}")))?;
        Ok(())
    }

    /// Has the agreement layer check `block` as it checks a proposal, waiting while this
    /// node's execution has not reached the state the header names.
    async fn verified(&mut self, block: &std::sync::Arc<Block>) -> Result<(), Stop> {
        let since = Instant::now();
        loop {
            let reply = self
                .verify
                .request(VerifyProposal {
                    block: block.clone(),
                })
                .await
                .map_err(|_| Stop::Closed)?;
            match reply {
                Ok(()) => return Ok(()),
                Err(ProposalError::Unavailable { detail }) if since.elapsed() < WAIT => {
                    tracing::trace!(%detail, "waiting for execution");
                    self.clock.sleep(POLL / 10).await;
                }
                Err(reason) => {
                    return Err(Stop::Fatal(EngineError::Forked {
                        height: block.header.height,
                        detail: format!(
                            "the validators finalized a block this node refuses: {reason}"
                        ),
                    }))
                }
            }
        }
    }
}

impl<C: Clock> Engine for Follow<C> {
    fn name(&self) -> &'static str {
        "follow"
    }

    async fn run(mut self) -> Result<(), EngineError> {
        let mut complaint: Option<String> = None;
        loop {
            match self.step().await {
                Ok(true) => complaint = None,
                Ok(false) => self.clock.sleep(POLL).await,
                Err(Stop::Endpoint(detail)) => {
                    // Said once per distinct problem, not once per poll.
                    let url = &self.config.urls[self.current];
                    if complaint.as_deref() != Some(detail.as_str()) {
                        tracing::warn!(%url, %detail, "following the chain");
                        complaint = Some(detail);
                    }
                    // The next endpoint, if there is another, gets its turn.
                    self.current = (self.current + 1) % self.endpoints.len();
                    self.clock.sleep(POLL).await;
                }
                Err(Stop::Closed) => return Ok(()),
                Err(Stop::Fatal(err)) => return Err(err),
            }
        }
    }
}

/// Relays the transactions this node's clients submit to the first of `urls` that takes
/// them (which gossips them to the validators). Runs until the bus closes.
pub async fn forward(urls: Vec<String>, mut admitted: Subscription<TxsAdmitted>) {
    let Ok(endpoints) = urls
        .iter()
        .map(|url| RpcClient::new(url))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    loop {
        match admitted.recv().await {
            Ok(event) => {
                let txs: Vec<_> = event.txs().cloned().collect();
                let mut relayed = false;
                for (url, rpc) in urls.iter().zip(&endpoints) {
                    match rpc.submit_batch(&txs).await {
                        Ok(_) => {
                            relayed = true;
                            break;
                        }
                        Err(err) => tracing::debug!(%url, %err, "transactions not taken"),
                    }
                }
                if !relayed {
                    tracing::warn!(
                        txs = txs.len(),
                        "transactions not relayed: no endpoint took them"
                    );
                }
            }
            Err(RecvError::Lagged { missed }) => {
                tracing::warn!(
                    missed,
                    "admitted transactions not relayed: the relay lagged"
                )
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The follower as the node's engine: `lamina node --follow URL`.
pub struct FollowEngine {
    config: FollowConfig,
}

impl FollowEngine {
    /// A full node of the chain `spec` describes, following `urls` (in order of preference).
    pub fn from_spec(spec: &ChainSpec, urls: &[String]) -> anyhow::Result<FollowEngine> {
        let (chain_id, epoch_blocks, genesis) = light_params(spec)?;
        Ok(FollowEngine {
            config: FollowConfig {
                urls: urls.to_vec(),
                chain_id,
                epoch_blocks,
                fixed_set: Some(genesis),
            },
        })
    }
}

impl<R: NodeContext> EngineChoice<R> for FollowEngine {
    type Engine = Follow<R>;

    fn build(self, parts: EngineParts<'_, R>) -> anyhow::Result<Self::Engine> {
        let urls = self.config.urls.clone();
        let admitted = parts.bus.subscribe::<TxsAdmitted>();
        parts
            .ctx
            .child("forward")
            .spawn(move |_| forward(urls, admitted));
        Follow::new(
            parts.ctx.child("engine"),
            parts.bus,
            self.config,
            parts.tip,
            parts.state,
        )
    }
}

/// What a client of the chain `spec` describes knows before it sees a block: the chain id,
/// blocks per epoch (`None`: the set never changes), and the set that signs the first
/// blocks (the spec's validators, or the solo engine's key).
pub fn light_params(spec: &ChainSpec) -> anyhow::Result<(ChainId, Option<u64>, ValidatorSet)> {
    let epoch_blocks = spec
        .staking()?
        .and_then(|section| section.params)
        .map(|params| params.epoch_blocks);
    let keys = match &spec.consensus {
        ConsensusSpec::Solo { .. } => vec![dev_key("alice").public_key()],
        ConsensusSpec::Simplex { validators, .. } => validators.clone(),
    };
    Ok((spec.chain_id, epoch_blocks, ValidatorSet::new(0, keys)?))
}
