//! Assembling and running a node: storage, state, the bus and its services, the engine and
//! JSON-RPC, from a chain spec. One typed assembly serves `lamina node`, `lamina bench`, a
//! chain's own binary and the whole-chain simulation's validators; each part is a trait
//! ([`StorageBackend`], [`StateBackend`], [`EngineChoice`]) a chain may implement itself.
//!
//! ```text
//! fjall (blocks, redo log, flat state) --+-- ChainStore --> CommitService     (CommitBlock)
//! QMDB  (authenticated state)          --+               SnapshotService      (OpenSnapshot)
//! Runtime (spec) --> AgreementService  (SubmitTxs, BuildProposal, VerifyProposal, BlockFinalized)
//! Solo engine ------> BuildProposal, BlockFinalized
//!   or simplex ------> BuildProposal, VerifyProposal, BlockFinalized, over p2p (network.rs)
//!   + TxGossip ------> clients' transactions to the other validators
//! JSON-RPC ---------> SubmitTxs, OpenSnapshot, ChainReader (block store)
//! ```
//!
//! Shutdown: the RPC server stops taking requests, the engine stops proposing, the blocks it
//! finalized are executed and committed, the bus closes, and the store is synced.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use commonware_p2p::Manager as _;
use commonware_runtime::{Clock, Handle, Spawner, Supervisor};
use lamina_agreement::service::{AgreementConfig, AgreementService};
use lamina_app::rpc::{serve, RpcContext, RpcLimits, ValidatorSchedule};
use lamina_data_layer::kv::{FjallStore, KvStore, RedbStore};

use lamina_data_layer::state::{AuthenticatedState, QmdbState, StateConfig};
use lamina_data_layer::{
    ChainStore, CommitService, FlatLayout, FlatState, Pruning, SnapshotService, DEFAULT_HOT_ENTRIES,
};
use lamina_incentive::gossip::TxGossip;
use lamina_incentive::simplex::{self, Simplex, SimplexConfig};
use lamina_incentive::staking::consensus_set;
use lamina_incentive::{ChainTip, Engine, Solo, SoloConfig};
use lamina_interop::bus::{Bus, BusConfig};
use lamina_interop::chain::ChainReader;
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::messages::{BlockFinalized, StateCommitted, ValidatorSetChanged};
use lamina_interop::module::{Env, StateView};
use lamina_interop::{Address, Hash, Height, Timestamp};

use crate::evidence::EvidenceReporter;
use crate::metrics::{self, Counters, Sources};
use crate::network::{self, NetworkSettings, P2pReceiver, P2pSender};
use crate::spec::{dev_key, ChainSpec, ConsensusSpec};

/// The tokio runtime's context, which `lamina node` runs on.
pub type TokioContext = commonware_runtime::tokio::Context;

/// What a node's parts run on: a commonware runtime's context (tokio's for a node, the
/// deterministic runtime's in the simulation).
pub trait NodeContext: Spawner + Clock + Supervisor + Send + Sync + 'static {}
impl<T: Spawner + Clock + Supervisor + Send + Sync + 'static> NodeContext for T {}

/// A part not chosen yet: `run` and `assemble` exist only once every part is chosen, so a
/// missing part is a compile error.
pub struct Missing;

// ANCHOR: storage_backend
/// Where blocks, receipts, the redo log and the flat state are kept.
pub trait StorageBackend {
    /// Opens (or creates) the store under `dir`.
    fn open(&self, dir: &Path) -> anyhow::Result<Arc<dyn KvStore>>;
    /// Where a new store keeps its flat state: in memory, checkpointed (the default, ADR
    /// 0023), or inline, a row per key (ADR 0030). A store that holds a chain keeps the
    /// layout it was created with.
    fn flat_layout(&self) -> FlatLayout {
        FlatLayout::Memory
    }
    /// Its name, for logs.
    fn name(&self) -> &'static str;
}
// ANCHOR_END: storage_backend

/// fjall, the embedded default (ADR 0007).
pub struct Fjall {
    /// Most memory its block cache holds.
    pub cache_bytes: u64,
    /// Where a new store keeps its flat state.
    pub flat: FlatLayout,
}

impl Default for Fjall {
    /// A 512 MiB cache: the flat state of a million accounts and the recent blocks; the flat
    /// state in memory (ADR 0023).
    fn default() -> Self {
        Fjall {
            cache_bytes: 512 * 1024 * 1024,
            flat: FlatLayout::Memory,
        }
    }
}

impl StorageBackend for Fjall {
    fn open(&self, dir: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
        if dir.join("flat-0").is_dir() {
            anyhow::bail!(
                "{} keeps its flat state in shards, a layout this version no longer opens (ADR 0030); sync a new data directory",
                dir.display()
            );
        }
        let path = dir.join("kv");
        std::fs::create_dir_all(&path)?;
        Ok(Arc::new(
            FjallStore::open_with_cache(
                &path,
                &lamina_data_layer::commit::columns(),
                self.cache_bytes,
            )
            .with_context(|| format!("opening {}", path.display()))?,
        ))
    }

    fn flat_layout(&self) -> FlatLayout {
        self.flat
    }

    fn name(&self) -> &'static str {
        "fjall"
    }
}

/// redb, a copy-on-write B-tree in one file.
pub struct Redb;

impl StorageBackend for Redb {
    fn open(&self, dir: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("kv.redb");
        Ok(Arc::new(
            RedbStore::open(&path, &lamina_data_layer::commit::columns())
                .with_context(|| format!("opening {}", path.display()))?,
        ))
    }

    fn name(&self) -> &'static str {
        "redb"
    }
}

/// The authenticated state, opened in the runtime `R`'s storage.
pub trait StateBackend<R> {
    /// The state.
    type State: AuthenticatedState + 'static;
    /// Opens it.
    fn open(&self, ctx: &R) -> impl Future<Output = anyhow::Result<Self::State>>;
}

/// QMDB (ADR 0008).
pub struct Qmdb {
    /// Its settings (the storage partition, the page cache, the merkleization threads).
    pub config: StateConfig,
}

impl Qmdb {
    /// QMDB with a page cache of `cache_pages` 4 KiB pages, hashing on a quarter of the
    /// cores (at least two, at most eight).
    pub fn with_cache(cache_pages: usize) -> Qmdb {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Qmdb {
            config: StateConfig {
                cache_pages,
                parallelism: (cores / 4).clamp(2, 8),
                ..StateConfig::default()
            },
        }
    }
}

impl Default for Qmdb {
    fn default() -> Self {
        Qmdb::with_cache(StateConfig::default().cache_pages)
    }
}

impl<R> StateBackend<R> for Qmdb
where
    R: commonware_storage::Context
        + commonware_runtime::Spawner
        + commonware_runtime::Strategizer
        + Supervisor,
{
    type State = QmdbState<R>;

    async fn open(&self, ctx: &R) -> anyhow::Result<Self::State> {
        Ok(QmdbState::open(ctx.child("state"), &self.config).await?)
    }
}

// ANCHOR: engine_choice
/// How blocks are ordered: an engine built from what the node wired.
pub trait EngineChoice<R> {
    /// The engine.
    type Engine: Engine;
    /// The engine on `parts.bus`, continuing from `parts.tip`.
    fn build(self, parts: EngineParts<'_, R>) -> anyhow::Result<Self::Engine>;
}

/// What an engine is built from.
pub struct EngineParts<'a, R> {
    /// The runtime to spawn on and read the clock of.
    pub ctx: &'a R,
    /// The node's bus: `BuildProposal` and `VerifyProposal` to ask the agreement layer,
    /// `BlockFinalized` to publish.
    pub bus: &'a Bus,
    /// The last finalized block, to continue from.
    pub tip: ChainTip,
    /// The account named as proposer in this node's blocks.
    pub validator: Address,
    /// Finalized blocks (for peers that lag behind).
    pub chain: Arc<dyn ChainReader>,
    /// The committed state at `tip` (for the validator set it holds).
    pub state: &'a dyn StateView,
    /// The chain spec.
    pub spec: &'a ChainSpec,
    /// The chain's runtime (for transactions the engine's helpers sign, such as slashing
    /// reports).
    pub runtime: &'a Arc<lamina_agreement::Runtime>,
}
// ANCHOR_END: engine_choice

/// The solo engine.
pub struct SoloEngine {
    /// Time between blocks when the pool does not fill them.
    pub block_time: Duration,
    /// A block with this many transactions counts as full: the next is built at once.
    pub full_at_txs: usize,
    /// The key each block is certified with (a validator set of one; see
    /// [`Solo::signed_by`]): the dev validator's, `alice`, unless set.
    pub key: SecretKey,
}

impl SoloEngine {
    /// The solo engine the spec asks for; another engine in the spec is an error.
    pub fn from_spec(spec: &ChainSpec) -> anyhow::Result<SoloEngine> {
        match spec.consensus {
            ConsensusSpec::Solo { block_time_ms } => Ok(SoloEngine {
                block_time: Duration::from_millis(block_time_ms.max(1)),
                full_at_txs: SoloConfig::default().full_at_txs,
                key: dev_key("alice"),
            }),
            ConsensusSpec::Simplex { .. } => {
                anyhow::bail!("chain {} runs simplex, not solo", spec.name)
            }
        }
    }
}

impl<R: NodeContext> EngineChoice<R> for SoloEngine {
    type Engine = Solo<R>;

    fn build(self, parts: EngineParts<'_, R>) -> anyhow::Result<Self::Engine> {
        let config = SoloConfig {
            block_time: self.block_time,
            full_at_txs: self.full_at_txs,
            proposer: parts.validator,
            ..SoloConfig::default()
        };
        Ok(Solo::new(parts.ctx.child("engine"), parts.bus, config, parts.tip).signed_by(self.key))
    }
}

/// The simplex engine, over the authenticated network.
pub struct SimplexEngine {
    config: SimplexConfig,
    key: SecretKey,
    network: NetworkSettings,
    /// On a proof-of-stake chain, the runtime the evidence reporter signs slashing reports
    /// for.
    slashing: Option<Arc<lamina_agreement::Runtime>>,
}

impl SimplexEngine {
    /// The simplex engine the spec asks for, run by the validator holding `key`; another
    /// engine in the spec, or a key outside its validator set, is an error.
    pub(crate) fn from_spec(
        spec: &ChainSpec,
        runtime: &Arc<lamina_agreement::Runtime>,
        key: SecretKey,
        mut network: NetworkSettings,
    ) -> anyhow::Result<SimplexEngine> {
        let ConsensusSpec::Simplex {
            validators,
            bootnodes,
            block_time_ms,
            leader_timeout_ms,
            notarization_timeout_ms,
        } = &spec.consensus
        else {
            anyhow::bail!("chain {} runs solo, not simplex", spec.name);
        };
        let params = spec.staking()?.and_then(|section| section.params);
        let staking = params.is_some();
        // On a proof-of-stake chain the set changes; a node outside it follows the chain.
        if !staking && !validators.contains(&key.public_key()) {
            anyhow::bail!(
                "key {} is not one of the {} validators of chain {}",
                key.public_key(),
                validators.len(),
                spec.name
            );
        }
        spec.check_validators()?;
        let slashing = if staking { Some(runtime.clone()) } else { None };
        let mut config = SimplexConfig::new(spec.chain_id, validators.clone());
        config.block_time = Duration::from_millis(*block_time_ms);
        config.leader_timeout = Duration::from_millis((*leader_timeout_ms).max(1));
        config.notarization_timeout = Duration::from_millis((*notarization_timeout_ms).max(1));
        config.epoch_blocks = params.map(|p| p.epoch_blocks);
        // An address given in the configuration wins over the spec's for the same node.
        for node in bootnodes {
            if !network.bootnodes.iter().any(|given| given.key == node.key) {
                network.bootnodes.push(node.clone());
            }
        }
        Ok(SimplexEngine {
            config,
            key,
            network,
            slashing,
        })
    }
}

impl EngineChoice<TokioContext> for SimplexEngine {
    type Engine = Simplex<
        commonware_runtime::tokio::Context,
        commonware_p2p::authenticated::discovery::Oracle<
            commonware_cryptography::ed25519::PublicKey,
        >,
        P2pSender,
        P2pReceiver,
    >;

    fn build(self, parts: EngineParts<'_, TokioContext>) -> anyhow::Result<Self::Engine> {
        let EngineParts {
            ctx,
            bus,
            tip,
            chain,
            state,
            ..
        } = parts;
        let mut config = self.config;
        // Consensus resumes in the epoch, and with the set, that committed state holds.
        if let Some((epoch, keys)) = consensus_set(state)? {
            config.epoch = epoch;
            config.validators = keys;
        }
        if !config.validators.contains(&self.key.public_key()) {
            tracing::warn!(
                epoch = config.epoch,
                "this node's key is not in the current validator set: it follows without voting"
            );
        }
        let max_message = config.max_message();
        let started = network::start(
            ctx,
            &self.key,
            (config.epoch, &config.validators),
            &simplex::namespace(config.chain_id),
            &self.network,
            max_message,
        )?;
        tracing::info!(listen = %self.network.listen, public = %self.network.public, bootnodes = self.network.bootnodes.len(), "p2p network started");
        let gossip = TxGossip::new(
            bus,
            started.txs,
            started.oracle.clone(),
            max_message as usize,
        )?;
        ctx.child("gossip").spawn(|_| gossip.run());
        if let Some(runtime) = self.slashing {
            let reporter =
                EvidenceReporter::new(bus, runtime, SecretKey::from_seed(self.key.seed()));
            ctx.child("evidence").spawn(|_| reporter.run());
        }
        // Later epochs' sets become the network's peer sets as they are announced.
        let mut sets = bus.subscribe::<ValidatorSetChanged>();
        let mut oracle = started.oracle.clone();
        ctx.child("peer_sets").spawn(|_| async move {
            while let Ok(event) = sets.recv().await {
                let keys: Vec<PublicKey> = event.validators.iter().map(|v| v.key).collect();
                match network::peer_set(&keys) {
                    Ok(peers) => {
                        tracing::info!(
                            epoch = event.epoch,
                            validators = keys.len(),
                            "tracking the next validator set"
                        );
                        let _ = oracle.track(event.epoch, peers);
                    }
                    Err(err) => tracing::warn!(%err, "announced validator set refused"),
                }
            }
        });
        Ok(Simplex::new(
            ctx.child("engine"),
            bus,
            config,
            &self.key,
            tip,
            chain,
            started.oracle,
            started.consensus,
        )?)
    }
}

/// Composes a node. Each part is one call, and swapping one is changing that call:
///
/// ```text
/// NodeBuilder::new(spec, runtime, base_path)
///     .storage(Fjall::default())            // or Redb, or a chain's own StorageBackend
///     .state(Qmdb::default())               // or a chain's own StateBackend
///     .engine(SoloEngine::from_spec(&spec)?) // or SimplexEngine, or a chain's own EngineChoice
///     .rpc(address)
///     .metrics(address)
///     .run(ctx, shutdown, ready)            // compiles only with every part chosen
/// ```
///
/// `run` serves a node on the tokio runtime (JSON-RPC, metrics, a clean shutdown);
/// [`NodeBuilder::assemble`] wires the same parts on any commonware runtime and leaves
/// serving to the caller, which is how the whole-chain simulation runs its validators.
pub struct NodeBuilder<K, A, E> {
    settings: Settings,
    storage: K,
    state: A,
    engine: E,
}

/// What a builder holds besides its parts.
struct Settings {
    spec: ChainSpec,
    runtime: Arc<lamina_agreement::Runtime>,
    base_path: PathBuf,
    rpc: SocketAddr,
    explorer: bool,
    metrics: SocketAddr,
    validator: Address,
    tx_index: bool,
    agreement: AgreementConfig,
    offload: bool,
}

impl NodeBuilder<Missing, Missing, Missing> {
    /// A node of the chain `spec`, running `runtime` (the chain's modules), keeping its data
    /// in `base_path`.
    pub fn new(
        spec: ChainSpec,
        runtime: Arc<lamina_agreement::Runtime>,
        base_path: impl Into<PathBuf>,
    ) -> Self {
        NodeBuilder {
            settings: Settings {
                spec,
                runtime,
                base_path: base_path.into(),
                rpc: SocketAddr::from(([127, 0, 0, 1], 9944)),
                explorer: true,
                metrics: SocketAddr::from(([127, 0, 0, 1], 9615)),
                validator: dev_validator(),
                tx_index: true,
                agreement: AgreementConfig::default(),
                offload: true,
            },
            storage: Missing,
            state: Missing,
            engine: Missing,
        }
    }
}

impl<K, A, E> NodeBuilder<K, A, E> {
    /// The key-value store.
    pub fn storage<K2: StorageBackend>(self, storage: K2) -> NodeBuilder<K2, A, E> {
        NodeBuilder {
            settings: self.settings,
            storage,
            state: self.state,
            engine: self.engine,
        }
    }

    /// The authenticated state.
    pub fn state<A2>(self, state: A2) -> NodeBuilder<K, A2, E> {
        NodeBuilder {
            settings: self.settings,
            storage: self.storage,
            state,
            engine: self.engine,
        }
    }

    /// The consensus engine.
    pub fn engine<E2>(self, engine: E2) -> NodeBuilder<K, A, E2> {
        NodeBuilder {
            settings: self.settings,
            storage: self.storage,
            state: self.state,
            engine,
        }
    }

    /// JSON-RPC address.
    pub fn rpc(mut self, address: SocketAddr) -> Self {
        self.settings.rpc = address;
        self
    }

    /// Whether `GET /` on the JSON-RPC port serves the explorer page (yes by default).
    pub fn explorer(mut self, serve: bool) -> Self {
        self.settings.explorer = serve;
        self
    }

    /// Prometheus metrics address.
    pub fn metrics(mut self, address: SocketAddr) -> Self {
        self.settings.metrics = address;
        self
    }

    /// The account named as proposer in the blocks this node builds (the dev validator,
    /// alice, by default).
    pub fn validator(mut self, validator: Address) -> Self {
        self.settings.validator = validator;
        self
    }

    /// Whether finalized transactions are indexed by id, for lookups and watched
    /// submissions over JSON-RPC (on by default; a validator that serves neither can save
    /// the index's cost, about a tenth of a transfer's).
    pub fn tx_index(mut self, on: bool) -> Self {
        self.settings.tx_index = on;
        self
    }

    /// For a deterministic runtime: transactions executed in sequence and nothing handed to
    /// other threads, so a run depends on its seed alone.
    pub fn deterministic(mut self) -> Self {
        self.settings.agreement.mode = lamina_agreement::execute::Mode::Sequential;
        self.settings.agreement.offload = false;
        self.settings.offload = false;
        self
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.settings.spec
    }
}

/// Where a running node can be reached.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoints {
    /// The chain's name.
    pub chain: String,
    /// JSON-RPC over HTTP and WebSocket.
    pub rpc: String,
    /// Prometheus metrics.
    pub metrics: String,
    /// The data directory.
    pub base_path: PathBuf,
    /// The height the node resumed from.
    pub height: Height,
}

/// The directory the state runtime stores in, for `commonware_runtime::tokio::Config`.
pub fn state_dir(base_path: &std::path::Path) -> PathBuf {
    base_path.join("db").join("state")
}

/// A node wired and its storage services started, its agreement service and engine not yet:
/// the caller subscribes to what it watches, then calls [`Assembled::start`].
pub struct Assembled<E> {
    /// The node's bus.
    pub bus: Bus,
    /// Finalized blocks, by height and id.
    pub chain: Arc<dyn ChainReader>,
    /// The block the node resumed from.
    pub tip: ChainTip,
    /// The chain's key-value store (synced by the caller at the end).
    pub kv: Arc<dyn KvStore>,
    /// The transaction pool, for metrics.
    pub pool: Arc<parking_lot::Mutex<lamina_agreement::pool::Mempool>>,
    commits: Handle<()>,
    snapshots: Handle<()>,
    agreement: AgreementService,
    engine: E,
}

/// A started node's tasks.
pub struct Started {
    /// The commit service; it ends once the bus closes and the blocks before are committed.
    pub commits: Handle<()>,
    /// The snapshot service; it ends once the bus closes.
    pub snapshots: Handle<()>,
    /// The agreement service.
    pub agreement: Handle<Result<(), lamina_agreement::service::ServiceError>>,
    /// The engine.
    pub engine: Handle<Result<(), lamina_incentive::EngineError>>,
}

impl<E: Engine> Assembled<E> {
    /// Starts the agreement service and the engine on `ctx`.
    pub fn start(self, ctx: &impl NodeContext) -> Started {
        let agreement = self.agreement;
        let engine = self.engine;
        tracing::info!(engine = engine.name(), height = %self.tip.height, "starting");
        Started {
            commits: self.commits,
            snapshots: self.snapshots,
            agreement: ctx.child("agreement").spawn(|_| agreement.run()),
            engine: ctx.child("engine").spawn(|_| engine.run()),
        }
    }
}

impl<K: StorageBackend, A, E> NodeBuilder<K, A, E> {
    /// Opens the storage, writes the genesis state into a new store, and wires the bus:
    /// the commit and snapshot services running, the agreement service and the engine
    /// built. Works on any commonware runtime; the data directory's chain record is `run`'s.
    pub async fn assemble<R>(self, ctx: &R) -> anyhow::Result<Assembled<E::Engine>>
    where
        R: NodeContext,
        A: StateBackend<R>,
        E: EngineChoice<R>,
    {
        self.assemble_checked(ctx, |_| Ok(())).await
    }

    /// [`NodeBuilder::assemble`], with `check` told whether the store already holds a
    /// chain before anything is written.
    async fn assemble_checked<R>(
        self,
        ctx: &R,
        check: impl FnOnce(bool) -> anyhow::Result<()>,
    ) -> anyhow::Result<Assembled<E::Engine>>
    where
        R: NodeContext,
        A: StateBackend<R>,
        E: EngineChoice<R>,
    {
        let settings = self.settings;
        let spec = &settings.spec;
        let runtime = settings.runtime.clone();
        let dir = settings.base_path.join("db");
        let kv = self.storage.open(&dir)?;
        let state = self.state.open(ctx).await?;
        tracing::info!(storage = self.storage.name(), "opened the store");
        let (store, recovery) = ChainStore::open_with(
            kv.clone(),
            self.storage.flat_layout(),
            Pruning::Archive,
            state,
            DEFAULT_HOT_ENTRIES,
        )
        .await?;
        tracing::info!(
            flat_state_in_memory = store.flat_store().is_in_memory(),
            hot_entries = store.hot_state().len(),
            "opened the chain"
        );
        let mut store = store.with_tx_index(settings.tx_index);
        if !recovery.replayed.is_empty() {
            tracing::info!(replayed = ?recovery.replayed, "repaired the state from the redo log");
        }
        check(store.is_initialized()?)?;
        if !store.is_initialized()? {
            let env = Env {
                chain_id: spec.chain_id,
                height: Height::GENESIS,
                timestamp: Timestamp(0),
                proposer: Address([0; 32]),
            };
            let genesis = runtime.genesis(&spec.genesis, &env)?;
            let root = store.init_genesis(&genesis).await?;
            tracing::info!(%root, "wrote the genesis state");
        }
        let height = store.height();
        let block = match height {
            Height::GENESIS => Hash::ZERO,
            h => store
                .blocks()
                .header(h)?
                .context("the finalized header is missing")?
                .id(),
        };
        let root = store.root_at(height)?.unwrap_or(store.state().root());

        let bus = Bus::new(BusConfig::default())?;
        let hot = store.hot_state();
        let flat = store.flat_store();
        // Lookups by id go through a clone of the committing block store, which holds the ids
        // of the latest blocks in memory.
        let chain: Arc<dyn ChainReader> = Arc::new(store.blocks().clone());
        let commits = CommitService::new(&bus, store)?.offload(settings.offload);
        let snapshots =
            SnapshotService::new(&bus, kv.clone(), hot.clone())?.flat_store(flat.clone());
        // The committed state is handed over once: the flat state follows each commit.
        let committed: Arc<dyn StateView + Send + Sync> =
            Arc::new(FlatState::over(flat.clone(), hot.clone()));
        let agreement = AgreementService::new(
            &bus,
            runtime.clone(),
            settings.agreement,
            (height, block, root),
            committed,
        )?;
        let pool = agreement.pool();
        let tip = ChainTip { height, block };
        let engine = self.engine.build(EngineParts {
            ctx,
            bus: &bus,
            tip,
            validator: settings.validator,
            chain: chain.clone(),
            state: &FlatState::over(flat, hot),
            spec,
            runtime: &runtime,
        })?;
        let commits = ctx.child("commit").spawn(|_| async move {
            drop(commits.run().await);
        });
        let snapshots = ctx.child("snapshots").spawn(|_| snapshots.run());
        Ok(Assembled {
            bus,
            chain,
            tip,
            kv,
            pool,
            commits,
            snapshots,
            agreement,
            engine,
        })
    }
}

impl<K, A, E> NodeBuilder<K, A, E>
where
    K: StorageBackend,
    A: StateBackend<TokioContext>,
    E: EngineChoice<TokioContext>,
{
    /// Runs the node until `shutdown` completes; `ready` learns its endpoints and gets its bus
    /// (for in-process clients such as `lamina bench`) once it serves.
    pub async fn run(
        self,
        ctx: TokioContext,
        shutdown: impl Future<Output = ()>,
        ready: impl FnOnce(&Endpoints, &Bus),
    ) -> anyhow::Result<()> {
        let settings = &self.settings;
        let name = settings.spec.name.clone();
        let chain_id = settings.spec.chain_id;
        let gas_price = settings.spec.runtime.gas_price;
        let runtime = settings.runtime.clone();
        let base_path = settings.base_path.clone();
        let (rpc_address, metrics_address) = (settings.rpc, settings.metrics);
        let explorer = settings.explorer;
        let (_, epoch_blocks, genesis) = crate::follow::light_params(&settings.spec)?;
        let validators = ValidatorSchedule {
            genesis,
            epoch_blocks,
        };
        let identity = (base_path.clone(), settings.spec.clone());
        let node = self
            .assemble_checked(&ctx, |initialized| {
                check_chain(&identity.0, &identity.1, initialized)
            })
            .await?;
        let height = node.tip.height;
        let counters = Arc::new(Counters::default());
        counters.height.store(height.0, Ordering::Relaxed);
        let metrics_listener = metrics::bind(metrics_address)
            .await
            .with_context(|| format!("starting metrics on {metrics_address}"))?;
        let metrics_address = metrics_listener.local_addr()?;
        let metrics_task = tokio::spawn(metrics::serve(
            metrics_listener,
            Arc::new(Sources {
                bus: node.bus.clone(),
                pool: node.pool.clone(),
                counters: counters.clone(),
            }),
        ));
        let bus = node.bus.clone();
        let kv = node.kv.clone();
        let rpc = serve(
            rpc_address,
            RpcContext {
                name: name.clone(),
                chain_id,
                gas_price,
                version: env!("CARGO_PKG_VERSION").to_string(),
                chain: node.chain.clone(),
                submit: bus.requester(),
                snapshots: bus.requester(),
                prove: bus.requester(),
                bus: bus.clone(),
                runtime,
                explorer,
                validators,
            },
            RpcLimits::default(),
        )
        .await
        .with_context(|| format!("starting JSON-RPC on {rpc_address}"))?;
        let mut finalized = bus.subscribe::<BlockFinalized>();
        let mut committed = bus.subscribe::<StateCommitted>();
        bus.check_wiring()?;
        let Started {
            commits,
            snapshots,
            mut agreement,
            mut engine,
        } = node.start(&ctx);
        ready(
            &Endpoints {
                chain: name,
                rpc: format!("http://{}", rpc.address),
                metrics: format!("http://{metrics_address}/metrics"),
                base_path,
                height,
            },
            &bus,
        );

        // Track the last finalized and last committed heights, to drain on shutdown.
        let mut last_finalized = height;
        let mut last_committed = height;
        let mut engine_done = false;
        let mut agreement_done = false;
        let mut pace = Pace::new(height);
        let failure = {
            let mut shutdown = std::pin::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = &mut shutdown => break None,
                    event = finalized.recv() => {
                        if let Ok(event) = event { last_finalized = event.block.header.height; }
                    }
                    event = committed.recv() => {
                        if let Ok(event) = event {
                            last_committed = event.height;
                            counters.height.store(event.height.0, Ordering::Relaxed);
                            counters.committed_txs.fetch_add(event.tx_count as u64, Ordering::Relaxed);
                            pace.committed(event, last_finalized);
                        }
                    }
                    result = &mut engine => {
                        engine_done = true;
                        break Some(format!("engine stopped: {result:?}"));
                    }
                    result = &mut agreement => {
                        agreement_done = true;
                        break Some(format!("agreement stopped: {result:?}"));
                    }
                }
            }
        };

        tracing::info!("stopping: no new requests or blocks");
        rpc.stop().await;
        metrics_task.abort();
        if !engine_done {
            engine.abort();
        }
        while let Ok(event) = finalized.try_recv() {
            match event {
                Some(event) => last_finalized = event.block.header.height,
                None => break,
            }
        }
        // Let the blocks already final be executed and committed.
        let deadline = ctx.current() + Duration::from_secs(60);
        while failure.is_none() && last_committed < last_finalized && ctx.current() < deadline {
            tokio::select! {
                event = committed.recv() => match event {
                    Ok(event) => last_committed = event.height,
                    Err(_) => break,
                },
                _ = ctx.sleep(Duration::from_millis(100)) => {}
            }
        }
        bus.close();
        let _ = snapshots.await;
        if !agreement_done {
            let _ = agreement.await;
        }
        // The commit service ends with the store dropped, before the store is synced.
        let _ = commits.await;
        lamina_data_layer::KvStore::sync(&*kv)?;
        tracing::info!(height = %last_committed, "stopped");
        match failure {
            Some(reason) => anyhow::bail!(reason),
            None => Ok(()),
        }
    }

    /// Runs the node on a new tokio runtime until the process gets SIGINT or SIGTERM,
    /// printing its endpoints once it serves and logging at `info` (or as `RUST_LOG` says):
    /// the whole `main` of a chain's own node binary.
    pub fn run_until_stopped(self) -> anyhow::Result<()> {
        crate::shell::init_logging(crate::shell::NODE_LOG);
        let runner = commonware_runtime::tokio::Runner::new(
            commonware_runtime::tokio::Config::new()
                .with_storage_directory(state_dir(&self.settings.base_path)),
        );
        commonware_runtime::Runner::start(runner, |ctx| async move {
            let shutdown = crate::shell::shutdown_signal()?;
            self.run(ctx, shutdown, |endpoints, _| {
                let _ = crate::shell::say(format!(
                    "{}: height {}, JSON-RPC {}, metrics {}, data {}",
                    endpoints.chain,
                    endpoints.height,
                    endpoints.rpc,
                    endpoints.metrics,
                    endpoints.base_path.display()
                ));
            })
            .await
        })
    }
}

/// Records which chain a data directory holds, and refuses to start another chain on it.
fn check_chain(base_path: &Path, spec: &ChainSpec, initialized: bool) -> anyhow::Result<()> {
    let path = base_path.join("db").join("chain.json");
    let identity = serde_json::json!({ "name": spec.name, "chain_id": spec.chain_id });
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            if stored != identity {
                anyhow::bail!(
                    "{} holds chain {} (id {}), not {} (id {}): use another --base-path, or `lamina db purge`",
                    base_path.display(),
                    stored["name"],
                    stored["chain_id"],
                    spec.name,
                    spec.chain_id.0
                );
            }
            Ok(())
        }
        Err(_) if initialized => anyhow::bail!(
            "{} holds a chain but no record of which: refusing to guess",
            base_path.display()
        ),
        Err(_) => {
            std::fs::write(&path, serde_json::to_string_pretty(&identity)?)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
    }
}

/// The dev chain's validator account.
pub fn dev_validator() -> Address {
    Address::of(&dev_key("alice").public_key())
}

/// The node's summary line: every [`Pace::EVERY`], the heights and the throughput since the
/// last line, so a user sees at a glance that the chain moves and how fast.
struct Pace {
    since: std::time::Instant,
    blocks: u64,
    txs: u64,
    last: Height,
}

impl Pace {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(height: Height) -> Pace {
        Pace {
            since: std::time::Instant::now(),
            blocks: 0,
            txs: 0,
            last: height,
        }
    }

    fn committed(&mut self, event: StateCommitted, finalized: Height) {
        self.blocks += 1;
        self.txs += u64::from(event.tx_count);
        self.last = event.height;
        let elapsed = self.since.elapsed();
        if elapsed < Self::EVERY {
            return;
        }
        let tps = self.txs as f64 / elapsed.as_secs_f64();
        tracing::info!(
            "height {} (finalized {}): {} blocks, {} transactions in {:.0} s, {tps:.1} TPS",
            self.last,
            finalized.max(self.last),
            self.blocks,
            self.txs,
            elapsed.as_secs_f64()
        );
        *self = Pace::new(self.last);
    }
}
