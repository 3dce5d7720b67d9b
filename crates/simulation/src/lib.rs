//! Deterministic whole-chain simulation: validators with the real runtime, storage and consensus on one seeded executor, over simulated links with faults.
//!
//! ```text
//! seed --> deterministic executor --+-- validator 0: data layer + agreement + simplex --+
//!                                   +-- validator 1: ...                                +-- simulated
//!                                   +-- ...                                             |   network
//!          scenario: transfers, a partition that heals, a crash and restart  ----------+
//!          record:   every BlockFinalized / StateCommitted / MisbehaviourDetected, hashed in order
//!          checks:   agreement, equal roots, nothing lost on restart, progress after healing,
//!                    a light client from genesis verifies each validator's stored chain
//! ```
//!
//! [`run`] plays a [`Scenario`] and returns what happened as an [`Outcome`]: the chains each
//! validator finalized, their state roots, the [`Violation`]s found and the trace hash, which
//! is the same for the same scenario and seed.

mod byzantine;
pub mod defi;
pub mod interchain;
mod light;
pub mod link;
mod record;
mod validator;
mod workload;

pub use workload::{Transfers, Workload};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use commonware_p2p::simulated::{self, Link};
use commonware_runtime::{deterministic, Clock as _, Runner as _, Supervisor as _};
use commonware_utils::{NZUsize, Probability};
use lamina_agreement::testing::key;
use lamina_data_layer::commit::columns;
use lamina_data_layer::kv::MemoryStore;
use lamina_data_layer::{FlatState, HotState};
use lamina_incentive::simplex::SimplexConfig;
use lamina_incentive::staking::{GenesisValidator, Params, StakingGenesis, VALIDATORS};
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::messages::{Admission, SubmitTxs};
use lamina_interop::module::Amount;
use lamina_interop::{Address, ChainId, Hash};
use parking_lot::Mutex;

use crate::record::Record;
use crate::validator::{network_key, start, Chain, Running};

/// Links between every two validators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Links {
    /// Mean one-way latency.
    pub latency: Duration,
    /// Its standard deviation.
    pub jitter: Duration,
    /// Share of messages delivered, in `[0, 1]`.
    pub delivery: f64,
}

/// Validators cut off from the rest between two instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The validators on one side.
    pub side: Vec<usize>,
    /// When the links are cut (simulated time since start).
    pub from: Duration,
    /// When they are restored.
    pub heal: Duration,
}

/// A validator killed without warning and started again over the same storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    /// Which validator.
    pub validator: usize,
    /// When it is killed.
    pub at: Duration,
    /// When it starts again.
    pub restart: Duration,
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seeds the executor: task order, latencies, losses.
    pub seed: u64,
    /// Number of validators.
    pub validators: usize,
    /// The links.
    pub links: Links,
    /// Stop once every validator has finalized this height...
    pub height: u64,
    /// ...or at this simulated time.
    pub limit: Duration,
    /// A transfer is submitted to a validator this often.
    pub transfer_every: Duration,
    /// A partition, if any.
    pub partition: Option<Partition>,
    /// A crash and restart, if any.
    pub crash: Option<Crash>,
    /// Consensus timeouts (leader, notarization); the round timeout is the second.
    pub timeouts: (Duration, Duration),
    /// A Byzantine validator that signs two conflicting votes in every view, if any (it runs
    /// no chain: the others must report it and finalize without it).
    pub equivocator: Option<usize>,
    /// Blocks per epoch: the staking set is recomputed, and consensus moves to a new
    /// instance with it, after each.
    pub epoch_blocks: u64,
}

impl Scenario {
    /// Four validators over 20-80 ms links, 30 blocks, a transfer every 50 ms, no faults.
    pub fn new(seed: u64) -> Scenario {
        Scenario {
            seed,
            validators: 4,
            links: Links {
                latency: Duration::from_millis(50),
                jitter: Duration::from_millis(15),
                delivery: 1.0,
            },
            height: 30,
            limit: Duration::from_secs(300),
            transfer_every: Duration::from_millis(50),
            partition: None,
            crash: None,
            timeouts: (Duration::from_secs(1), Duration::from_secs(2)),
            equivocator: None,
            epoch_blocks: 10,
        }
    }

    /// No faults but one Byzantine validator, picked by the seed, that equivocates.
    pub fn with_equivocator(seed: u64) -> Scenario {
        let mut scenario = Scenario::new(seed);
        scenario.equivocator =
            Some(Hash::of(&seed.to_be_bytes()).0[0] as usize % scenario.validators);
        scenario
    }

    /// The faults this seed draws among four validators: see [`Scenario::with_faults_among`].
    pub fn with_faults(seed: u64) -> Scenario {
        Scenario::with_faults_among(seed, 4)
    }

    /// The faults this seed draws among `validators` (at least 4), of which f =
    /// (validators - 1) / 3 may be faulty: lossy links, a partition that cuts f validators off
    /// and heals, and a crash and restart of one more, at times derived from the seed. While
    /// the partition and the crash overlap, f + 1 are out: safety must hold all the same, and
    /// the chain must finalize once the partition heals.
    pub fn with_faults_among(seed: u64, validators: usize) -> Scenario {
        let mut scenario = Scenario::new(seed);
        scenario.validators = validators.max(4);
        let n = scenario.validators;
        let f = (n - 1) / 3;
        let pick = |salt: u64, range: u64| {
            Hash::of(&[seed.to_be_bytes(), salt.to_be_bytes()].concat()).0[0] as u64 % range
        };
        scenario.links.delivery = 0.95;
        let cut = pick(1, n as u64) as usize;
        let from = Duration::from_millis(2_000 + 100 * pick(2, 30));
        scenario.partition = Some(Partition {
            side: (0..f).map(|k| (cut + k) % n).collect(),
            from,
            heal: from + Duration::from_millis(1_000 + 100 * pick(3, 40)),
        });
        let crashed = (cut + f + pick(4, (n - f) as u64) as usize) % n;
        let at = Duration::from_millis(3_000 + 100 * pick(5, 40));
        scenario.crash = Some(Crash {
            validator: crashed,
            at,
            restart: at + Duration::from_millis(500 + 100 * pick(6, 30)),
        });
        scenario
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two validators finalized different blocks at one height.
    Fork {
        /// The height.
        height: u64,
        /// The two validators.
        validators: (usize, usize),
    },
    /// Two validators committed different state roots at one height.
    RootMismatch {
        /// The height.
        height: u64,
        /// The two validators.
        validators: (usize, usize),
    },
    /// A restarted validator resumed below a height it had committed.
    LostBlock {
        /// The validator.
        validator: usize,
        /// What it had committed.
        committed: u64,
        /// Where it resumed.
        resumed: u64,
    },
    /// An honest validator was reported for conflicting votes.
    DoubleSign {
        /// The validator reported.
        validator: usize,
    },
    /// An honest validator never reported the equivocator.
    EquivocationMissed {
        /// The honest validator.
        validator: usize,
    },
    /// In an honest validator's committed state, the equivocator was not slashed (its bond
    /// not cut, or it was not jailed).
    NotSlashed {
        /// The honest validator whose state was read.
        validator: usize,
    },
    /// Two validators were told different validator sets for one epoch.
    SetMismatch {
        /// The epoch.
        epoch: u64,
        /// The two validators.
        validators: (usize, usize),
    },
    /// The last validator set an honest validator moved to still holds the slashed
    /// equivocator.
    NotRemoved {
        /// The honest validator.
        validator: usize,
    },
    /// No block was finalized within five round timeouts of the faults healing.
    NoRecovery {
        /// Simulated time from healing to the next finalized block, if any.
        took: Option<Duration>,
    },
    /// A validator did not reach the target height before the time limit.
    Behind {
        /// The validator.
        validator: usize,
        /// Its finalized height.
        height: u64,
    },
    /// A light client following the validator's stored chain from genesis refused a proof,
    /// lacked one, or missed a conflicting final block.
    LightClient {
        /// The validator whose store was followed.
        validator: usize,
        /// What went wrong.
        reason: String,
    },
    /// The workload's check failed on an honest validator's committed state.
    Workload {
        /// The validator.
        validator: usize,
        /// What the check found.
        reason: String,
    },
    /// A validator's part stopped with an error.
    Failed {
        /// The validator.
        validator: usize,
        /// The error.
        error: String,
    },
}

/// What a simulation did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Height -> block id, per validator.
    pub finalized: Vec<BTreeMap<u64, Hash>>,
    /// Height -> state root, per validator.
    pub roots: Vec<BTreeMap<u64, Hash>>,
    /// Broken invariants; empty when the run is correct.
    pub violations: Vec<Violation>,
    /// Hash of every observation in order: equal for equal seeds.
    pub trace: Hash,
    /// Simulated time taken.
    pub elapsed: Duration,
    /// Transfers submitted and admitted.
    pub submitted: usize,
    /// Transactions in finalized blocks.
    pub included: usize,
    /// The heights each validator started from, one entry per start.
    pub starts: Vec<Vec<u64>>,
    /// Epoch -> the validator set consensus moved to, per validator.
    pub sets: Vec<BTreeMap<u64, Vec<PublicKey>>>,
}

/// The key of simulated validator `index`.
pub fn validator_key(index: usize) -> SecretKey {
    SecretKey::from_seed(Hash::of(format!("lamina/simulation/validator/{index}").as_bytes()).0)
}

/// What each validator bonds at genesis.
const BOND: u128 = 1_000_000;

/// Accounts funded at genesis; each sends one transfer.
const ACCOUNTS: u64 = 4_096;

/// Plays `scenario` with transfers on a deterministic executor seeded with its seed.
pub fn run(scenario: &Scenario) -> Outcome {
    run_with(scenario, Transfers)
}

/// Plays `scenario` with a chain's own modules and transactions.
pub fn run_with(scenario: &Scenario, workload: impl Workload) -> Outcome {
    let scenario = scenario.clone();
    let workload: Arc<dyn Workload> = Arc::new(workload);
    let config = deterministic::Config::new().with_seed(scenario.seed);
    deterministic::Runner::new(config).start(|ctx| simulate(ctx, scenario, workload))
}

async fn simulate(
    ctx: deterministic::Context,
    scenario: Scenario,
    workload: Arc<dyn Workload>,
) -> Outcome {
    let n = scenario.validators;
    let chain_id = ChainId(0x51);
    let keys: Vec<SecretKey> = (0..n).map(validator_key).collect();
    let validators: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let mut simplex = SimplexConfig::new(chain_id, validators);
    simplex.leader_timeout = scenario.timeouts.0;
    simplex.notarization_timeout = scenario.timeouts.1;
    simplex.nullify_retry = scenario.timeouts.1 * 2;
    simplex.fetch_timeout = Duration::from_millis(300);
    simplex.max_bytes = 1 << 20;
    simplex.epoch_blocks = Some(scenario.epoch_blocks);
    let senders: Vec<SecretKey> = (0..ACCOUNTS).map(key).collect();
    let chain = Arc::new(Chain {
        chain_id,
        keys: (0..n).map(|i| validator_key(i).seed()).collect(),
        funded: senders
            .iter()
            .chain(&keys)
            .map(|k| (Address::of(&k.public_key()), 1_000_000_000_000))
            .collect(),
        staking: StakingGenesis {
            params: Some(Params {
                max_validators: n as u32,
                min_bond: 1_000,
                unbonding_blocks: 100,
                epoch_blocks: scenario.epoch_blocks,
                slash_per_mille: 100,
                reward_per_block: 0,
            }),
            validators: keys
                .iter()
                .map(|k| GenesisValidator {
                    operator: Address::of(&k.public_key()),
                    key: k.public_key(),
                    bond: Amount(BOND),
                })
                .collect(),
        },
        simplex: simplex.clone(),
        workload: workload.clone(),
    });

    let peers: Vec<_> = keys.iter().map(network_key).collect();
    let (network, oracle) = simulated::Network::new_with_peers(
        ctx.child("network"),
        simulated::Config {
            max_size: simplex.max_message(),
            max_peers_per_set: NZUsize!(n.max(1)),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        peers.clone(),
    )
    .await;
    network.start();
    let link = Link {
        latency: scenario.links.latency,
        jitter: scenario.links.jitter,
        success_rate: Probability::from_f64(scenario.links.delivery.clamp(0.0, 1.0))
            .unwrap_or_else(|| unreachable!("a share in [0, 1]")),
    };
    let connect = |from: usize, to: usize| {
        let (oracle, link, a, b) = (
            oracle.clone(),
            link.clone(),
            peers[from].clone(),
            peers[to].clone(),
        );
        async move {
            let _ = oracle.add_link(a, b, link).await;
        }
    };
    for a in 0..n {
        for b in 0..n {
            if a != b {
                connect(a, b).await;
            }
        }
    }

    let record = Arc::new(Mutex::new(Record::new(n, ctx.current())));
    let stores: Vec<Arc<MemoryStore>> = (0..n)
        .map(|_| Arc::new(MemoryStore::new(&columns())))
        .collect();
    let mut running: Vec<Option<Running>> = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        if scenario.equivocator == Some(i) {
            if let Err(err) = byzantine::start(&ctx, &simplex, &keys[i], &oracle).await {
                record.lock().failures.push((i, err));
            }
            running.push(None);
            continue;
        }
        running.push(Some(
            start(
                &ctx,
                chain.clone(),
                i,
                store.clone(),
                &oracle,
                record.clone(),
            )
            .await,
        ));
    }

    let honest = || (0..n).filter(|v| scenario.equivocator != Some(*v));
    let runtime = validator::runtime(&chain);
    let mut submitted = 0;
    let mut next_sender = 0u64;
    let step = Duration::from_millis(10);
    let start_time = ctx.current();
    let mut elapsed;
    let mut next_transfer = scenario.transfer_every;
    let mut cut = false;
    let mut healed = false;
    let mut heal_height = None;
    let mut crashed_at_height = None;
    let mut stopped_at = None;
    loop {
        ctx.sleep(step).await;
        elapsed = ctx.current().duration_since(start_time).unwrap_or_default();
        if elapsed >= scenario.limit {
            break;
        }
        // Transfers, each from a fresh account, to a validator picked by the seed's order.
        if elapsed >= next_transfer && next_sender < ACCOUNTS {
            next_transfer += scenario.transfer_every;
            let target = (next_sender as usize) % n;
            if let (Some(node), Ok(runtime)) = (&running[target], &runtime) {
                let from = &senders[next_sender as usize];
                let other =
                    Address::of(&senders[((next_sender + 1) % ACCOUNTS) as usize].public_key());
                let txs = workload
                    .transactions(runtime, next_sender, from, other)
                    .iter()
                    .map(|tx| tx.to_raw())
                    .collect();
                let request = node.bus.requester::<SubmitTxs>();
                if let Ok(verdicts) = request.request(SubmitTxs::from_client(txs)).await {
                    submitted += verdicts
                        .iter()
                        .filter(|v| matches!(v, Admission::Accepted { .. }))
                        .count();
                }
            }
            next_sender += 1;
        }
        if let Some(partition) = &scenario.partition {
            if !cut && elapsed >= partition.from {
                cut = true;
                for &a in &partition.side {
                    for b in (0..n).filter(|b| !partition.side.contains(b)) {
                        let _ = oracle.remove_link(peers[a].clone(), peers[b].clone()).await;
                        let _ = oracle.remove_link(peers[b].clone(), peers[a].clone()).await;
                    }
                }
            }
            if cut && !healed && elapsed >= partition.heal {
                healed = true;
                for &a in &partition.side {
                    for b in (0..n).filter(|b| !partition.side.contains(b)) {
                        connect(a, b).await;
                        connect(b, a).await;
                    }
                }
            }
        }
        if let Some(crash) = scenario.crash {
            if crashed_at_height.is_none() && elapsed >= crash.at {
                if let Some(node) = running[crash.validator].take() {
                    node.task.abort();
                }
                // The abort reaches the validator's parts over the next executor cycles.
                ctx.sleep(Duration::from_millis(5)).await;
                let mut record = record.lock();
                record.down[crash.validator] = Some(ctx.current());
                let committed = record.roots[crash.validator]
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or(0);
                crashed_at_height = Some(committed);
            }
            if running[crash.validator].is_none() && elapsed >= crash.restart {
                let v = crash.validator;
                record.lock().down[v] = None;
                running[v] = Some(
                    start(
                        &ctx,
                        chain.clone(),
                        v,
                        stores[v].clone(),
                        &oracle,
                        record.clone(),
                    )
                    .await,
                );
            }
        }
        let faults_over = scenario
            .partition
            .as_ref()
            .is_none_or(|p| elapsed >= p.heal)
            && scenario.crash.is_none_or(|c| elapsed >= c.restart);
        if faults_over && heal_height.is_none() {
            let record = record.lock();
            heal_height = Some((
                elapsed,
                honest().map(|v| record.height(v)).max().unwrap_or(0),
            ));
        }
        let record = record.lock();
        // Past the target, and a few blocks past the faults, finalized and committed: the
        // workload's checks read the committed state, which must hold the target's blocks.
        let target = heal_height.map_or(u64::MAX, |(_, h)| scenario.height.max(h + 3));
        if honest().all(|v| record.height(v) >= target && record.committed(v) >= target) {
            stopped_at = Some(elapsed);
            break;
        }
    }
    for node in running.iter().flatten() {
        node.bus.close();
        node.task.abort();
    }

    let record = record.lock();
    let mut violations = check(&record, &scenario, &keys, crashed_at_height);
    if stopped_at.is_none() {
        for v in honest() {
            if record.height(v) < scenario.height {
                violations.push(Violation::Behind {
                    validator: v,
                    height: record.height(v),
                });
            }
        }
    }
    if let Some((healed_at, height)) = heal_height {
        if scenario.partition.is_some() || scenario.crash.is_some() {
            let next = record
                .first_finalized
                .range(height + 1..)
                .map(|(_, at)| *at)
                .min()
                .map(|at| at.saturating_sub(healed_at));
            let bound = scenario.timeouts.1 * 5;
            if next.is_none_or(|took| took > bound) {
                violations.push(Violation::NoRecovery { took: next });
            }
        }
    }
    if let Ok(runtime) = &runtime {
        for validator in honest() {
            let view = FlatState::new(stores[validator].clone(), Arc::new(HotState::new(0)));
            if let Err(reason) = workload.check(runtime, &view) {
                violations.push(Violation::Workload { validator, reason });
            }
        }
    }
    for validator in honest() {
        let genesis: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let followed = light::follow(
            stores[validator].clone(),
            chain_id,
            scenario.epoch_blocks,
            &genesis,
            &record.sets[validator],
            &keys,
        );
        if let Err(reason) = followed {
            violations.push(Violation::LightClient { validator, reason });
        }
    }
    if let Some(equivocator) = scenario.equivocator {
        let operator = Address::of(&keys[equivocator].public_key());
        for validator in honest() {
            let view = FlatState::new(stores[validator].clone(), Arc::new(HotState::new(0)));
            let slashed = VALIDATORS
                .get_committed(&view, &operator)
                .ok()
                .flatten()
                .is_some_and(|v| v.jailed && v.bonded < BOND);
            if !slashed {
                violations.push(Violation::NotSlashed { validator });
            }
        }
    }
    Outcome {
        finalized: record.finalized.clone(),
        roots: record.roots.clone(),
        violations,
        trace: record.trace,
        elapsed,
        submitted,
        included: record.txs,
        starts: record
            .resumed
            .iter()
            .map(|starts| starts.iter().map(|h| h.0).collect())
            .collect(),
        sets: record.sets.clone(),
    }
}

/// The heights at which both maps hold a value and the values differ.
fn differing<'a>(
    a: &'a BTreeMap<u64, Hash>,
    b: &'a BTreeMap<u64, Hash>,
) -> impl Iterator<Item = u64> + 'a {
    a.iter()
        .filter(|(height, value)| b.get(*height).is_some_and(|other| other != *value))
        .map(|(height, _)| *height)
}

/// Safety checks over the record.
fn check(
    record: &Record,
    scenario: &Scenario,
    keys: &[SecretKey],
    crashed_at: Option<u64>,
) -> Vec<Violation> {
    let n = scenario.validators;
    let mut violations = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            for height in differing(&record.finalized[a], &record.finalized[b]) {
                violations.push(Violation::Fork {
                    height,
                    validators: (a, b),
                });
            }
            for height in differing(&record.roots[a], &record.roots[b]) {
                violations.push(Violation::RootMismatch {
                    height,
                    validators: (a, b),
                });
            }
            for (epoch, set) in &record.sets[a] {
                if record.sets[b].get(epoch).is_some_and(|other| other != set) {
                    violations.push(Violation::SetMismatch {
                        epoch: *epoch,
                        validators: (a, b),
                    });
                }
            }
        }
    }
    if let (Some(crash), Some(committed)) = (scenario.crash, crashed_at) {
        if let Some(resumed) = record.resumed[crash.validator].get(1) {
            if resumed.0 < committed {
                violations.push(Violation::LostBlock {
                    validator: crash.validator,
                    committed,
                    resumed: resumed.0,
                });
            }
        }
    }
    for (_, offender) in &record.misbehaviour {
        if let Some(validator) = keys.iter().position(|k| k.public_key() == *offender) {
            if scenario.equivocator != Some(validator) {
                violations.push(Violation::DoubleSign { validator });
            }
        }
    }
    if let Some(equivocator) = scenario.equivocator {
        let offender = keys[equivocator].public_key();
        for validator in (0..n).filter(|v| *v != equivocator) {
            let reported = record
                .misbehaviour
                .iter()
                .any(|(by, who)| *by == validator && *who == offender);
            if !reported {
                violations.push(Violation::EquivocationMissed { validator });
            }
            let still_in = record.sets[validator]
                .values()
                .next_back()
                .is_none_or(|set| set.contains(&offender));
            if still_in {
                violations.push(Violation::NotRemoved { validator });
            }
        }
    }
    for (validator, error) in &record.failures {
        violations.push(Violation::Failed {
            validator: *validator,
            error: error.clone(),
        });
    }
    violations
}
