//! The application side of simplex: what the consensus engine calls, answered through the
//! bus and the blocks channel.
//!
//! ```text
//! simplex --propose(ctx)------> BuildProposal on ctx.parent       --> digest
//!                               (on the epoch's last block: that block again)
//! simplex --verify(ctx, d)----> block d (broadcast, else fetched)  --> VerifyProposal --> bool
//!                               (d = ctx.parent: true only for the epoch's last block)
//! simplex --broadcast(d)------> the block to the plan's recipients (blocks channel)
//! simplex --report(finalized)-> walk back from the finalized block to the last delivered one,
//!                               fetching what is missing; ==BlockFinalized==> oldest first
//! simplex --report(fault)-----> ==MisbehaviourDetected==>
//! ```
//!
//! With epochs (proof of stake), epoch `e` orders the blocks at heights `e*L+1 ..= (e+1)*L`
//! (`L` blocks per epoch). Once its last block is notarized, leaders propose that block again
//! until a finalization for it arrives, so nothing beyond it is ordered by the old set; the
//! engine then waits for the block's execution to announce the next set and starts the next
//! epoch's instance on it.
//!
//! Blocks live in the block cache's actor (`blocks/`), keyed by id (the SHA-256 of the
//! header, which is also the digest consensus orders); finalization certificates go to the
//! finalizer (`finalizer.rs`). This side holds no state of its own: each call of simplex's
//! runs as a task of its own over the handles below.

use std::sync::Arc;
use std::time::Duration;

use commonware_codec::Encode;
use commonware_consensus::simplex::scheme::ed25519::Scheme;
use commonware_consensus::simplex::types::{Activity, Attributable, Context, Finalization};
use commonware_consensus::simplex::Plan;
use commonware_consensus::{Automaton, CertifiableAutomaton, Relay, Reporter};
use commonware_cryptography::{ed25519, sha256};
use commonware_p2p::Recipients;
use commonware_runtime::{Clock, Spawner};
use commonware_utils::channel::oneshot;
use futures::channel::mpsc;
use lamina_interop::block::Block;
use lamina_interop::bus::{Bus, Requester};
use lamina_interop::chain::ChainReader;
use lamina_interop::crypto::PublicKey;
use lamina_interop::messages::{BuildProposal, Misbehaviour, ProposalError, VerifyProposal};
use lamina_interop::timeline::{self, Step};
use lamina_interop::{Address, Hash, Height};

use super::blocks;
use super::finalizer::Note;
use crate::engine::timestamp_now;

/// The digest consensus orders: a block id.
pub(crate) type Digest = sha256::Digest;
/// A validator's identity on the network and in consensus.
pub(crate) type Key = ed25519::PublicKey;
/// What simplex hands the application with each request.
pub(crate) type Ctx = Context<Digest, Key>;

/// The digest of block `id`.
pub(crate) fn digest(id: Hash) -> Digest {
    sha256::Digest(id.0)
}

/// The block id of `digest`.
pub(crate) fn block_id(digest: &Digest) -> Hash {
    Hash(digest.0)
}

/// The address a validator names in the headers it proposes.
pub(crate) fn address_of(key: &Key) -> Address {
    let bytes: [u8; 32] = key.as_ref().try_into().unwrap_or([0; 32]);
    Address::of(&PublicKey(bytes))
}

/// Settings the application side needs.
#[derive(Debug, Clone)]
pub(crate) struct AppConfig {
    pub max_gas: u64,
    pub max_bytes: usize,
    /// How long to wait for a broadcast block before asking peers.
    pub block_wait: Duration,
    /// How long to wait for a peer's answer before asking again.
    pub fetch_timeout: Duration,
    /// Pause before retrying a request the application could not answer yet.
    pub retry: Duration,
    /// Blocks kept in the cache.
    pub cached_blocks: usize,
    /// Ancestors verified at most to make a parent known.
    pub max_ancestors: usize,
    /// Pause of a leader before it builds.
    pub block_time: Duration,
    /// Blocks per epoch; `None`: one epoch for the chain's life.
    pub epoch_blocks: Option<u64>,
}

impl AppConfig {
    /// The height of `epoch`'s last block; `None` without epochs.
    pub(crate) fn last_height(&self, epoch: u64) -> Option<Height> {
        let blocks = self.epoch_blocks?;
        Some(Height(epoch.saturating_add(1).saturating_mul(blocks)))
    }

    /// Whether a block at `height` belongs to `epoch`.
    fn in_epoch(&self, epoch: u64, height: Height) -> bool {
        match self.epoch_blocks {
            None => true,
            Some(blocks) => {
                height.0 > epoch.saturating_mul(blocks)
                    && height.0 <= epoch.saturating_add(1).saturating_mul(blocks)
            }
        }
    }
}

/// What the reporter passes on to the finalizer.
pub(crate) enum Report {
    /// A finalization certificate.
    Finalized(Finalization<Scheme, Digest>),
    /// Verified evidence of misbehaviour.
    Fault {
        offender: Key,
        kind: Misbehaviour,
        evidence: Vec<u8>,
    },
}

impl Report {
    /// Two votes of one of `participants` that contradict each other, as simplex proved them.
    fn conflicting_votes(
        participants: &[Key],
        evidence: &(impl Attributable + Encode),
    ) -> Option<Report> {
        Some(Report::Fault {
            offender: participants.get(evidence.signer().get() as usize)?.clone(),
            kind: Misbehaviour::ConflictingVotes,
            evidence: evidence.encode().to_vec(),
        })
    }
}

/// The application side's handles: immutable, shared by the tasks that answer simplex.
pub(crate) struct App<E> {
    context: E,
    config: AppConfig,
    me: Address,
    bus: Bus,
    build: Requester<BuildProposal>,
    verify: Requester<VerifyProposal>,
    chain: Arc<dyn ChainReader>,
    blocks: blocks::Mailbox,
    notes: mpsc::Sender<Note>,
}

impl<E> App<E>
where
    E: Clock + Spawner + Send + Sync + 'static,
{
    pub(crate) fn new(
        context: E,
        config: AppConfig,
        me: Address,
        bus: &Bus,
        chain: Arc<dyn ChainReader>,
        blocks: blocks::Mailbox,
        notes: mpsc::Sender<Note>,
    ) -> App<E> {
        App {
            context,
            config,
            me,
            bus: bus.clone(),
            build: bus.requester::<BuildProposal>(),
            verify: bus.requester::<VerifyProposal>(),
            chain,
            blocks,
            notes,
        }
    }

    /// Has the finalizer ask peers for their latest finalization (it does so at most once
    /// per fetch timeout): this node cannot build or check a block because it lacks the
    /// blocks below it.
    fn ask_for_tip(&self) {
        let _ = self.notes.clone().try_send(Note::AskTip);
    }

    fn stopped(&self, asker: &oneshot::Sender<impl Sized>) -> bool {
        asker.is_closed() || self.bus.is_closed()
    }

    /// Block `id`, from the cache, the chain or peers; `None` once the asker gave up or the
    /// bus closed.
    async fn fetch(&self, id: Hash, asker: &oneshot::Sender<impl Sized>) -> Option<Arc<Block>> {
        let timing = (self.config.block_wait, self.config.fetch_timeout);
        self.blocks
            .clone()
            .fetch(&self.context, id, timing, || self.stopped(asker))
            .await
    }

    /// The height of block `id` (0 for the genesis parent).
    async fn height_of(&self, id: Hash, asker: &oneshot::Sender<impl Sized>) -> Option<Height> {
        if id == Hash::ZERO {
            return Some(Height::GENESIS);
        }
        if let Ok(Some(height)) = self.chain.height_of(&id) {
            return Some(height);
        }
        self.fetch(id, asker).await.map(|b| b.header.height)
    }

    /// Has the agreement layer verify block `id`, and first those of its ancestors above the
    /// finalized tip it does not know (a validator that missed a proposal learns it from a
    /// certificate). Finalized ancestors are left to execution.
    async fn make_known(&self, id: Hash, asker: &oneshot::Sender<impl Sized>) {
        self.ask_for_tip();
        let mut stack = vec![id];
        let mut attempts = 0;
        while let Some(&top) = stack.last() {
            attempts += 1;
            if attempts > 4 * self.config.max_ancestors || self.stopped(asker) {
                return;
            }
            let Some(block) = self.fetch(top, asker).await else {
                return;
            };
            let Some(tip) = self.blocks.clone().tip().await else {
                return;
            };
            if block.header.height <= tip.height {
                stack.pop();
                continue;
            }
            match self
                .verify
                .request(VerifyProposal {
                    block: block.clone(),
                })
                .await
            {
                Ok(Ok(())) => {
                    stack.pop();
                }
                Ok(Err(ProposalError::UnknownParent { .. }))
                    if stack.len() < self.config.max_ancestors =>
                {
                    stack.push(block.header.parent)
                }
                Ok(Err(ProposalError::Unavailable { .. })) => {
                    self.ask_for_tip();
                    self.context.sleep(self.config.retry).await
                }
                _ => return,
            }
        }
    }

    async fn propose(&self, ctx: Ctx, asker: &oneshot::Sender<Digest>) -> Option<Digest> {
        let parent = block_id(&ctx.parent.1);
        let parent_height = self.height_of(parent, asker).await?;
        if let Some(last) = self.config.last_height(ctx.round.epoch().get()) {
            if parent_height >= last {
                // The epoch is complete: propose its last block again until it is final.
                return (parent_height == last).then_some(ctx.parent.1);
            }
        }
        let height = Height(parent_height.0 + 1);
        if !self.config.block_time.is_zero() {
            self.context.sleep(self.config.block_time).await;
        }
        loop {
            if self.stopped(asker) {
                return None;
            }
            let request = BuildProposal {
                parent,
                height,
                timestamp: timestamp_now(&self.context),
                proposer: self.me,
                max_gas: self.config.max_gas,
                max_bytes: self.config.max_bytes,
            };
            match self.build.request(request).await {
                Ok(Ok(block)) => {
                    let id = block.id();
                    // Kept before simplex learns the digest, so its broadcast finds it.
                    self.blocks.clone().insert(block).await;
                    return Some(digest(id));
                }
                Ok(Err(ProposalError::UnknownParent { .. })) => {
                    tracing::debug!(%height, %parent, "proposal waits for its parent");
                    self.make_known(parent, asker).await
                }
                Ok(Err(ProposalError::Unavailable { detail })) => {
                    tracing::debug!(%height, %detail, "proposal waits");
                    self.ask_for_tip();
                }
                Ok(Err(reason)) => {
                    tracing::warn!(%height, %reason, "cannot propose");
                    return None;
                }
                Err(_) => return None,
            }
            self.context.sleep(self.config.retry).await;
        }
    }

    async fn verify(
        &self,
        ctx: Ctx,
        payload: Digest,
        asker: &oneshot::Sender<bool>,
    ) -> Option<bool> {
        let epoch = ctx.round.epoch().get();
        if payload == ctx.parent.1 {
            // Only an epoch's last block is proposed again, and only within its epoch.
            let height = self.height_of(block_id(&payload), asker).await?;
            return Some(self.config.last_height(epoch) == Some(height));
        }
        let block = self.fetch(block_id(&payload), asker).await?;
        let header = &block.header;
        let parent = block_id(&ctx.parent.1);
        if header.parent != parent
            || header.proposer != address_of(&ctx.leader)
            || !self.config.in_epoch(epoch, header.height)
        {
            return Some(false);
        }
        if header.height.0 != self.height_of(parent, asker).await?.0 + 1 {
            return Some(false);
        }
        loop {
            if self.stopped(asker) {
                return None;
            }
            match self
                .verify
                .request(VerifyProposal {
                    block: block.clone(),
                })
                .await
            {
                Ok(Ok(())) => return Some(true),
                Ok(Err(ProposalError::UnknownParent { .. })) => {
                    tracing::debug!(height = %header.height, %parent, "verification waits for the parent");
                    self.make_known(parent, asker).await
                }
                Ok(Err(ProposalError::Unavailable { detail })) => {
                    tracing::debug!(height = %header.height, %detail, "verification waits");
                    self.ask_for_tip();
                }
                Ok(Err(reason)) => {
                    tracing::warn!(height = %header.height, %reason, "proposal refused");
                    return Some(false);
                }
                Err(_) => return None,
            }
            self.context.sleep(self.config.retry).await;
        }
    }
}

/// What an epoch's simplex instance holds: the automaton, relay and reporter in one
/// cloneable handle.
pub(crate) struct Mailbox<E> {
    app: Arc<App<E>>,
    reports: mpsc::Sender<Report>,
    /// The epoch's validators, in simplex's order.
    participants: Arc<Vec<Key>>,
}

impl<E> Clone for Mailbox<E> {
    fn clone(&self) -> Self {
        Mailbox {
            app: self.app.clone(),
            reports: self.reports.clone(),
            participants: self.participants.clone(),
        }
    }
}

impl<E> Mailbox<E> {
    pub(crate) fn new(
        app: Arc<App<E>>,
        reports: mpsc::Sender<Report>,
        participants: Vec<Key>,
    ) -> Self {
        Mailbox {
            app,
            reports,
            participants: Arc::new(participants),
        }
    }
}

impl<E> Automaton for Mailbox<E>
where
    E: Clock + Spawner + Send + Sync + 'static,
{
    type Context = Ctx;
    type Digest = Digest;

    async fn propose(&mut self, context: Ctx) -> oneshot::Receiver<Digest> {
        let (answer, receiver) = oneshot::channel();
        let app = self.app.clone();
        self.app
            .context
            .child("propose")
            .spawn(move |_| async move {
                if let Some(digest) = app.propose(context, &answer).await {
                    let _ = answer.send(digest);
                }
            });
        receiver
    }

    async fn verify(&mut self, context: Ctx, payload: Digest) -> oneshot::Receiver<bool> {
        let (answer, receiver) = oneshot::channel();
        let app = self.app.clone();
        self.app.context.child("verify").spawn(move |_| async move {
            if let Some(valid) = app.verify(context, payload, &answer).await {
                let _ = answer.send(valid);
            }
        });
        receiver
    }
}

impl<E> CertifiableAutomaton for Mailbox<E> where E: Clock + Spawner + Send + Sync + 'static {}

impl<E> Relay for Mailbox<E>
where
    E: Clock + Spawner + Send + Sync + 'static,
{
    type Digest = Digest;
    type PublicKey = Key;
    type Plan = Plan<Key>;

    fn broadcast(&mut self, payload: Digest, plan: Plan<Key>) -> commonware_actor::Feedback {
        let recipients = match plan {
            Plan::Forward { recipients, .. } => recipients,
            _ => Recipients::All,
        };
        self.app.blocks.send(block_id(&payload), recipients);
        commonware_actor::Feedback::Ok
    }
}

impl<E> Reporter for Mailbox<E>
where
    E: Clock + Spawner + Send + Sync + 'static,
{
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        let participants = &self.participants;
        let report = match activity {
            Activity::Notarization(notarization) => {
                timeline::mark(block_id(&notarization.proposal.payload), Step::Notarized);
                None
            }
            Activity::Finalization(finalization) => Some(Report::Finalized(finalization)),
            Activity::ConflictingNotarize(evidence) => {
                Report::conflicting_votes(participants, &evidence)
            }
            Activity::ConflictingFinalize(evidence) => {
                Report::conflicting_votes(participants, &evidence)
            }
            Activity::NullifyFinalize(evidence) => {
                Report::conflicting_votes(participants, &evidence)
            }
            _ => None,
        };
        let Some(report) = report else {
            return commonware_actor::Feedback::Ok;
        };
        // A dropped finalization is covered by the next one, which finalizes its ancestors.
        match self.reports.try_send(report) {
            Ok(()) => commonware_actor::Feedback::Ok,
            Err(err) if err.is_disconnected() => commonware_actor::Feedback::Closed,
            Err(_) => commonware_actor::Feedback::Backoff,
        }
    }
}
