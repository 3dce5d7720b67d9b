//! `lamina bench`: end-to-end throughput of a chain built from the same parts as
//! `lamina node`, measured the strict way.
//!
//! ```text
//! not timed:  derive M account keys, plan N transfers (uniform senders and receivers),
//!             sign them, measure raw Ed25519 batch verification on all cores
//! timed:      bench --SubmitTxs batches (window-limited)--> node (solo, fjall, QMDB)
//!             (or a child process --tx_submit batches over JSON-RPC--> node)
//!             node: admission -> pool -> build -> finalize -> execute -> persist + merkleize
//!             bench <==BlockFinalized, StateCommitted== node: latency, TPS, progress
//! report:     committed TPS (finalized, durable, a state root per block), its ratio to raw
//!             verification, CPU per transaction per stage, latency p50/p99, peak memory
//! ```
//!
//! At most `window` transactions are submitted and not yet committed, so the pool never
//! refuses one for being full and latency measures the pipeline, not an unbounded queue.

mod defi;
mod load;
mod network;
mod plot;
mod rate;
mod remote;
mod steps;
mod workload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use commonware_runtime::Runner as _;
use futures::StreamExt as _;
use lamina_agreement::admission::SignatureBatches;
use lamina_agreement::SignedTx;
use lamina_interop::block::{Block, RawTx};
use lamina_interop::bus::{Bus, Overflow};
use lamina_interop::crypto::{BatchVerifier, PublicKey, SecretKey};
use lamina_interop::messages::{Admission, BlockFinalized, StateCommitted, SubmitTxs};
use lamina_interop::profile::{self, Stage};
use lamina_interop::{Address, ChainId, Height};
use rayon::prelude::*;
use serde::Serialize;

pub(crate) use load::{run_load, LoadArgs};
use workload::{Index, Shape, Workload};

use crate::node::{self, Fjall, NodeBuilder, Qmdb, Redb, SoloEngine};
use crate::spec::{ChainSpec, ConsensusSpec, Preset};

/// One transaction in this many is followed for latency.
const LATENCY_SAMPLE: usize = 8;

/// The benchmark chain's id.
const CHAIN_ID: ChainId = ChainId(7357);
/// Each benchmark account's balance: enough fees for thousands of transfers.
const BALANCE: u128 = 1_000_000_000_000_000_000;

/// Where transactions enter the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Ingest {
    /// `SubmitTxs` on the node's bus, from this process.
    Bus,
    /// `tx_submit` batches over JSON-RPC, from a separate process.
    Rpc,
}

/// `lamina bench`'s options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Funded accounts; senders and receivers are drawn uniformly from them.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) accounts: u32,
    /// Transactions to commit.
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) txs: u32,
    /// With `transfers`: only the first this many accounts send (receivers are still drawn
    /// from all); `--senders 1` is one busy account, such as a market maker. Default: all.
    #[arg(long)]
    pub(crate) senders: Option<u32>,
    /// Which transactions: transfers, a DeFi mix, or swaps only.
    #[arg(long, value_enum, default_value_t = Workload::Transfers)]
    pub(crate) workload: Workload,
    /// With `defi` or `swaps`: the pools, each a token against USD (pool 0: LAM).
    #[arg(long, default_value_t = 64)]
    pub(crate) pools: u32,
    /// With `defi` or `swaps`: the exponent of the Zipf law that picks a swap's pool (0:
    /// uniform; 1: pool 0 takes about a fifth of the swaps at 64 pools).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) zipf: f64,
    /// With `defi`: the lending markets, 1 to 16 (USD, then tokens).
    #[arg(long, default_value_t = 16)]
    pub(crate) markets: u32,
    /// Transactions per submission.
    #[arg(long, default_value_t = 4_096)]
    pub(crate) batch: usize,
    /// Most transactions submitted and not yet committed.
    #[arg(long, default_value_t = 60_000)]
    pub(crate) window: u64,
    /// Open-loop load: offer this many transfers per second on a fixed schedule, whatever
    /// the chain commits (no window), with latency counted from each one's scheduled time.
    /// Or `sweep`: step the rate up from 500/s by half each time, a new chain each step of
    /// 10 s, until p99 passes 2 s or the chain refuses over 1% of the offer, and print (with
    /// --plot, draw) latency against throughput. The chain runs as node processes:
    /// `--validators 1` is one process of a solo chain.
    #[arg(long, value_parser = rate::parse)]
    pub(crate) rate: Option<rate::Rate>,
    /// Transactions admitted since the last block that have the next one built before the
    /// block time.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) block_txs: usize,
    /// Longest time between blocks, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub(crate) block_time_ms: u64,
    /// Where transactions enter the node.
    #[arg(long, value_enum, default_value_t = Ingest::Bus)]
    pub(crate) ingest: Ingest,
    /// Validators: 1 runs the chain in this process (solo engine); 2 to 32 run that many
    /// `lamina node` processes of the local chain (simplex over loopback), loaded over
    /// JSON-RPC: the development accounts, then validator5, ... with keys generated into
    /// the run's directory.
    #[arg(long, default_value_t = 1)]
    pub(crate) validators: u32,
    /// Load the node already running at this JSON-RPC URL (`lamina node --dev`, say) instead
    /// of starting a chain: `--from` first pays every sender what its transfers cost (not
    /// timed), then the transfers go over JSON-RPC.
    #[arg(long, conflicts_with_all = ["validators", "ingest", "base_path", "storage", "flat", "tx_index"])]
    pub(crate) rpc: Option<String>,
    /// With `--rpc`: the key that pays the benchmark's accounts, a keystore name or a dev
    /// account (alice, bob, charlie, dave).
    #[arg(long, default_value = "alice")]
    pub(crate) from: String,
    /// With `--rpc`: the keystore directory.
    #[arg(long, env = "LAMINA_KEYSTORE")]
    pub(crate) keystore: Option<PathBuf>,
    /// Seed of the accounts and of the sender and receiver draws (1 by default; with `--rpc`,
    /// a new one each run, so that its accounts are fresh on a chain earlier runs used).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// The data directory (a temporary one, removed after, by default); must be new.
    #[arg(long)]
    pub(crate) base_path: Option<PathBuf>,
    /// Authenticated-state page cache in 4 KiB pages.
    #[arg(long, default_value_t = 262_144)]
    pub(crate) cache_pages: usize,
    /// The key-value store.
    #[arg(long, value_enum, default_value_t = crate::shell::Storage::Fjall)]
    pub(crate) storage: crate::shell::Storage,
    /// With fjall: where the chain keeps its flat state, in memory (checkpointed) or inline
    /// (a row per key in each block's batch).
    #[arg(long, value_enum, default_value_t = crate::shell::Flat::Memory)]
    pub(crate) flat: crate::shell::Flat,
    /// Index finalized transactions by id, as `lamina node` does by default (false: as a
    /// validator that serves no lookups by id).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) tx_index: bool,
    /// Draws TPS and latency over time into this SVG file.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = crate::shell::Output::Text)]
    pub(crate) output: crate::shell::Output,
}

impl BenchArgs {
    /// The seed of the accounts and draws.
    pub(crate) fn seed(&self) -> u64 {
        self.seed.unwrap_or(1)
    }

    /// How many accounts send.
    pub(crate) fn senders(&self) -> u32 {
        self.senders.unwrap_or(self.accounts).min(self.accounts)
    }

    /// Transactions per submission: `--batch`, or at a `--rate`, a fiftieth of a second's
    /// worth (at least 1), so that the offer follows its schedule closely.
    pub(crate) fn submit_batch(&self) -> usize {
        match self.rate {
            Some(rate::Rate::PerSecond(per_s)) => (per_s as usize / 50).clamp(1, self.batch),
            _ => self.batch,
        }
    }

    /// Submission requests in flight at once, at most `most`. Requests that finish out of
    /// order deliver later nonces first; the pool holds those only within its nonce gap, so
    /// when one sender's share of a batch exceeds that gap, batches go one at a time.
    pub(crate) fn connections(&self, most: usize) -> usize {
        let per_sender = self.submit_batch() as u64 / u64::from(self.senders().max(1));
        if per_sender > lamina_agreement::pool::PoolConfig::default().max_nonce_gap {
            1
        } else {
            most
        }
    }

    fn defi(&self) -> defi::Params {
        defi::Params {
            pools: self.pools,
            zipf: self.zipf,
            markets: self.markets,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) accounts: u32,
    /// Of them, the accounts that send.
    pub(crate) senders: u32,
    pub(crate) txs: u32,
    pub(crate) workload: Workload,
    /// The workload's transactions, in words.
    pub(crate) mix: &'static str,
    /// The DeFi workloads' pools, Zipf exponent and markets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) defi: Option<defi::Params>,
    pub(crate) ingest: Ingest,
    /// The running node loaded with `--rpc`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    pub(crate) validators: u32,
    /// The open-loop offer, transfers per second (`--rate`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) offered_per_s: Option<u32>,
    /// Whether the chain indexed transactions by id (unknown for a node loaded with `--rpc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tx_index: Option<bool>,
    /// Where the chain kept its flat state (unknown for a node loaded with `--rpc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) flat: Option<crate::shell::Flat>,
    pub(crate) cores: usize,
    /// Raw Ed25519 batch verification on all cores, signatures per second.
    pub(crate) raw_verify_per_s: f64,
    /// Transactions committed (finalized, executed, merkleized, durable).
    pub(crate) committed: u64,
    /// Transactions the node refused (each a failure of the run).
    pub(crate) rejected: u64,
    pub(crate) blocks: u64,
    /// From the first submission to the last commit.
    pub(crate) seconds: f64,
    pub(crate) tps: f64,
    /// `tps / raw_verify_per_s`.
    pub(crate) ratio: f64,
    pub(crate) latency_ms: Latency,
    /// CPU per committed transaction, by stage, then the whole process.
    pub(crate) cpu_us_per_tx: Vec<StageCost>,
    pub(crate) process_cpu_us_per_tx: f64,
    /// Mean cores busy during the run.
    pub(crate) cores_busy: f64,
    pub(crate) peak_memory_mib: f64,
    /// Where the run's blocks spent their time from proposal to durable commit, on the node
    /// followed (empty where the node keeps no timeline).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) block_steps: Vec<steps::StepTime>,
    pub(crate) samples: Vec<plot::Sample>,
}

/// Submission to durable commit.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// One stage's cost.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StageCost {
    pub(crate) stage: &'static str,
    /// CPU microseconds per committed transaction, over all threads.
    pub(crate) cpu_us: f64,
    /// Share of the run during which the stage was working on a batch or block.
    pub(crate) busy: f64,
}

/// Runs the benchmark and prints its report.
pub(crate) fn run(mut args: BenchArgs, chain: &crate::Chain) -> anyhow::Result<()> {
    let most = crate::testnet::MOST_VALIDATORS as u32;
    if args.validators == 0 || args.validators > most {
        bail!("--validators must be 1 (in process) or 2 to {most} (processes of the local chain)");
    }
    if args.accounts < 2 || args.txs == 0 || args.batch == 0 {
        bail!("--accounts must be at least 2, and --txs and --batch at least 1");
    }
    if args.senders.is_some_and(|s| s == 0 || s > args.accounts) {
        bail!("--senders must be 1 to --accounts");
    }
    if args.senders.is_some() && args.workload != Workload::Transfers {
        bail!("--senders applies to --workload transfers");
    }
    if args.window < args.batch as u64 {
        bail!("--window must hold at least one --batch");
    }
    if args.workload != Workload::Transfers {
        if args.rpc.is_some() || args.validators > 1 || args.ingest != Ingest::Bus {
            bail!("--workload defi and swaps run in process (one validator, bus ingest)");
        }
        if args.pools == 0 || !(1..=16).contains(&args.markets) {
            bail!("--pools must be at least 1 and --markets 1 to 16");
        }
        if !(0.0..=10.0).contains(&args.zipf) {
            bail!("--zipf must be between 0 and 10");
        }
        if args.accounts <= defi::FIRST_TRADER {
            bail!("--accounts must be more than {}", defi::FIRST_TRADER);
        }
    }
    if let Some(path) = &args.base_path {
        if path.exists() && std::fs::read_dir(path)?.next().is_some() {
            bail!(
                "{} is not empty: the benchmark needs a new chain",
                path.display()
            );
        }
    }
    if args.rate.is_some() && args.workload != Workload::Transfers {
        bail!("--rate offers transfers (--workload transfers)");
    }
    if args.rpc.is_some() && args.seed.is_none() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        args.seed = Some(now.as_nanos() as u64);
    }
    if args.rate == Some(rate::Rate::Sweep) {
        return rate::sweep(&args);
    }
    let report = if let Some(url) = &args.rpc {
        remote::measure(&args, url)?
    } else if args.validators > 1 || args.rate.is_some() {
        network::measure(&args)?
    } else {
        measure(&args, chain)?
    };
    if let Some(path) = &args.plot {
        std::fs::write(path, plot::svg(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match args.output {
        crate::shell::Output::Json => crate::shell::print_json(&report),
        crate::shell::Output::Text => crate::shell::say(table(&report)),
    }
}

/// The workload, ready to submit: accounts, the planned transfers, the signed ones, and the
/// machine's raw verification rate measured on a sample of them. None of it is timed.
struct Prepared {
    public: Vec<PublicKey>,
    addresses: Vec<Address>,
    plan: Vec<workload::Plan>,
    raw: Vec<RawTx>,
    raw_verify_per_s: f64,
}

/// Derives the keys, plans `args.txs` transfers at `gas_price`, signs all of them (or, when
/// `sign_all` is off, only the sample the verification baseline needs).
fn prepare(
    args: &BenchArgs,
    chain_id: ChainId,
    gas_price: u64,
    sign_all: bool,
    progress: &Progress,
) -> anyhow::Result<Prepared> {
    let shape = Shape {
        accounts: args.accounts,
        senders: args.senders(),
        txs: args.txs,
        workload: args.workload,
        defi: args.defi(),
        report_every: args.block_txs as u32,
        seed: args.seed(),
        chain_id,
        gas_price: u128::from(gas_price),
    };
    progress.stage("deriving account keys", 0);
    let keys = workload::keys(shape.seed, args.accounts);
    let public: Vec<PublicKey> = keys.par_iter().map(SecretKey::public_key).collect();
    let addresses: Vec<Address> = public.par_iter().map(Address::of).collect();
    let plan = workload::plan(&shape);
    let sample = plan.len().min(65_536);
    let signed = if sign_all { &plan[..] } else { &plan[..sample] };
    progress.stage("signing transactions", signed.len() as u64);
    let raw = workload::sign(&shape, &keys, &addresses, signed, &|n| progress.add(n));
    drop(keys);
    progress.stage("measuring raw signature verification", 0);
    let raw_verify_per_s = raw_verification(&raw[..sample.min(raw.len())])?;
    Ok(Prepared {
        public,
        addresses,
        plan,
        raw,
        raw_verify_per_s,
    })
}

fn measure(args: &BenchArgs, chain: &crate::Chain) -> anyhow::Result<Report> {
    let progress = Progress::new();
    // Signed here in-process mode; the load process signs its own in RPC mode, and here only
    // a sample for the verification baseline.
    let Prepared {
        public,
        addresses,
        plan,
        raw,
        raw_verify_per_s,
    } = prepare(
        args,
        CHAIN_ID,
        ChainSpec::preset(Preset::Dev).runtime.gas_price,
        args.ingest == Ingest::Bus,
        &progress,
    )?;
    let index = Index::new(&public, &plan);
    drop(public);
    let batches: Vec<Vec<RawTx>> = match args.ingest {
        Ingest::Bus => raw.chunks(args.batch).map(<[RawTx]>::to_vec).collect(),
        Ingest::Rpc => Vec::new(),
    };
    drop(raw);

    let (chain, spec) = match args.workload {
        Workload::Transfers => (chain.clone(), spec(args, &addresses)),
        Workload::Defi | Workload::Swaps => defi_spec(args, &addresses),
    };
    drop(addresses);
    let (temporary, base_path) =
        crate::shell::data_dir(args.base_path.as_deref(), "lamina-bench-")?;
    let engine = SoloEngine {
        block_time: Duration::from_millis(args.block_time_ms.max(1)),
        full_at_txs: args.block_txs,
        key: crate::spec::dev_key("alice"),
    };
    let runtime = std::sync::Arc::new(chain.runtime(&spec)?);
    let node = NodeBuilder::new(spec, runtime, base_path.clone())
        .state(Qmdb::with_cache(args.cache_pages))
        .tx_index(args.tx_index)
        .engine(engine)
        .rpc(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .metrics(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    progress.stage("writing the genesis state", 0);

    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new()
            .with_storage_directory(node::state_dir(&base_path)),
    );
    let storage = args.storage;
    let flat = args.flat;
    let run = Run {
        args: args.clone(),
        index: Arc::new(index),
        progress,
    };
    let outcome = runner.start(|ctx| async move {
        let (ready_tx, ready_rx) = futures::channel::oneshot::channel::<(String, Bus)>();
        let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
        let ready = move |endpoints: &node::Endpoints, bus: &Bus| {
            let _ = ready_tx.send((endpoints.rpc.clone(), bus.clone()));
        };
        let driver = tokio::spawn(async move {
            let (rpc, bus) = ready_rx.await.context("the node stopped before serving")?;
            let measured = run.drive(bus, rpc, batches, raw_verify_per_s).await;
            let _ = stop_tx.send(());
            measured
        });
        let stop = async move {
            let _ = stop_rx.await;
        };
        let served = match storage {
            crate::shell::Storage::Fjall => {
                let fjall = Fjall {
                    flat: flat.into(),
                    ..Fjall::default()
                };
                node.storage(fjall).run(ctx, stop, ready).await
            }
            crate::shell::Storage::Redb => node.storage(Redb).run(ctx, stop, ready).await,
        };
        let measured = driver.await.context("the benchmark driver panicked")?;
        served?;
        measured
    });
    drop(temporary);
    outcome
}

/// The benchmark chain: the dev chain's runtime, every account funded.
fn spec(args: &BenchArgs, addresses: &[Address]) -> ChainSpec {
    let mut spec = ChainSpec::preset(Preset::Dev);
    spec.name = "lamina-bench".into();
    spec.chain_id = CHAIN_ID;
    spec.consensus = ConsensusSpec::Solo {
        block_time_ms: args.block_time_ms,
    };
    spec.fund(addresses.iter().map(|a| (*a, BALANCE)));
    spec
}

/// The DeFi workloads' chain and spec: [`defi::chain`], every account funded as
/// [`defi::bank`] says.
fn defi_spec(args: &BenchArgs, addresses: &[Address]) -> (crate::Chain, ChainSpec) {
    let params = args.defi();
    let chain = defi::chain(
        &params,
        addresses[defi::PROVIDER as usize],
        addresses[defi::FEEDER as usize],
    );
    let mut spec = chain.preset(Preset::Dev);
    spec.name = "lamina-bench".into();
    spec.chain_id = CHAIN_ID;
    spec.consensus = ConsensusSpec::Solo {
        block_time_ms: args.block_time_ms,
    };
    spec.genesis
        .insert("bank".into(), defi::bank(&params, addresses, BALANCE));
    (chain, spec)
}

/// Signatures per second of batch verification alone, on all cores (rayon), in batches of
/// the size admission uses: the best of three rounds of at least a second each.
fn raw_verification(sample: &[RawTx]) -> anyhow::Result<f64> {
    let triples: Vec<_> = sample
        .par_iter()
        .map(|raw| {
            let tx = SignedTx::decode_raw(raw.as_ref())?;
            let message = tx.body.signing_bytes();
            Ok((tx.body.sender, message, tx.signature))
        })
        .collect::<Result<_, lamina_interop::codec::DecodeError>>()?;
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let start = Instant::now();
        let mut verified = 0usize;
        while start.elapsed() < Duration::from_secs(1) {
            let ok = triples
                .par_chunks(SignatureBatches::MAX)
                .map(|chunk| {
                    let mut batch = BatchVerifier::new();
                    for (key, message, signature) in chunk {
                        batch.add(key, message, signature);
                    }
                    batch.verify().is_ok()
                })
                .filter(|ok| *ok)
                .count();
            if ok != triples.len().div_ceil(SignatureBatches::MAX) {
                bail!("a benchmark signature does not verify");
            }
            verified += triples.len();
        }
        best = best.max(verified as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// The timed part's state.
struct Run {
    args: BenchArgs,
    index: Arc<Index>,
    progress: Progress,
}

/// Counts shared between the submitting side and the observer of commits.
#[derive(Default)]
struct Flow {
    committed: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    moved: tokio::sync::Notify,
}

impl Flow {
    /// Waits until `submitted` leaves room in the window.
    async fn room(&self, submitted: u64, window: u64) {
        loop {
            let notified = self.moved.notified();
            if submitted.saturating_sub(self.committed.load(Ordering::Acquire)) <= window {
                return;
            }
            notified.await;
        }
    }
}

/// Submission times: nanoseconds since the start per batch (`u64::MAX` until sent).
struct SentAt(Vec<AtomicU64>);

impl SentAt {
    fn new(batches: usize) -> SentAt {
        SentAt((0..batches).map(|_| AtomicU64::new(u64::MAX)).collect())
    }
}

impl Run {
    async fn drive(
        self,
        bus: Bus,
        rpc: String,
        batches: Vec<Vec<RawTx>>,
        raw_verify_per_s: f64,
    ) -> anyhow::Result<Report> {
        let args = &self.args;
        let mut finalized = bus.subscribe_with::<BlockFinalized>(4096, Overflow::Backpressure)?;
        let mut committed = bus.subscribe_with::<StateCommitted>(4096, Overflow::Backpressure)?;
        let flow = Arc::new(Flow::default());
        let total_batches = (args.txs as usize).div_ceil(args.batch);
        let sent = Arc::new(SentAt::new(total_batches));

        // The submitting side: this process on the bus, or a load process over JSON-RPC.
        let (started_tx, started_rx) = futures::channel::oneshot::channel::<Instant>();
        let submitter = match args.ingest {
            Ingest::Bus => tokio::spawn(submit_on_bus(
                bus.clone(),
                batches,
                flow.clone(),
                sent.clone(),
                args.window,
                started_tx,
            )),
            Ingest::Rpc => tokio::spawn(load::drive_child(
                rpc,
                args.clone(),
                u128::from(ChainSpec::preset(Preset::Dev).runtime.gas_price),
                flow.clone(),
                sent.clone(),
                started_tx,
                self.progress.clone(),
            )),
        };
        let start = started_rx
            .await
            .context("the load stopped before submitting")?;
        let cpu_before = profile::totals();
        let process_before = cpu_time::ProcessTime::now();
        self.progress.stage("committing", u64::from(args.txs));

        let mut contents: HashMap<Height, (u64, Vec<u32>)> = HashMap::new();
        let mut done_at: HashMap<Height, Instant> = HashMap::new();
        let mut latencies_us: Vec<u32> = Vec::with_capacity(args.txs as usize);
        let mut samples: Vec<plot::Sample> = Vec::new();
        let mut blocks = 0u64;
        let mut last_commit = start;
        let stall = Duration::from_secs(60);
        let mut submitter = submitter;
        let mut submitter_done = false;
        loop {
            let total = flow.committed.load(Ordering::Acquire);
            if submitter_done && total >= flow.accepted.load(Ordering::Acquire) {
                break;
            }
            tokio::select! {
                event = finalized.recv() => {
                    let event = event.map_err(|e| anyhow::anyhow!("finalized blocks: {e}"))?;
                    let block: &Block = &event.block;
                    // Latency of every LATENCY_SAMPLE-th transaction: enough for percentiles,
                    // and the bench's own work stays far below the node's.
                    let ids: Vec<u32> = block
                        .txs
                        .iter()
                        .step_by(LATENCY_SAMPLE)
                        .filter_map(|tx| self.index.find(tx.as_ref()))
                        .collect();
                    contents.insert(block.header.height, (block.txs.len() as u64, ids));
                }
                event = committed.recv() => {
                    let event = event.map_err(|e| anyhow::anyhow!("commits: {e}"))?;
                    done_at.insert(event.height, Instant::now());
                }
                result = &mut submitter, if !submitter_done => {
                    result.context("the load panicked")??;
                    submitter_done = true;
                }
                _ = tokio::time::sleep(stall) => {
                    bail!(
                        "no block committed for {}s: {} of {} accepted transactions committed",
                        stall.as_secs(),
                        flow.committed.load(Ordering::Acquire),
                        flow.accepted.load(Ordering::Acquire)
                    );
                }
            }
            // Account for every block both finalized and committed, in height order.
            let mut ready: Vec<Height> = done_at
                .keys()
                .filter(|h| contents.contains_key(h))
                .copied()
                .collect();
            ready.sort();
            for height in ready {
                let (Some((count, ids)), Some(at)) =
                    (contents.remove(&height), done_at.remove(&height))
                else {
                    continue;
                };
                if count == 0 {
                    continue;
                }
                let at_ns = at.saturating_duration_since(start).as_nanos() as u64;
                let first = latencies_us.len();
                for id in &ids {
                    let batch = *id as usize / args.batch;
                    let sent_ns = sent
                        .0
                        .get(batch)
                        .map_or(u64::MAX, |s| s.load(Ordering::Acquire));
                    if sent_ns != u64::MAX {
                        latencies_us.push((at_ns.saturating_sub(sent_ns) / 1_000) as u32);
                    }
                }
                let block_latency = &mut latencies_us[first..].to_vec();
                blocks += 1;
                last_commit = last_commit.max(at);
                let total = flow.committed.fetch_add(count, Ordering::AcqRel) + count;
                flow.moved.notify_waiters();
                self.progress.set(total);
                samples.push(plot::Sample {
                    seconds: at.saturating_duration_since(start).as_secs_f64(),
                    committed: total,
                    latency_ms: percentile(block_latency, 0.5),
                });
            }
        }
        let cpu_after = profile::totals();
        let process_cpu = process_before.elapsed();
        self.progress.finish();

        let committed_txs = flow.committed.load(Ordering::Acquire);
        let seconds = last_commit
            .saturating_duration_since(start)
            .as_secs_f64()
            .max(1e-9);
        let tps = committed_txs as f64 / seconds;
        let per_tx = |d: Duration| d.as_secs_f64() * 1e6 / committed_txs.max(1) as f64;
        let cpu_us_per_tx = Stage::ALL
            .iter()
            .enumerate()
            .map(|(i, stage)| StageCost {
                stage: stage.name(),
                cpu_us: per_tx(cpu_after[i].cpu.saturating_sub(cpu_before[i].cpu)),
                busy: cpu_after[i]
                    .wall
                    .saturating_sub(cpu_before[i].wall)
                    .as_secs_f64()
                    / seconds,
            })
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Report {
            accounts: args.accounts,
            senders: args.senders(),
            txs: args.txs,
            workload: args.workload,
            mix: args.workload.mix(),
            defi: (args.workload != Workload::Transfers).then(|| args.defi()),
            ingest: args.ingest,
            node: None,
            validators: args.validators,
            offered_per_s: None,
            tx_index: Some(args.tx_index),
            flat: Some(args.flat),
            cores,
            raw_verify_per_s,
            committed: committed_txs,
            rejected: flow.rejected.load(Ordering::Acquire),
            blocks,
            seconds,
            tps,
            ratio: tps / raw_verify_per_s,
            latency_ms: Latency {
                p50: percentile(&mut latencies_us, 0.5),
                p99: percentile(&mut latencies_us, 0.99),
                max: percentile(&mut latencies_us, 1.0),
            },
            cpu_us_per_tx,
            process_cpu_us_per_tx: per_tx(process_cpu),
            cores_busy: process_cpu.as_secs_f64() / (start.elapsed().as_secs_f64().max(1e-9)),
            peak_memory_mib: peak_memory_mib(),
            block_steps: steps::steps(&lamina_interop::timeline::latest(blocks as usize)),
            samples,
        })
    }
}

/// Submits `batches` as `SubmitTxs`, two in flight, within the window.
async fn submit_on_bus(
    bus: Bus,
    batches: Vec<Vec<RawTx>>,
    flow: Arc<Flow>,
    sent: Arc<SentAt>,
    window: u64,
    started: futures::channel::oneshot::Sender<Instant>,
) -> anyhow::Result<()> {
    let submit = bus.requester::<SubmitTxs>();
    let start = Instant::now();
    let _ = started.send(start);
    let mut submitted = 0u64;
    let mut in_flight = futures::stream::FuturesUnordered::new();
    for (i, txs) in batches.into_iter().enumerate() {
        submitted += txs.len() as u64;
        flow.room(submitted, window).await;
        while in_flight.len() >= 2 {
            if let Some(verdicts) = in_flight.next().await {
                count(&flow, verdicts)?;
            }
        }
        sent.0[i].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        let request = submit.request(SubmitTxs::from_client(txs));
        in_flight.push(async move { request.await.map_err(|e| anyhow::anyhow!("{e}")) });
    }
    while let Some(verdicts) = in_flight.next().await {
        count(&flow, verdicts)?;
    }
    Ok(())
}

fn count(flow: &Flow, verdicts: anyhow::Result<Vec<Admission>>) -> anyhow::Result<()> {
    let verdicts = verdicts?;
    let accepted = verdicts
        .iter()
        .filter(|v| matches!(v, Admission::Accepted { .. }))
        .count() as u64;
    if let Some(Admission::Rejected { reason, .. }) = verdicts
        .iter()
        .find(|v| matches!(v, Admission::Rejected { .. }))
    {
        tracing::warn!(?reason, "the node refused a benchmark transaction");
    }
    flow.accepted.fetch_add(accepted, Ordering::AcqRel);
    flow.rejected
        .fetch_add(verdicts.len() as u64 - accepted, Ordering::AcqRel);
    Ok(())
}

/// The `q` quantile of `values` (microseconds), in milliseconds.
fn percentile(values: &mut [u32], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((values.len() - 1) as f64 * q).round() as usize;
    let (_, value, _) = values.select_nth_unstable(rank);
    f64::from(*value) / 1e3
}

/// The process's peak resident memory, from `/proc/self/status` (0 where there is none).
fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The report as a table.
fn table(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let against = match &r.node {
        Some(url) => format!("against the node at {url}"),
        None => format!(
            "ingest {}, {} validator(s)",
            match r.ingest {
                Ingest::Bus => "bus",
                Ingest::Rpc => "rpc",
            },
            r.validators
        ),
    };
    let against = match r.tx_index {
        Some(false) => format!("{against}, no tx index"),
        _ => against,
    };
    let against = match r.flat {
        Some(crate::shell::Flat::Inline) => format!("{against}, flat state inline"),
        _ => against,
    };
    let what = match (r.workload, &r.defi) {
        (Workload::Transfers, _) | (_, None) if r.senders < r.accounts => {
            format!("transfers from {} sender(s)", r.senders)
        }
        (Workload::Transfers, _) | (_, None) => "transfers".to_string(),
        (workload, Some(d)) => format!(
            "{} transactions ({}; {} pools, Zipf {:.1}, {} markets)",
            match workload {
                Workload::Swaps => "swaps",
                _ => "DeFi",
            },
            r.mix,
            d.pools,
            d.zipf,
            d.markets
        ),
    };
    line(format!(
        "lamina bench: {} {what} over {} accounts, {against}, {} cores",
        r.txs, r.accounts, r.cores
    ));
    line(format!(
        "  raw Ed25519 batch verification   {:>10.0} sig/s",
        r.raw_verify_per_s
    ));
    if let Some(per_s) = r.offered_per_s {
        line(format!(
            "  offered (open loop, scheduled)   {per_s:>10} tx/s   latency counts from each transfer's scheduled time"
        ));
    }
    line(format!(
        "  committed (final, durable)       {:>10.0} tx/s   {:.2} x raw   {} txs in {} blocks, {:.1} s",
        r.tps, r.ratio, r.committed, r.blocks, r.seconds
    ));
    if r.rejected > 0 {
        line(format!(
            "  REFUSED by the node              {:>10}",
            r.rejected
        ));
    }
    line(format!(
        "  latency, submit to commit        p50 {:.0} ms   p99 {:.0} ms   max {:.0} ms",
        r.latency_ms.p50, r.latency_ms.p99, r.latency_ms.max
    ));
    if !r.block_steps.is_empty() {
        line(format!(
            "  {:<30} {:>9} {:>9} {:>6}",
            "per block (node 0)", "p50", "p99", "blocks"
        ));
        for step in &r.block_steps {
            line(format!(
                "  {:<30} {:>6.0} ms {:>6.0} ms {:>6}",
                step.step, step.p50_ms, step.p99_ms, step.blocks
            ));
        }
    }
    if r.cpu_us_per_tx.is_empty() {
        line(format!(
            "  peak memory of this process {:.0} MiB; CPU per stage is spent in the node \
             processes, not measured here",
            r.peak_memory_mib
        ));
        return out;
    }
    line(format!(
        "  peak memory {:.0} MiB; {:.2} cores busy; {:.1} us CPU per tx in all",
        r.peak_memory_mib, r.cores_busy, r.process_cpu_us_per_tx
    ));
    line("  stage        CPU us/tx   busy".to_string());
    for stage in &r.cpu_us_per_tx {
        line(format!(
            "  {:<12} {:>9.2}   {:>4.0}%",
            stage.stage,
            stage.cpu_us,
            stage.busy * 100.0
        ));
    }
    out
}

/// A progress bar on standard error (hidden when it is not a terminal).
#[derive(Clone)]
pub(crate) struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new() -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        );
        Progress(bar)
    }

    pub(crate) fn stage(&self, message: &'static str, len: u64) {
        let style = if len == 0 {
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
        } else {
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta})",
            )
        };
        if let Ok(style) = style {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_message(message);
        self.0.set_length(len);
        self.0.set_position(0);
        self.0.reset_elapsed();
        self.0.enable_steady_tick(Duration::from_millis(250));
    }

    fn add(&self, n: u64) {
        self.0.inc(n);
    }

    fn set(&self, n: u64) {
        self.0.set_position(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
