//! One simulated validator, assembled from the same parts as a `lamina` node: the data
//! layer (in-memory key-value store, QMDB state), the agreement layer with the runtime
//! modules, and the `simplex` engine on the simulated network.

use std::sync::Arc;

use commonware_p2p::simulated::Oracle;
use commonware_runtime::{deterministic, Clock as _, Handle, Quota, Spawner as _, Supervisor as _};
use futures::channel::oneshot;
use futures::FutureExt as _;
use lamina_agreement::modules::bank::{Bank, BankGenesis};
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_data_layer::kv::{KvStore, MemoryStore};
use lamina_data_layer::state::StateConfig;
use lamina_data_layer::FlatLayout;
use lamina_incentive::gossip::{self, TxGossip};
use lamina_incentive::simplex::{self, Channels, Simplex, SimplexConfig};
use lamina_incentive::staking::{consensus_set, FeesToValidators, Staking, StakingGenesis};
use lamina_interop::bus::{Bus, BusConfig};
use lamina_interop::crypto::SecretKey;
use lamina_interop::messages::{
    BlockFinalized, MisbehaviourDetected, StateCommitted, ValidatorSetChanged,
};
use lamina_interop::module::Module as _;
use lamina_interop::{Address, ChainId};
use lamina_node::evidence::EvidenceReporter;
use lamina_node::{
    ChainSpec, ConsensusSpec, EngineChoice, EngineParts, NodeBuilder, Qmdb, RuntimeSpec, Started,
    StorageBackend,
};

use crate::workload::Workload;
use parking_lot::Mutex;

use crate::record::{Event, Record};

/// What every validator of one simulation shares.
pub(crate) struct Chain {
    pub chain_id: ChainId,
    pub keys: Vec<[u8; 32]>,
    pub funded: Vec<(Address, u128)>,
    /// Every validator bonded at genesis; equivocation is slashed.
    pub staking: StakingGenesis,
    pub simplex: SimplexConfig,
    /// The chain's own modules and transactions.
    pub workload: Arc<dyn Workload>,
}

/// The runtime every validator runs: the framework's modules with staking's fee rule, then
/// the workload's.
pub(crate) fn runtime(chain: &Chain) -> Result<Runtime, String> {
    let builder = Runtime::builder(RuntimeConfig::new(chain.chain_id))
        .module(Staking::new(Bank))
        .fee_rule(FeesToValidators);
    chain
        .workload
        .modules(builder)
        .build()
        .map_err(|e| e.to_string())
}

/// Key of validator `index` on the simulated network.
pub(crate) fn network_key(key: &SecretKey) -> commonware_cryptography::ed25519::PublicKey {
    use commonware_codec::DecodeExt as _;
    commonware_cryptography::ed25519::PublicKey::decode(key.public_key().0.to_vec())
        .unwrap_or_else(|_| unreachable!("our keys are valid Ed25519 keys"))
}

/// A running validator: its bus, and the task whose abort stops every part of it.
pub(crate) struct Running {
    pub bus: Bus,
    pub task: Handle<()>,
}

/// Starts validator `index` over `kv` (kept across restarts, as a disk would be). Its
/// storage partitions are named after it, so a restart reopens the same state and journal.
pub(crate) async fn start(
    ctx: &deterministic::Context,
    chain: Arc<Chain>,
    index: usize,
    kv: Arc<MemoryStore>,
    oracle: &Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>,
    record: Arc<Mutex<Record>>,
) -> Running {
    let key = SecretKey::from_seed(chain.keys[index]);
    let control = oracle.control(network_key(&key));
    // The rates a node gives its peers.
    let consensus = Quota::per_second(simplex::CONSENSUS_RATE);
    let mut channels = Vec::new();
    for (channel, quota) in [
        (simplex::VOTES, consensus),
        (simplex::CERTIFICATES, consensus),
        (simplex::RESOLVER, consensus),
        (simplex::BLOCKS, consensus),
        (gossip::TXS, Quota::per_second(gossip::GOSSIP_RATE)),
    ] {
        match control.register(channel, quota).await {
            Ok(pair) => channels.push(pair),
            Err(err) => unreachable!("the simulated network runs for the whole simulation: {err}"),
        }
    }
    let mut channels = channels.into_iter();
    let mut next = || {
        channels
            .next()
            .unwrap_or_else(|| unreachable!("four channels"))
    };
    let channels = Channels {
        votes: next(),
        certificates: next(),
        resolver: next(),
        blocks: next(),
    };
    let txs = next();
    let (ready, bus) = oneshot::channel();
    let task = ctx
        .child("validator")
        .with_attribute("index", index)
        .spawn(move |ctx| async move {
            if let Err(err) = run(
                ctx,
                chain,
                index,
                key,
                kv,
                control,
                channels,
                txs,
                record.clone(),
                ready,
            )
            .await
            {
                record.lock().failures.push((index, err));
            }
        });
    let bus = match bus.await {
        Ok(bus) => bus,
        // Assembly failed and was recorded; a closed bus stands in.
        Err(_) => {
            let bus =
                Bus::new(BusConfig::default()).unwrap_or_else(|_| unreachable!("default bus"));
            bus.close();
            bus
        }
    };
    Running { bus, task }
}

/// The simulated network's sender and receiver.
type Pair = (
    commonware_p2p::simulated::Sender<
        commonware_cryptography::ed25519::PublicKey,
        deterministic::Context,
    >,
    commonware_p2p::simulated::Receiver<commonware_cryptography::ed25519::PublicKey>,
);

/// A validator's handle on the simulated network.
type NetControl = commonware_p2p::simulated::Control<
    commonware_cryptography::ed25519::PublicKey,
    deterministic::Context,
>;

/// Simplex's channels on the simulated network.
type NetChannels = Channels<
    commonware_p2p::simulated::Sender<
        commonware_cryptography::ed25519::PublicKey,
        deterministic::Context,
    >,
    commonware_p2p::simulated::Receiver<commonware_cryptography::ed25519::PublicKey>,
>;

/// A validator's disk: the in-memory store it keeps across restarts, with the flat state
/// inline, so the simulation runs the layout a state larger than the hot state takes (a node
/// creates its stores with the flat state in memory).
struct Disk(Arc<MemoryStore>);

impl StorageBackend for Disk {
    fn open(&self, _dir: &std::path::Path) -> anyhow::Result<Arc<dyn KvStore>> {
        Ok(self.0.clone())
    }

    fn flat_layout(&self) -> FlatLayout {
        FlatLayout::Inline
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

/// Simplex on the simulated network.
struct SimulatedSimplex {
    key: SecretKey,
    config: SimplexConfig,
    control: NetControl,
    channels: NetChannels,
}

impl EngineChoice<deterministic::Context> for SimulatedSimplex {
    type Engine = Simplex<
        deterministic::Context,
        commonware_p2p::simulated::Control<
            commonware_cryptography::ed25519::PublicKey,
            deterministic::Context,
        >,
        commonware_p2p::simulated::Sender<
            commonware_cryptography::ed25519::PublicKey,
            deterministic::Context,
        >,
        commonware_p2p::simulated::Receiver<commonware_cryptography::ed25519::PublicKey>,
    >;

    fn build(self, parts: EngineParts<'_, deterministic::Context>) -> anyhow::Result<Self::Engine> {
        let mut config = self.config;
        // Consensus resumes in the epoch, and with the set, that committed state holds.
        if let Some((epoch, keys)) = consensus_set(parts.state)? {
            config.epoch = epoch;
            config.validators = keys;
        }
        Ok(Simplex::new(
            parts.ctx.child("engine"),
            parts.bus,
            config,
            &self.key,
            parts.tip,
            parts.chain,
            self.control,
            self.channels,
        )?)
    }
}

/// The chain spec of the simulated chain: its genesis, and simplex among the validators.
fn spec(chain: &Chain) -> ChainSpec {
    let mut bank = BankGenesis::native(chain.funded.iter().copied());
    for asset in &mut bank.assets {
        // Slashing burns bonded stake.
        asset.minters.push(Staking::<Bank>::NAME.to_string());
    }
    let mut genesis = chain.workload.genesis(&mut bank);
    genesis.insert("bank".to_string(), bank.to_section());
    genesis.insert("staking".to_string(), chain.staking.to_section());
    let defaults = RuntimeConfig::new(chain.chain_id);
    let millis = |d: std::time::Duration| d.as_millis() as u64;
    ChainSpec {
        name: "simulation".into(),
        chain_id: chain.chain_id,
        consensus: ConsensusSpec::Simplex {
            validators: chain.simplex.validators.clone(),
            bootnodes: Vec::new(),
            block_time_ms: millis(chain.simplex.block_time),
            leader_timeout_ms: millis(chain.simplex.leader_timeout),
            notarization_timeout_ms: millis(chain.simplex.notarization_timeout),
        },
        runtime: RuntimeSpec {
            gas_price: defaults.gas_price as u64,
            tx_base_gas: defaults.tx_base_gas,
            tx_byte_gas: defaults.tx_byte_gas,
        },
        genesis,
    }
}

/// Assembles validator `index` through the node's builder and runs it until its agreement
/// service or engine stops.
#[allow(clippy::too_many_arguments)]
async fn run(
    ctx: deterministic::Context,
    chain: Arc<Chain>,
    index: usize,
    key: SecretKey,
    kv: Arc<MemoryStore>,
    control: NetControl,
    channels: NetChannels,
    txs: Pair,
    record: Arc<Mutex<Record>>,
    ready: oneshot::Sender<Bus>,
) -> Result<(), String> {
    let runtime = Arc::new(runtime(&chain)?);
    let mut config = chain.simplex.clone();
    config.partition = format!("v{index}_simplex");
    let max_message = config.max_message() as usize;
    let engine = SimulatedSimplex {
        key: SecretKey::from_seed(key.seed()),
        config,
        control: control.clone(),
        channels,
    };
    let state = Qmdb {
        config: StateConfig {
            partition: format!("v{index}_state"),
            cache_pages: 64,
            parallelism: 1,
            prune_every: 16,
        },
    };
    let node = NodeBuilder::new(spec(&chain), runtime.clone(), format!("v{index}"))
        .storage(Disk(kv))
        .state(state)
        .engine(engine)
        .deterministic()
        .assemble(&ctx)
        .await
        .map_err(|e| format!("{e:#}"))?;
    record.lock().resumed(index, node.tip.height);
    let bus = node.bus.clone();
    // Transactions clients submit here reach the other validators, and theirs reach this one.
    let gossip = TxGossip::new(&bus, txs, control, max_message).map_err(|e| e.to_string())?;
    ctx.child("gossip").spawn(|_| gossip.run());
    let mut finalized = bus.subscribe::<BlockFinalized>();
    let mut committed = bus.subscribe::<StateCommitted>();
    let mut faults = bus.subscribe::<MisbehaviourDetected>();
    let mut sets = bus.subscribe::<ValidatorSetChanged>();
    bus.check_wiring().map_err(|e| e.to_string())?;
    let reporter = EvidenceReporter::new(&bus, runtime.clone(), SecretKey::from_seed(key.seed()));
    ctx.child("evidence").spawn(|_| reporter.run());
    let Started {
        agreement, engine, ..
    } = node.start(&ctx);
    let observed = record.clone();
    ctx.child("observer").spawn(move |clock| async move {
        loop {
            let event = futures::select_biased! {
                e = finalized.recv().fuse() => match e {
                    Ok(e) => Event::Finalized { height: e.block.header.height, block: e.block.id(), txs: e.block.txs.len() },
                    Err(_) => break,
                },
                e = committed.recv().fuse() => match e {
                    Ok(e) => Event::Committed { height: e.height, root: e.root },
                    Err(_) => break,
                },
                e = faults.recv().fuse() => match e {
                    Ok(e) => Event::Misbehaviour { offender: e.offender },
                    Err(_) => break,
                },
                e = sets.recv().fuse() => match e {
                    Ok(e) => Event::SetChanged { epoch: e.epoch, keys: e.validators.iter().map(|v| v.key).collect() },
                    Err(_) => break,
                },
            };
            observed.lock().observe(index, clock.current(), event);
        }
    });
    let _ = ready.send(bus);

    // Either part stopping with an error is a failure, whatever the other does.
    let agreement = async {
        match agreement.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("agreement: {err}")),
            Err(err) => Err(format!("agreement task: {err}")),
        }
    };
    let engine = async {
        match engine.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("engine: {err}")),
            Err(err) => Err(format!("engine task: {err}")),
        }
    };
    futures::pin_mut!(agreement, engine);
    match futures::future::select(agreement, engine).await {
        futures::future::Either::Left((Ok(()), engine)) => engine.await,
        futures::future::Either::Right((Ok(()), agreement)) => agreement.await,
        futures::future::Either::Left((Err(err), _))
        | futures::future::Either::Right((Err(err), _)) => Err(err),
    }
}
