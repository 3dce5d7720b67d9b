//! `lamina bench --validators N`: the same workload through N validators, each a `lamina
//! node` process, reaching BFT consensus over the authenticated network on loopback.
//!
//! ```text
//! this process: keys, plan, sign (not timed); raw verification
//!               spec (the `local` chain, N validators, every account funded) -> chain.json
//!               N x `lamina node --chain chain.json --validator NAME` (own ports, one boot node)
//! timed:        tx_submit batches, round-robin over the N nodes (window-limited)
//!               node 0's finalized blocks, polled: committed count, and for every 8th
//!               transaction the time from its submission to its block being final there
//! ```
//!
//! Per-stage CPU is not reported in this mode: the stages run in other processes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use lamina_app::rpc::RpcClient;
use lamina_interop::block::RawTx;
use lamina_interop::messages::Admission;
use lamina_interop::timeline::BlockTimes;
use lamina_interop::{Hash, Height};
use parking_lot::Mutex;

use super::workload::Index;
use super::{
    percentile, plot, prepare, BenchArgs, Latency, Prepared, Progress, Report, BALANCE, CHAIN_ID,
    LATENCY_SAMPLE,
};
use crate::ports::unused;
use crate::spec::{ChainSpec, ConsensusSpec, Preset};

/// Runs the workload through `args.validators` node processes.
pub(super) fn measure(args: &BenchArgs) -> anyhow::Result<Report> {
    // `run` checked the count against the most a local network runs.
    let n = args.validators as usize;
    let progress = Progress::new();
    let Prepared {
        public,
        addresses,
        plan,
        raw,
        raw_verify_per_s,
    } = prepare(
        args,
        CHAIN_ID,
        ChainSpec::preset(Preset::Local).runtime.gas_price,
        true,
        &progress,
    )?;
    let (temporary, dir) = crate::shell::data_dir(args.base_path.as_deref(), "lamina-bench-")?;
    std::fs::create_dir_all(&dir)?;
    let mut spec = ChainSpec::preset(Preset::Local);
    spec.name = "lamina-bench".into();
    spec.chain_id = CHAIN_ID;
    let keystore = dir.join("keystore");
    let validators = crate::testnet::local_validators(n, &keystore)?;
    // One validator is a solo chain (as `lamina node --dev` runs); more reach BFT consensus.
    spec.consensus = if n == 1 {
        ConsensusSpec::Solo {
            block_time_ms: args.block_time_ms,
        }
    } else {
        ChainSpec::local_consensus(validators.iter().map(|v| v.key).collect())
    };
    if let ConsensusSpec::Simplex { block_time_ms, .. } = &mut spec.consensus {
        *block_time_ms = args.block_time_ms;
    }
    spec.fund(addresses.iter().map(|a| (*a, BALANCE)));
    drop(addresses);
    progress.stage("writing the chain spec", 0);
    let spec_path = dir.join("chain.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;
    drop(spec);

    progress.stage("starting the validators (each writes the genesis state)", 0);
    let exe = std::env::current_exe().context("finding this executable")?;
    let ports: Vec<(u16, u16, u16)> = (0..n)
        .map(|_| Ok((unused()?, unused()?, unused()?)))
        .collect::<anyhow::Result<_>>()?;
    let bootnode = format!("{}@127.0.0.1:{}", validators[0].key, ports[0].2);
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for (i, validator) in validators.iter().enumerate() {
        let name = &validator.name;
        let (rpc, metrics, p2p) = ports[i];
        let base = dir.join(name);
        std::fs::create_dir_all(&base)?;
        let log = base.join("node.log");
        let mut node_args: Vec<String> = [
            "node",
            "--chain",
            &spec_path.display().to_string(),
            "--validator",
            name,
            "--base-path",
            &base.display().to_string(),
            "--rpc-port",
            &rpc.to_string(),
            "--metrics-port",
            &metrics.to_string(),
            "--p2p-host",
            "127.0.0.1",
            "--p2p-port",
            &p2p.to_string(),
            "--public-address",
            &format!("127.0.0.1:{p2p}"),
            "--bootnode",
            &bootnode,
            "--cache-pages",
            &args.cache_pages.to_string(),
            "--tx-index",
            &args.tx_index.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if validator.in_keystore {
            node_args.extend(["--keystore".to_string(), keystore.display().to_string()]);
        }
        match crate::testnet::start(&exe, &node_args, &log) {
            Ok((child, endpoints)) => {
                children.push(child);
                urls.push(endpoints["rpc"].as_str().unwrap_or_default().to_string());
            }
            Err(err) => {
                crate::testnet::stop(&mut children);
                return Err(
                    err.context(format!("starting validator {name}; see {}", log.display()))
                );
            }
        }
    }
    let batches: Vec<Vec<RawTx>> = raw
        .chunks(args.submit_batch())
        .map(<[RawTx]>::to_vec)
        .collect();
    drop(raw);
    let index = Index::new(&public, &plan);
    drop((public, plan));
    let connections = args.connections(2 * urls.len());
    progress.stage("waiting for every validator to finalize blocks", 0);
    let runtime = crate::shell::tokio_runtime()?;
    let driven = runtime.block_on(async {
        let clients = clients(&urls)?;
        let from = live(&clients).await?;
        drive(
            args,
            &clients,
            connections,
            from,
            &index,
            batches,
            &progress,
        )
        .await
    });
    crate::testnet::stop(&mut children);
    progress.finish();
    drop(temporary);
    Ok(driven?.report(args, raw_verify_per_s, None))
}

/// Blocks every validator finalizes before the load starts.
const LIVE_BLOCKS: u64 = 3;

/// Waits until every node at `urls` has finalized [`LIVE_BLOCKS`] blocks, and returns the
/// first node's finalized height then: the load meets a running network, not one still
/// forming (until a quorum is up, views end in timeouts, and the first views after it are
/// slow to line up, which would count against the first transfers' latency).
async fn live(clients: &[Arc<RpcClient>]) -> anyhow::Result<Height> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut lowest = u64::MAX;
        for client in clients {
            let height = client
                .finalized_head()
                .await
                .map_or(0, |head| head.height.0);
            lowest = lowest.min(height);
        }
        if lowest >= LIVE_BLOCKS {
            return Ok(clients[0].finalized_head().await?.height);
        }
        if Instant::now() >= deadline {
            bail!("the validators did not all finalize {LIVE_BLOCKS} blocks within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What [`drive`] measured: the run's transfers final on the followed node.
pub(super) struct Driven {
    committed: u64,
    rejected: u64,
    blocks: u64,
    seconds: f64,
    latencies: Vec<u32>,
    samples: Vec<plot::Sample>,
    /// The followed node's timeline of the run's blocks.
    times: Vec<BlockTimes>,
}

impl Driven {
    /// The report of a run whose stages ran in node processes (so no per-stage CPU); `node`
    /// names the running node that `--rpc` loaded.
    pub(super) fn report(
        mut self,
        args: &BenchArgs,
        raw_verify_per_s: f64,
        node: Option<String>,
    ) -> Report {
        let tps = self.committed as f64 / self.seconds.max(1e-9);
        Report {
            accounts: args.accounts,
            senders: args.senders(),
            txs: args.txs,
            workload: args.workload,
            mix: args.workload.mix(),
            defi: None,
            // The load always enters over JSON-RPC here.
            ingest: super::Ingest::Rpc,
            validators: if node.is_some() { 1 } else { args.validators },
            offered_per_s: match args.rate {
                Some(super::rate::Rate::PerSecond(per_s)) => Some(per_s),
                _ => None,
            },
            tx_index: node.is_none().then_some(args.tx_index),
            // Each validator process keeps its flat state as `lamina node` does.
            flat: None,
            node,
            cores: std::thread::available_parallelism().map_or(1, |c| c.get()),
            raw_verify_per_s,
            committed: self.committed,
            rejected: self.rejected,
            blocks: self.blocks,
            seconds: self.seconds,
            tps,
            ratio: tps / raw_verify_per_s.max(1.0),
            latency_ms: Latency {
                p50: percentile(&mut self.latencies, 0.50),
                p99: percentile(&mut self.latencies, 0.99),
                max: percentile(&mut self.latencies, 1.0),
            },
            cpu_us_per_tx: Vec::new(),
            process_cpu_us_per_tx: 0.0,
            cores_busy: 0.0,
            peak_memory_mib: super::peak_memory_mib(),
            block_steps: super::steps::steps(&self.times),
            samples: self.samples,
        }
    }
}

/// One JSON-RPC client for each node at `urls`.
fn clients(urls: &[String]) -> anyhow::Result<Vec<Arc<RpcClient>>> {
    Ok(urls
        .iter()
        .map(|url| RpcClient::new(url).map(Arc::new))
        .collect::<Result<_, _>>()?)
}

/// Submits every batch, `connections` requests at once spread over the nodes of `clients`,
/// and follows the first node's finalized blocks above `from` until every planned transfer in
/// `index` that the nodes accepted is final.
pub(super) async fn drive(
    args: &BenchArgs,
    clients: &[Arc<RpcClient>],
    connections: usize,
    from: Height,
    index: &Index,
    batches: Vec<Vec<RawTx>>,
    progress: &Progress,
) -> anyhow::Result<Driven> {
    let total: u64 = batches.iter().map(|b| b.len() as u64).sum();
    let sent: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let committed = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let submitted = Arc::new(AtomicU64::new(0));
    let queue = Arc::new(Mutex::new(batches.into_iter().enumerate()));
    let window = args.window;
    // Open loop: batch i is due at start + i * batch / rate.
    let schedule = match args.rate {
        Some(super::rate::Rate::PerSecond(per_s)) => {
            Some(args.submit_batch() as f64 / f64::from(per_s))
        }
        _ => None,
    };
    progress.stage("committing", total);
    let start = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..connections.max(1) {
        let (client, sent, committed, rejected, submitted, queue) = (
            clients[worker % clients.len()].clone(),
            sent.clone(),
            committed.clone(),
            rejected.clone(),
            submitted.clone(),
            queue.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let Some((i, txs)) = queue.lock().next() else {
                    return anyhow::Ok(());
                };
                let upto =
                    submitted.fetch_add(txs.len() as u64, Ordering::AcqRel) + txs.len() as u64;
                let now = match schedule {
                    Some(seconds_per_batch) => {
                        let due = start + Duration::from_secs_f64(i as f64 * seconds_per_batch);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => {
                        while upto.saturating_sub(committed.load(Ordering::Acquire)) > window {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Instant::now()
                    }
                };
                {
                    let mut sent = sent.lock();
                    for tx in txs.iter().step_by(LATENCY_SAMPLE) {
                        sent.insert(Hash::of(tx.as_ref()), now);
                    }
                }
                let verdicts = client.submit_batch(&txs).await?;
                let refused = verdicts
                    .iter()
                    .filter(|v| !matches!(v, Admission::Accepted { .. }))
                    .count();
                rejected.fetch_add(refused as u64, Ordering::AcqRel);
            }
        }));
    }

    let follower = &clients[0];
    let mut height = from;
    let mut blocks = 0u64;
    let mut latencies = Vec::new();
    let mut samples = Vec::new();
    let mut last_progress = Instant::now();
    while committed.load(Ordering::Acquire) + rejected.load(Ordering::Acquire) < total {
        let head = follower.finalized_head().await?.height;
        if head == height {
            if last_progress.elapsed() > Duration::from_secs(60) {
                bail!("no block finalized for a minute at height {height}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        last_progress = Instant::now();
        while height < head {
            height = Height(height.0 + 1);
            let block = follower
                .block(height)
                .await?
                .with_context(|| format!("node 0 lacks final block {height}"))?;
            let now = Instant::now();
            let mut block_latencies = Vec::new();
            {
                let mut sent = sent.lock();
                for tx in &block.txs {
                    if let Some(at) = sent.remove(&Hash::of(tx.as_ref())) {
                        let micros = now.duration_since(at).as_micros().min(u32::MAX as u128);
                        block_latencies.push(micros as u32);
                    }
                }
            }
            // This run's transfers only: other traffic on the chain does not count.
            let ours = block
                .txs
                .iter()
                .filter(|tx| index.find(tx.as_ref()).is_some())
                .count() as u64;
            let done = committed.fetch_add(ours, Ordering::AcqRel) + ours;
            blocks += u64::from(ours > 0);
            progress.set(done);
            if !block_latencies.is_empty() {
                samples.push(plot::Sample {
                    seconds: start.elapsed().as_secs_f64(),
                    committed: done,
                    latency_ms: percentile(&mut block_latencies.clone(), 0.5),
                });
            }
            latencies.extend(block_latencies);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    for worker in workers {
        worker.await.context("a submitter panicked")??;
    }
    // A node without the method (an older one, loaded with --rpc) gives no breakdown.
    let times = follower
        .timeline(lamina_interop::timeline::KEPT as u32)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.height.is_some_and(|h| h > from))
        .collect();
    Ok(Driven {
        committed: committed.load(Ordering::Acquire),
        rejected: rejected.load(Ordering::Acquire),
        blocks,
        seconds,
        latencies,
        samples,
        times,
    })
}
