//! Assembling and running a node: storage, state, the bus and its services, the engine and
//! JSON-RPC, from a chain spec.
//!
//! ```text
//! fjall (blocks, redo log, flat state) --+-- ChainStore --> CommitService     (CommitBlock)
//! QMDB  (authenticated state)          --+               SnapshotService      (OpenSnapshot)
//! Runtime (spec) --> AgreementService  (SubmitTxs, BuildProposal, VerifyProposal, BlockFinalized)
//! Solo engine ------> BuildProposal, BlockFinalized
//! JSON-RPC ---------> SubmitTxs, OpenSnapshot, ChainReader (block store)
//! ```
//!
//! Shutdown: the RPC server stops taking requests, the engine stops proposing, the blocks it
//! finalized are executed and committed, the bus closes, and the store is synced.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use commonware_runtime::{Clock as _, Spawner as _, Supervisor as _};
use lamina_agreement::service::{AgreementConfig, AgreementService};
use lamina_app::rpc::{serve, RpcContext, RpcLimits};
use lamina_data_layer::kv::FjallStore;
use lamina_data_layer::state::{AuthenticatedState as _, QmdbState, StateConfig};
use lamina_data_layer::{BlockStore, ChainStore, CommitService, Pruning, SnapshotService};
use lamina_incentive::{ChainTip, Engine as _, Solo, SoloConfig};
use lamina_interop::bus::{Bus, BusConfig};
use lamina_interop::chain::ChainReader;
use lamina_interop::messages::{BlockFinalized, StateCommitted};
use lamina_interop::module::Env;
use lamina_interop::{Address, Hash, Height, Timestamp};

use crate::metrics::{self, Counters, Sources};
use crate::spec::{dev_key, ChainSpec, ConsensusSpec};

/// How to run a node.
#[derive(Debug, Clone)]
pub(crate) struct NodeOptions {
    /// The chain.
    pub(crate) spec: ChainSpec,
    /// Where the node keeps its data (`<base>/db`).
    pub(crate) base_path: PathBuf,
    /// JSON-RPC address.
    pub(crate) rpc: SocketAddr,
    /// Authenticated-state page cache, in 4 KiB pages.
    pub(crate) cache_pages: usize,
    /// The validator's account (the dev chain's is alice).
    pub(crate) validator: Address,
    /// Prometheus metrics address.
    pub(crate) metrics: SocketAddr,
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

/// Runs a node until `shutdown` completes; `ready` learns its endpoints once it serves.
pub(crate) async fn run(
    ctx: commonware_runtime::tokio::Context,
    options: NodeOptions,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(&Endpoints),
) -> anyhow::Result<()> {
    let spec = &options.spec;
    let runtime = Arc::new(spec.runtime()?);
    let kv_path = options.base_path.join("db").join("kv");
    std::fs::create_dir_all(&kv_path)?;
    let kv = Arc::new(
        FjallStore::open(&kv_path, &lamina_data_layer::commit::columns())
            .with_context(|| format!("opening {}", kv_path.display()))?,
    );
    let state_config = StateConfig {
        cache_pages: options.cache_pages,
        ..StateConfig::default()
    };
    let state = QmdbState::open(ctx.child("state"), &state_config).await?;
    let (mut store, recovery) = ChainStore::open(kv.clone(), Pruning::Archive, state).await?;
    if !recovery.replayed.is_empty() {
        tracing::info!(replayed = ?recovery.replayed, "repaired the state from the redo log");
    }
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
    let commits = CommitService::new(&bus, store)?;
    let snapshots = SnapshotService::new(&bus, kv.clone())?;
    let agreement = AgreementService::new(
        &bus,
        runtime.clone(),
        AgreementConfig::default(),
        (height, block, root),
    )?;
    let counters = Arc::new(Counters::default());
    counters.height.store(height.0, Ordering::Relaxed);
    let metrics_listener = metrics::bind(options.metrics)
        .await
        .with_context(|| format!("starting metrics on {}", options.metrics))?;
    let metrics_address = metrics_listener.local_addr()?;
    let metrics_task = tokio::spawn(metrics::serve(
        metrics_listener,
        Arc::new(Sources {
            bus: bus.clone(),
            pool: agreement.pool(),
            counters: counters.clone(),
        }),
    ));
    let ConsensusSpec::Solo { block_time_ms } = spec.consensus;
    let engine = Solo::new(
        ctx.child("engine"),
        &bus,
        SoloConfig {
            block_time: Duration::from_millis(block_time_ms.max(1)),
            proposer: options.validator,
            ..SoloConfig::default()
        },
        ChainTip { height, block },
    );
    let chain: Arc<dyn ChainReader> = Arc::new(BlockStore::new(kv.clone(), Pruning::Archive));
    let rpc = serve(
        options.rpc,
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
        },
        RpcLimits::default(),
    )
    .await
    .with_context(|| format!("starting JSON-RPC on {}", options.rpc))?;
    let mut finalized = bus.subscribe::<BlockFinalized>();
    let mut committed = bus.subscribe::<StateCommitted>();
    bus.check_wiring()?;

    let commits = ctx.child("commit").spawn(|_| commits.run());
    let snapshots = ctx.child("snapshots").spawn(|_| snapshots.run());
    let mut agreement = ctx.child("agreement").spawn(|_| agreement.run());
    tracing::info!(engine = engine.name(), %height, "starting");
    let mut engine = ctx.child("engine").spawn(|_| engine.run());
    ready(&Endpoints {
        chain: spec.name.clone(),
        rpc: format!("http://{}", rpc.address),
        metrics: format!("http://{metrics_address}/metrics"),
        base_path: options.base_path.clone(),
        height,
    });

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

/// The dev chain's validator account.
pub(crate) fn dev_validator() -> Address {
    Address::of(&dev_key("alice").public_key())
}
