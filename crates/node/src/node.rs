//! Assembling and running a node: storage, state, the bus and its services, the engine and
//! JSON-RPC, from a chain spec.
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
use commonware_runtime::{Clock as _, Spawner as _, Supervisor as _};
use lamina_agreement::service::{AgreementConfig, AgreementService};
use lamina_app::rpc::{serve, RpcContext, RpcLimits};
use lamina_data_layer::kv::{FjallStore, KvStore, RedbStore};
use lamina_data_layer::state::{AuthenticatedState, QmdbState, StateConfig};
use lamina_data_layer::{
    ChainStore, CommitService, FlatState, FlatStores, Pruning, SnapshotService, DEFAULT_HOT_ENTRIES,
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

/// A part not chosen yet: `run` exists only once every part is chosen, so a missing part is a
/// compile error.
pub(crate) struct Missing;

// ANCHOR: storage_backend
/// Where blocks, receipts, the redo log and the flat state are kept.
pub(crate) trait StorageBackend {
    /// Opens (or creates) the store under `dir`.
    fn open(&self, dir: &Path) -> anyhow::Result<Arc<dyn KvStore>>;
    /// Opens the flat state's stores under `dir`: in memory for a new store, with its
    /// checkpoints in `kv` (ADR 0023), unless the backend shards it; an existing store keeps
    /// its layout.
    fn open_flat(
        &self,
        _dir: &Path,
        kv: Arc<dyn KvStore>,
    ) -> anyhow::Result<FlatStores<dyn KvStore>> {
        Ok(FlatStores::in_memory(kv))
    }
    /// Its name, for logs.
    fn name(&self) -> &'static str;
}
// ANCHOR_END: storage_backend

/// fjall, the embedded default (ADR 0007).
pub(crate) struct Fjall {
    /// Most memory its block cache holds.
    pub(crate) cache_bytes: u64,
    /// Flat-state shards of a new store (0: inline, the default); an existing store keeps
    /// its layout.
    pub(crate) flat_shards: usize,
}

impl Default for Fjall {
    /// A 512 MiB cache: the flat state of a million accounts and the recent blocks. The flat
    /// state inline: shards are chosen per store (`lamina bench --flat-shards`) until they are
    /// measured on many cores (ADR 0018).
    fn default() -> Self {
        Fjall {
            cache_bytes: 512 * 1024 * 1024,
            flat_shards: 0,
        }
    }
}

/// The flat-state shard directories a store under `dir` already has, in order.
fn existing_flat_shards(dir: &Path) -> usize {
    (0..lamina_data_layer::flat::MAX_SHARDS)
        .take_while(|i| dir.join(format!("flat-{i}")).is_dir())
        .count()
}

impl StorageBackend for Fjall {
    fn open(&self, dir: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
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

    fn open_flat(
        &self,
        dir: &Path,
        kv: Arc<dyn KvStore>,
    ) -> anyhow::Result<FlatStores<dyn KvStore>> {
        // A store keeps the layout it was created with: its shards if it has any, inline if it
        // holds a chain without them.
        let existing = existing_flat_shards(dir);
        let shards = if existing > 0 {
            existing
        } else if lamina_data_layer::commit::holds_chain(&*kv)? {
            0
        } else {
            self.flat_shards
        };
        if shards == 0 {
            return Ok(FlatStores::in_memory(kv));
        }
        let columns = lamina_data_layer::flat::shard_columns();
        let stores = (0..shards)
            .map(|i| {
                let path = dir.join(format!("flat-{i}"));
                std::fs::create_dir_all(&path)?;
                let store = FjallStore::open_with_cache(&path, &columns, self.cache_bytes)
                    .with_context(|| format!("opening {}", path.display()))?;
                Ok(Arc::new(store) as Arc<dyn KvStore>)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(FlatStores::sharded(stores)?)
    }

    fn name(&self) -> &'static str {
        "fjall"
    }
}

/// redb, a copy-on-write B-tree in one file.
pub(crate) struct Redb;

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

/// The authenticated state.
pub(crate) trait StateBackend {
    /// The state.
    type State: AuthenticatedState + 'static;
    /// Opens it in the runtime's storage.
    fn open(
        &self,
        ctx: &commonware_runtime::tokio::Context,
    ) -> impl Future<Output = anyhow::Result<Self::State>>;
}

/// QMDB (ADR 0008).
pub(crate) struct Qmdb {
    /// Page cache, in 4 KiB pages.
    pub(crate) cache_pages: usize,
}

impl StateBackend for Qmdb {
    type State = QmdbState<commonware_runtime::tokio::Context>;

    async fn open(&self, ctx: &commonware_runtime::tokio::Context) -> anyhow::Result<Self::State> {
        // Merkleization hashes on its own threads: a quarter of the cores, at least two.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = StateConfig {
            cache_pages: self.cache_pages,
            parallelism: (cores / 4).clamp(2, 8),
            ..StateConfig::default()
        };
        Ok(QmdbState::open(ctx.child("state"), &config).await?)
    }
}

// ANCHOR: engine_choice
/// How blocks are ordered.
pub(crate) trait EngineChoice {
    /// The engine.
    type Engine: Engine;
    /// The engine on `bus`, continuing from `tip` (whose committed state is `state`),
    /// proposing as `validator`; `chain` reads finalized blocks (for peers that lag behind).
    fn build(
        self,
        ctx: &commonware_runtime::tokio::Context,
        bus: &Bus,
        tip: ChainTip,
        validator: Address,
        chain: Arc<dyn ChainReader>,
        state: &dyn StateView,
    ) -> anyhow::Result<Self::Engine>;
}
// ANCHOR_END: engine_choice

/// The solo engine.
pub(crate) struct SoloEngine {
    /// Time between blocks when the pool does not fill them.
    pub(crate) block_time: Duration,
    /// A block with this many transactions counts as full: the next is built at once.
    pub(crate) full_at_txs: usize,
}

impl SoloEngine {
    /// The solo engine the spec asks for; another engine in the spec is an error.
    pub(crate) fn from_spec(spec: &ChainSpec) -> anyhow::Result<SoloEngine> {
        match spec.consensus {
            ConsensusSpec::Solo { block_time_ms } => Ok(SoloEngine {
                block_time: Duration::from_millis(block_time_ms.max(1)),
                full_at_txs: SoloConfig::default().full_at_txs,
            }),
            ConsensusSpec::Simplex { .. } => {
                anyhow::bail!("chain {} runs simplex, not solo", spec.name)
            }
        }
    }
}

impl EngineChoice for SoloEngine {
    type Engine = Solo<commonware_runtime::tokio::Context>;

    fn build(
        self,
        ctx: &commonware_runtime::tokio::Context,
        bus: &Bus,
        tip: ChainTip,
        validator: Address,
        _chain: Arc<dyn ChainReader>,
        _state: &dyn StateView,
    ) -> anyhow::Result<Self::Engine> {
        let config = SoloConfig {
            block_time: self.block_time,
            full_at_txs: self.full_at_txs,
            proposer: validator,
            ..SoloConfig::default()
        };
        Ok(Solo::new(ctx.child("engine"), bus, config, tip))
    }
}

/// The simplex engine, over the authenticated network.
pub(crate) struct SimplexEngine {
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

impl EngineChoice for SimplexEngine {
    type Engine = Simplex<
        commonware_runtime::tokio::Context,
        commonware_p2p::authenticated::discovery::Oracle<
            commonware_cryptography::ed25519::PublicKey,
        >,
        P2pSender,
        P2pReceiver,
    >;

    fn build(
        self,
        ctx: &commonware_runtime::tokio::Context,
        bus: &Bus,
        tip: ChainTip,
        _validator: Address,
        chain: Arc<dyn ChainReader>,
        state: &dyn StateView,
    ) -> anyhow::Result<Self::Engine> {
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
///     .storage(Fjall::default())            // or Redb
///     .state(Qmdb { cache_pages })
///     .engine(SoloEngine::from_spec(&spec)?)
///     .rpc(address)
///     .metrics(address)
///     .run(ctx, shutdown, ready)            // compiles only with every part chosen
/// ```
pub(crate) struct NodeBuilder<K, A, E> {
    spec: ChainSpec,
    runtime: Arc<lamina_agreement::Runtime>,
    base_path: PathBuf,
    rpc: SocketAddr,
    metrics: SocketAddr,
    validator: Address,
    tx_index: bool,
    storage: K,
    state: A,
    engine: E,
}

impl NodeBuilder<Missing, Missing, Missing> {
    /// A node of the chain `spec`, running `runtime` (the chain's modules), keeping its data
    /// in `base_path`.
    pub(crate) fn new(
        spec: ChainSpec,
        runtime: Arc<lamina_agreement::Runtime>,
        base_path: PathBuf,
    ) -> Self {
        NodeBuilder {
            spec,
            runtime,
            base_path,
            rpc: SocketAddr::from(([127, 0, 0, 1], 9944)),
            metrics: SocketAddr::from(([127, 0, 0, 1], 9615)),
            validator: dev_validator(),
            tx_index: true,
            storage: Missing,
            state: Missing,
            engine: Missing,
        }
    }
}

impl<K, A, E> NodeBuilder<K, A, E> {
    /// The key-value store.
    pub(crate) fn storage<K2: StorageBackend>(self, storage: K2) -> NodeBuilder<K2, A, E> {
        NodeBuilder {
            spec: self.spec,
            runtime: self.runtime,
            base_path: self.base_path,
            rpc: self.rpc,
            metrics: self.metrics,
            validator: self.validator,
            tx_index: self.tx_index,
            storage,
            state: self.state,
            engine: self.engine,
        }
    }

    /// The authenticated state.
    pub(crate) fn state<A2: StateBackend>(self, state: A2) -> NodeBuilder<K, A2, E> {
        NodeBuilder {
            spec: self.spec,
            runtime: self.runtime,
            base_path: self.base_path,
            rpc: self.rpc,
            metrics: self.metrics,
            validator: self.validator,
            tx_index: self.tx_index,
            storage: self.storage,
            state,
            engine: self.engine,
        }
    }

    /// The consensus engine.
    pub(crate) fn engine<E2: EngineChoice>(self, engine: E2) -> NodeBuilder<K, A, E2> {
        NodeBuilder {
            spec: self.spec,
            runtime: self.runtime,
            base_path: self.base_path,
            rpc: self.rpc,
            metrics: self.metrics,
            validator: self.validator,
            tx_index: self.tx_index,
            storage: self.storage,
            state: self.state,
            engine,
        }
    }

    /// JSON-RPC address.
    pub(crate) fn rpc(mut self, address: SocketAddr) -> Self {
        self.rpc = address;
        self
    }

    /// Prometheus metrics address.
    pub(crate) fn metrics(mut self, address: SocketAddr) -> Self {
        self.metrics = address;
        self
    }

    /// Whether finalized transactions are indexed by id, for lookups and watched
    /// submissions over JSON-RPC (on by default; a validator that serves neither can save
    /// the index's cost, about a tenth of a transfer's).
    pub(crate) fn tx_index(mut self, on: bool) -> Self {
        self.tx_index = on;
        self
    }
}

/// Where a running node can be reached.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Endpoints {
    /// The chain's name.
    pub(crate) chain: String,
    /// JSON-RPC over HTTP and WebSocket.
    pub(crate) rpc: String,
    /// Prometheus metrics.
    pub(crate) metrics: String,
    /// The data directory.
    pub(crate) base_path: PathBuf,
    /// The height the node resumed from.
    pub(crate) height: Height,
}

/// The directory the state runtime stores in, for `commonware_runtime::tokio::Config`.
pub(crate) fn state_dir(base_path: &std::path::Path) -> PathBuf {
    base_path.join("db").join("state")
}

impl<K: StorageBackend, A: StateBackend, E: EngineChoice> NodeBuilder<K, A, E> {
    /// Runs the node until `shutdown` completes; `ready` learns its endpoints and gets its bus
    /// (for in-process clients such as `lamina bench`) once it serves.
    pub(crate) async fn run(
        self,
        ctx: commonware_runtime::tokio::Context,
        shutdown: impl Future<Output = ()>,
        ready: impl FnOnce(&Endpoints, &Bus),
    ) -> anyhow::Result<()> {
        let spec = &self.spec;
        let runtime = self.runtime.clone();
        let kv = self.storage.open(&self.base_path.join("db"))?;
        let flat = self
            .storage
            .open_flat(&self.base_path.join("db"), kv.clone())?;
        let state = self.state.open(&ctx).await?;
        tracing::info!(
            storage = self.storage.name(),
            flat_state_sharded = flat.is_sharded(),
            "opened the store"
        );
        let (store, recovery) = ChainStore::open_with(
            kv.clone(),
            flat,
            Pruning::Archive,
            state,
            DEFAULT_HOT_ENTRIES,
        )
        .await?;
        tracing::info!(
            flat_state_in_memory = store.flat_stores().is_in_memory(),
            hot_entries = store.hot_state().len(),
            "opened the chain"
        );
        let mut store = store.with_tx_index(self.tx_index);
        if !recovery.replayed.is_empty() {
            tracing::info!(replayed = ?recovery.replayed, "repaired the state from the redo log");
        }
        check_chain(&self.base_path, spec, store.is_initialized()?)?;
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
        let flat = store.flat_stores();
        // Lookups by id go through a clone of the committing block store, which holds the ids
        // of the latest blocks in memory.
        let chain: Arc<dyn ChainReader> = Arc::new(store.blocks().clone());
        let commits = CommitService::new(&bus, store)?;
        let snapshots =
            SnapshotService::new(&bus, kv.clone(), hot.clone())?.flat_stores(flat.clone());
        let agreement = AgreementService::new(
            &bus,
            runtime.clone(),
            AgreementConfig::default(),
            (height, block, root),
        )?;
        let counters = Arc::new(Counters::default());
        counters.height.store(height.0, Ordering::Relaxed);
        let metrics_listener = metrics::bind(self.metrics)
            .await
            .with_context(|| format!("starting metrics on {}", self.metrics))?;
        let metrics_address = metrics_listener.local_addr()?;
        let metrics_task = tokio::spawn(metrics::serve(
            metrics_listener,
            Arc::new(Sources {
                bus: bus.clone(),
                pool: agreement.pool(),
                counters: counters.clone(),
            }),
        ));
        let engine = self.engine.build(
            &ctx,
            &bus,
            ChainTip { height, block },
            self.validator,
            chain.clone(),
            &FlatState::over(flat.clone(), hot.clone()),
        )?;
        let rpc = serve(
            self.rpc,
            RpcContext {
                name: spec.name.clone(),
                chain_id: spec.chain_id,
                gas_price: spec.runtime.gas_price,
                version: env!("CARGO_PKG_VERSION").to_string(),
                chain,
                submit: bus.requester(),
                snapshots: bus.requester(),
                prove: bus.requester(),
                bus: bus.clone(),
                runtime: runtime.clone(),
            },
            RpcLimits::default(),
        )
        .await
        .with_context(|| format!("starting JSON-RPC on {}", self.rpc))?;
        let mut finalized = bus.subscribe::<BlockFinalized>();
        let mut committed = bus.subscribe::<StateCommitted>();
        bus.check_wiring()?;

        let commits = ctx.child("commit").spawn(|_| commits.run());
        let snapshots = ctx.child("snapshots").spawn(|_| snapshots.run());
        let mut agreement = ctx.child("agreement").spawn(|_| agreement.run());
        tracing::info!(engine = engine.name(), %height, "starting");
        let mut engine = ctx.child("engine").spawn(|_| engine.run());
        ready(
            &Endpoints {
                chain: spec.name.clone(),
                rpc: format!("http://{}", rpc.address),
                metrics: format!("http://{metrics_address}/metrics"),
                base_path: self.base_path.clone(),
                height,
            },
            &bus,
        );

        // Track the last finalized and last committed heights, to drain on shutdown.
        let mut last_finalized = height;
        let mut last_committed = height;
        let mut engine_done = false;
        let mut agreement_done = false;
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
        if let Ok(store) = commits.await {
            drop(store);
        }
        lamina_data_layer::KvStore::sync(&*kv)?;
        tracing::info!(height = %last_committed, "stopped");
        match failure {
            Some(reason) => anyhow::bail!(reason),
            None => Ok(()),
        }
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
pub(crate) fn dev_validator() -> Address {
    Address::of(&dev_key("alice").public_key())
}
