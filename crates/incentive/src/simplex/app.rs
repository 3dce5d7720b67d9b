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
//! Blocks live in a bounded cache keyed by id (the SHA-256 of the header, which is also the
//! digest consensus orders). A block missing from the cache is asked of every peer, again
//! after each fetch timeout; peers answer from their cache or their finalized chain. Since a
//! block's id is the hash of its header and the header commits to the body, a peer cannot
//! substitute another block.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use commonware_codec::{Decode as _, Encode};
use commonware_consensus::simplex::scheme::ed25519::Scheme;
use commonware_consensus::simplex::types::{Activity, Attributable, Context, Finalization};
use commonware_consensus::simplex::Plan;
use commonware_consensus::{Automaton, CertifiableAutomaton, Epochable as _, Relay, Reporter};
use commonware_cryptography::certificate::Scheme as _;
use commonware_cryptography::{ed25519, sha256};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Spawner};
use commonware_utils::channel::oneshot;
use futures::channel::mpsc;
use futures::future::{self, Either};
use lamina_interop::block::Block;
use lamina_interop::bus::{Bus, Requester};
use lamina_interop::chain::ChainReader;
use lamina_interop::crypto::PublicKey;
use lamina_interop::messages::{BuildProposal, Misbehaviour, ProposalError, VerifyProposal};
use lamina_interop::{Address, Hash, Height};
use parking_lot::Mutex;
use rand_core_010::CryptoRng;

use super::wire::Wire;
use crate::engine::{timestamp_now, ChainTip};

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

/// Most epochs whose schemes and closing certificates are kept.
const KEPT_EPOCHS: usize = 16;

/// The epochs this node knows.
#[derive(Default)]
struct Epochs {
    /// The epoch this node runs.
    current: u64,
    /// The signing schemes of recent epochs, to check peers' certificates.
    schemes: BTreeMap<u64, Scheme>,
    /// Per finished epoch, the encoded certificate that finalized its last block.
    closing: BTreeMap<u64, Vec<u8>>,
}

struct Cache {
    blocks: HashMap<Hash, Arc<Block>>,
    waiters: HashMap<Hash, Vec<oneshot::Sender<Arc<Block>>>>,
    /// The last block published as finalized.
    delivered: ChainTip,
}

/// State shared by the engine's callbacks, the network task and the finalizer.
pub(crate) struct Shared<E, S> {
    context: E,
    config: AppConfig,
    me: Address,
    bus: Bus,
    build: Requester<BuildProposal>,
    verify: Requester<VerifyProposal>,
    chain: Arc<dyn ChainReader>,
    sender: S,
    cache: Mutex<Cache>,
    epochs: Mutex<Epochs>,
    rng: Mutex<E>,
    /// Where verified certificates from peers go: the finalizer.
    reports: mpsc::Sender<Report>,
    /// The certificate of the newest block delivered, encoded, for peers that fell behind.
    latest: Mutex<Option<Vec<u8>>>,
    /// When this node last asked its peers for their latest finalization.
    asked_tip: Mutex<Option<SystemTime>>,
}

impl<E, S> Shared<E, S>
where
    E: Clock + Spawner + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = Key>,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        context: E,
        config: AppConfig,
        me: Address,
        bus: &Bus,
        chain: Arc<dyn ChainReader>,
        sender: S,
        tip: ChainTip,
        reports: mpsc::Sender<Report>,
    ) -> Shared<E, S> {
        Shared {
            rng: Mutex::new(context.child("certificates")),
            epochs: Mutex::new(Epochs::default()),
            reports,
            latest: Mutex::new(None),
            asked_tip: Mutex::new(None),
            context,
            config,
            me,
            bus: bus.clone(),
            build: bus.requester::<BuildProposal>(),
            verify: bus.requester::<VerifyProposal>(),
            chain,
            sender,
            cache: Mutex::new(Cache {
                blocks: HashMap::new(),
                waiters: HashMap::new(),
                delivered: tip,
            }),
        }
    }

    pub(crate) fn delivered(&self) -> ChainTip {
        self.cache.lock().delivered
    }

    pub(crate) fn set_delivered(&self, tip: ChainTip) {
        self.cache.lock().delivered = tip;
    }

    /// Remembers the certificate of the newest delivered block, for peers.
    pub(crate) fn set_latest(&self, certificate: Vec<u8>) {
        *self.latest.lock() = Some(certificate);
    }

    /// The epoch this node runs.
    pub(crate) fn epoch(&self) -> u64 {
        self.epochs.lock().current
    }

    /// Starts `epoch`, whose votes and certificates `scheme` checks.
    pub(crate) fn enter_epoch(&self, epoch: u64, scheme: Scheme) {
        let mut epochs = self.epochs.lock();
        epochs.current = epoch;
        epochs.schemes.insert(epoch, scheme);
        while epochs.schemes.len() > KEPT_EPOCHS {
            epochs.schemes.pop_first();
        }
        *self.latest.lock() = None;
    }

    /// Records the certificate that finalized `epoch`'s last block, for peers still in it.
    pub(crate) fn close_epoch(&self, epoch: u64, certificate: Vec<u8>) {
        let mut epochs = self.epochs.lock();
        epochs.closing.insert(epoch, certificate);
        while epochs.closing.len() > KEPT_EPOCHS {
            epochs.closing.pop_first();
        }
    }

    /// The height of `epoch`'s last block; `None` without epochs.
    pub(crate) fn last_height(&self, epoch: u64) -> Option<Height> {
        let blocks = self.config.epoch_blocks?;
        Some(Height(epoch.saturating_add(1).saturating_mul(blocks)))
    }

    /// Whether a block at `height` belongs to `epoch`.
    fn in_epoch(&self, epoch: u64, height: Height) -> bool {
        match self.config.epoch_blocks {
            None => true,
            Some(blocks) => {
                height.0 > epoch.saturating_mul(blocks)
                    && height.0 <= epoch.saturating_add(1).saturating_mul(blocks)
            }
        }
    }

    /// Asks every peer for its latest finalization, at most once per fetch timeout: called
    /// when this node cannot build or check a block because it lacks the blocks below it.
    fn ask_for_tip(&self) {
        let now = self.context.current();
        {
            let mut asked = self.asked_tip.lock();
            let recent = asked.is_some_and(|at| {
                now.duration_since(at).unwrap_or_default() < self.config.fetch_timeout
            });
            if recent {
                return;
            }
            *asked = Some(now);
        }
        let mut sender = self.sender.clone();
        let _ = sender.send(Recipients::All, Wire::Tip(self.epoch()).encode(), false);
    }

    /// Asks peers for their latest finalization unless this node finalized a block within
    /// `quiet`: called periodically, so a node left behind in an old epoch (whose instance
    /// its peers no longer run) still learns how to catch up.
    pub(crate) fn ask_if_stalled(&self, last_progress: SystemTime, quiet: Duration) {
        let now = self.context.current();
        if now.duration_since(last_progress).unwrap_or_default() >= quiet {
            self.ask_for_tip();
        }
    }

    /// A peer's finalization certificate, passed to the finalizer if it checks out against
    /// the validator set of its epoch.
    fn on_finalized(&self, peer: &Key, bytes: &[u8]) {
        let (current, largest) = {
            let epochs = self.epochs.lock();
            let largest = epochs
                .schemes
                .values()
                .map(|s| s.participants().len())
                .max()
                .unwrap_or(0);
            (epochs.current, largest)
        };
        if bytes.len() > Finalization::<Scheme, Digest>::max_encode_size(largest as u32) {
            tracing::debug!(%peer, "oversized finalization");
            return;
        }
        let Ok(finalization) = Finalization::<Scheme, Digest>::decode_cfg(bytes.to_vec(), &largest)
        else {
            tracing::debug!(%peer, "undecodable finalization");
            return;
        };
        let epoch = finalization.epoch().get();
        if epoch != current {
            // An older epoch's is stale; a later one's cannot be checked before this node
            // has executed its way into that epoch, so ask for the one it needs.
            if epoch > current {
                self.ask_for_tip();
            }
            return;
        }
        let Some(scheme) = self.epochs.lock().schemes.get(&epoch).cloned() else {
            return;
        };
        let valid = {
            let mut rng = self.rng.lock();
            finalization.verify(&mut *rng, &scheme, &Sequential)
        };
        if !valid {
            tracing::debug!(%peer, "invalid finalization certificate");
            return;
        }
        let _ = self
            .reports
            .clone()
            .try_send(Report::Finalized(finalization));
    }

    /// Keeps `block` if someone waits for it, or if it is above the finalized tip by at most
    /// half the cache; the lowest blocks leave first when the cache is full.
    pub(crate) fn insert(&self, block: Arc<Block>) {
        let id = block.id();
        let mut cache = self.cache.lock();
        let waited = cache.waiters.remove(&id);
        // Unasked-for blocks only near the tip, so a peer cannot fill the cache with blocks
        // far ahead.
        let ahead = block
            .header
            .height
            .0
            .saturating_sub(cache.delivered.height.0);
        let wanted =
            waited.is_some() || (1..=self.config.cached_blocks as u64 / 2).contains(&ahead);
        if let Some(waiters) = waited {
            for waiter in waiters {
                let _ = waiter.send(block.clone());
            }
        }
        if !wanted || cache.blocks.contains_key(&id) {
            return;
        }
        while cache.blocks.len() >= self.config.cached_blocks.max(1) {
            let Some(lowest) = cache
                .blocks
                .iter()
                .min_by_key(|(_, b)| b.header.height)
                .map(|(id, _)| *id)
            else {
                break;
            };
            cache.blocks.remove(&lowest);
        }
        cache.blocks.insert(id, block);
    }

    /// The block with id `id` from the cache or the finalized chain.
    pub(crate) fn lookup(&self, id: &Hash) -> Option<Arc<Block>> {
        if let Some(block) = self.cache.lock().blocks.get(id) {
            return Some(block.clone());
        }
        let height = self.chain.height_of(id).ok()??;
        let block = self.chain.block(height).ok()??;
        (block.id() == *id).then(|| Arc::new(block))
    }

    fn stopped(&self, asker: &oneshot::Sender<impl Sized>) -> bool {
        asker.is_closed() || self.bus.is_closed()
    }

    /// Block `id`: from the cache or the chain at once, else as it arrives; peers are asked
    /// after [`AppConfig::block_wait`] and again after each fetch timeout. `None` once the
    /// asker gave up or the bus closed.
    pub(crate) async fn fetch(
        &self,
        id: Hash,
        asker: &oneshot::Sender<impl Sized>,
    ) -> Option<Arc<Block>> {
        if let Some(block) = self.lookup(&id) {
            return Some(block);
        }
        let (send, mut arrived) = oneshot::channel();
        {
            let mut cache = self.cache.lock();
            if let Some(block) = cache.blocks.get(&id) {
                return Some(block.clone());
            }
            let waiters = cache.waiters.entry(id).or_default();
            waiters.retain(|w| !w.is_closed());
            waiters.push(send);
        }
        let mut wait = self.config.block_wait;
        loop {
            let timer = self.context.sleep(wait);
            futures::pin_mut!(timer);
            match future::select(&mut arrived, timer).await {
                Either::Left((Ok(block), _)) => return Some(block),
                Either::Left((Err(_), _)) => return None,
                Either::Right(_) => {}
            }
            if self.stopped(asker) {
                return None;
            }
            tracing::debug!(block = %id, "asking peers for a block");
            let mut sender = self.sender.clone();
            let _ = sender.send(Recipients::All, Wire::Request(id).encode(), false);
            wait = self.config.fetch_timeout;
        }
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
            if block.header.height <= self.delivered().height {
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
        if let Some(last) = self.last_height(ctx.round.epoch().get()) {
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
                    self.insert(block);
                    return Some(digest(id));
                }
                Ok(Err(ProposalError::UnknownParent { .. })) => {
                    tracing::debug!(%height, %parent, tip = %self.delivered().block, tip_height = %self.delivered().height, "proposal waits for its parent");
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
            return Some(self.last_height(epoch) == Some(height));
        }
        let block = self.fetch(block_id(&payload), asker).await?;
        let header = &block.header;
        let parent = block_id(&ctx.parent.1);
        if header.parent != parent
            || header.proposer != address_of(&ctx.leader)
            || !self.in_epoch(epoch, header.height)
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

    /// Sends `block` on the blocks channel. The network refuses (by panicking) a message
    /// over the channel's limit, so a block too large to send is logged and kept here; the
    /// builder's size limit is meant to make that impossible.
    fn send_block(&self, recipients: Recipients<Key>, block: &Block) {
        let bytes = Wire::Block(block.clone()).encode();
        let limit = self.config.max_bytes.saturating_add(1024);
        if bytes.len() > limit {
            tracing::error!(
                height = %block.header.height,
                size = bytes.len(),
                limit,
                "block too large for the blocks channel; not sent"
            );
            return;
        }
        let mut sender = self.sender.clone();
        let _ = sender.send(recipients, bytes, false);
    }

    /// Answers peers on the blocks channel until it closes.
    pub(crate) async fn serve(self: Arc<Self>, mut receiver: impl Receiver<PublicKey = Key>) {
        while let Ok((peer, bytes)) = receiver.recv().await {
            match Wire::decode(bytes.as_ref()) {
                Ok(Wire::Block(block)) => self.insert(Arc::new(block)),
                Ok(Wire::Request(id)) => {
                    if let Some(block) = self.lookup(&id) {
                        self.send_block(Recipients::One(peer), &block);
                    }
                }
                Ok(Wire::Tip(epoch)) => {
                    let answer = {
                        let epochs = self.epochs.lock();
                        if epoch == epochs.current {
                            self.latest.lock().clone()
                        } else {
                            epochs.closing.get(&epoch).cloned()
                        }
                    };
                    if let Some(certificate) = answer {
                        let mut sender = self.sender.clone();
                        let reply = Wire::Finalized(certificate).encode();
                        let _ = sender.send(Recipients::One(peer), reply, false);
                    }
                }
                Ok(Wire::Finalized(certificate)) => self.on_finalized(&peer, &certificate),
                Err(err) => tracing::debug!(%peer, %err, "undecodable block message"),
            }
        }
    }

    /// The blocks from the last delivered one (exclusive) to `target` (inclusive), oldest
    /// first; `None` when `target` is delivered already or the bus closed.
    pub(crate) async fn missing_chain(
        &self,
        target: Hash,
        never: &oneshot::Sender<()>,
    ) -> Result<Option<Vec<Arc<Block>>>, Height> {
        let tip = self.delivered();
        if target == tip.block
            || matches!(self.chain.height_of(&target), Ok(Some(h)) if h <= tip.height)
        {
            return Ok(None);
        }
        let mut chain = Vec::new();
        let mut cursor = target;
        // A certificate for a block at or below the tip (a peer's stale one, or one replayed
        // after a restart) finalizes nothing new.
        match self.fetch(target, never).await {
            Some(block) if block.header.height <= tip.height => return Ok(None),
            Some(_) => {}
            None => return Ok(None),
        }
        while cursor != tip.block {
            let Some(block) = self.fetch(cursor, never).await else {
                return Ok(None);
            };
            if block.header.height <= tip.height {
                // A finalized block that does not descend from the delivered tip.
                return Err(block.header.height);
            }
            cursor = block.header.parent;
            chain.push(block);
        }
        chain.reverse();
        Ok(Some(chain))
    }
}

/// What an epoch's simplex instance holds: the automaton, relay and reporter in one
/// cloneable handle.
pub(crate) struct Mailbox<E, S> {
    shared: Arc<Shared<E, S>>,
    reports: mpsc::Sender<Report>,
    /// The epoch's validators, in simplex's order.
    participants: Arc<Vec<Key>>,
}

impl<E, S> Clone for Mailbox<E, S> {
    fn clone(&self) -> Self {
        Mailbox {
            shared: self.shared.clone(),
            reports: self.reports.clone(),
            participants: self.participants.clone(),
        }
    }
}

impl<E, S> Mailbox<E, S> {
    pub(crate) fn new(
        shared: Arc<Shared<E, S>>,
        reports: mpsc::Sender<Report>,
        participants: Vec<Key>,
    ) -> Self {
        Mailbox {
            shared,
            reports,
            participants: Arc::new(participants),
        }
    }
}

impl<E, S> Automaton for Mailbox<E, S>
where
    E: Clock + Spawner + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = Key>,
{
    type Context = Ctx;
    type Digest = Digest;

    async fn propose(&mut self, context: Ctx) -> oneshot::Receiver<Digest> {
        let (answer, receiver) = oneshot::channel();
        let shared = self.shared.clone();
        self.shared
            .context
            .child("propose")
            .spawn(move |_| async move {
                if let Some(digest) = shared.propose(context, &answer).await {
                    let _ = answer.send(digest);
                }
            });
        receiver
    }

    async fn verify(&mut self, context: Ctx, payload: Digest) -> oneshot::Receiver<bool> {
        let (answer, receiver) = oneshot::channel();
        let shared = self.shared.clone();
        self.shared
            .context
            .child("verify")
            .spawn(move |_| async move {
                if let Some(valid) = shared.verify(context, payload, &answer).await {
                    let _ = answer.send(valid);
                }
            });
        receiver
    }
}

impl<E, S> CertifiableAutomaton for Mailbox<E, S>
where
    E: Clock + Spawner + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = Key>,
{
}

impl<E, S> Relay for Mailbox<E, S>
where
    E: Clock + Spawner + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = Key>,
{
    type Digest = Digest;
    type PublicKey = Key;
    type Plan = Plan<Key>;

    fn broadcast(&mut self, payload: Digest, plan: Plan<Key>) -> commonware_actor::Feedback {
        let Some(block) = self.shared.lookup(&block_id(&payload)) else {
            return commonware_actor::Feedback::Ok;
        };
        let recipients = match plan {
            Plan::Forward { recipients, .. } => recipients,
            _ => Recipients::All,
        };
        self.shared.send_block(recipients, &block);
        commonware_actor::Feedback::Ok
    }
}

impl<E, S> Reporter for Mailbox<E, S>
where
    E: Clock + Spawner + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = Key>,
{
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        let participants = &self.participants;
        let report = match activity {
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
