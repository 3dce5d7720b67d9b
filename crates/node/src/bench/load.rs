//! `--ingest rpc`: the load comes from a separate process over JSON-RPC.
//!
//! ```text
//! bench (node in-process)                         load process (lamina bench-load)
//!   spawn ------------------------------------------> derive keys, plan, sign (same seed)
//!   <------------------------------------- "ready"
//!                                                    tx_submit batches, `connections` at once,
//!   <------------------------ "sent BATCH UNIX_NS"   within the window
//!   <------------------- "verdicts ACCEPTED REJECTED"
//!   "committed N" ---------------------------------> (stdin: how far the chain got)
//!   <-------------------------------------- "done"
//! ```
//!
//! Both processes build the same transactions from the same figures, so only control lines
//! cross the pipes; every transaction crosses JSON-RPC.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use lamina_app::rpc::RpcClient;
use lamina_interop::block::RawTx;
use lamina_interop::crypto::SecretKey;
use lamina_interop::messages::Admission;
use lamina_interop::Address;
use rayon::prelude::*;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use super::workload::{self, Shape, Workload};
use super::{BenchArgs, Flow, Progress, SentAt, CHAIN_ID};

/// `lamina bench-load`'s options (set by `lamina bench`, not meant to be typed).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoadArgs {
    /// The node's JSON-RPC URL.
    #[arg(long)]
    rpc: String,
    #[arg(long)]
    accounts: u32,
    #[arg(long)]
    senders: u32,
    #[arg(long)]
    txs: u32,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    gas_price: u128,
    #[arg(long)]
    batch: usize,
    #[arg(long)]
    window: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The load process: signs the workload, then submits it over JSON-RPC.
pub(crate) fn run_load(args: LoadArgs) -> anyhow::Result<()> {
    let shape = Shape {
        accounts: args.accounts,
        senders: args.senders,
        txs: args.txs,
        workload: Workload::Transfers,
        defi: super::defi::Params {
            pools: 1,
            zipf: 0.0,
            markets: 1,
        },
        report_every: u32::MAX,
        seed: args.seed,
        chain_id: CHAIN_ID,
        gas_price: args.gas_price,
    };
    let keys: Vec<SecretKey> = workload::keys(args.seed, args.accounts);
    let addresses: Vec<Address> = keys
        .par_iter()
        .map(|k| Address::of(&k.public_key()))
        .collect();
    let plan = workload::plan(&shape);
    let raw = workload::sign(&shape, &keys, &addresses, &plan, &|_| {});
    drop(keys);
    let batches: Vec<Vec<RawTx>> = raw.chunks(args.batch).map(<[RawTx]>::to_vec).collect();
    drop(raw);
    crate::shell::tokio_runtime()?.block_on(submit(args, batches))
}

async fn submit(args: LoadArgs, batches: Vec<Vec<RawTx>>) -> anyhow::Result<()> {
    let client = Arc::new(RpcClient::new(&args.rpc)?);
    let out = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let line = |out: Arc<tokio::sync::Mutex<tokio::io::Stdout>>, text: String| async move {
        let mut out = out.lock().await;
        out.write_all(text.as_bytes()).await?;
        out.flush().await?;
        anyhow::Ok(())
    };
    line(out.clone(), "ready\n".into()).await?;

    // How far the chain got, as the bench tells it.
    let committed = Arc::new(AtomicU64::new(0));
    let moved = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let committed = committed.clone();
        let moved = moved.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(text)) = lines.next_line().await {
                if let Some(n) = text.strip_prefix("committed ").and_then(|n| n.parse().ok()) {
                    committed.store(n, Ordering::Release);
                    moved.notify_waiters();
                }
            }
            // The bench closed the pipe: nothing will move the window any more.
            committed.store(u64::MAX, Ordering::Release);
            moved.notify_waiters();
        })
    };

    let total = batches.len();
    let batches = Arc::new(parking_lot::Mutex::new(batches.into_iter().enumerate()));
    let submitted = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..args.connections.max(1))
        .map(|_| {
            let (client, out, batches, submitted, committed, moved) = (
                client.clone(),
                out.clone(),
                batches.clone(),
                submitted.clone(),
                committed.clone(),
                moved.clone(),
            );
            let window = args.window;
            tokio::spawn(async move {
                loop {
                    let Some((i, txs)) = batches.lock().next() else {
                        return anyhow::Ok(());
                    };
                    let upto =
                        submitted.fetch_add(txs.len() as u64, Ordering::AcqRel) + txs.len() as u64;
                    loop {
                        let notified = moved.notified();
                        if upto.saturating_sub(committed.load(Ordering::Acquire)) <= window {
                            break;
                        }
                        notified.await;
                    }
                    line(out.clone(), format!("sent {i} {}\n", unix_ns())).await?;
                    let verdicts = client.submit_batch(&txs).await?;
                    let accepted = verdicts
                        .iter()
                        .filter(|v| matches!(v, Admission::Accepted { .. }))
                        .count();
                    line(
                        out.clone(),
                        format!("verdicts {accepted} {}\n", verdicts.len() - accepted),
                    )
                    .await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.context("a load worker panicked")??;
    }
    line(out.clone(), format!("done {total}\n")).await?;
    reader.abort();
    Ok(())
}

/// The bench's side: starts the load process, relays commits to it, and records what it
/// reports. `started` learns the instant of its first submission.
pub(super) async fn drive_child(
    rpc: String,
    args: BenchArgs,
    gas_price: u128,
    flow: Arc<Flow>,
    sent: Arc<SentAt>,
    started: futures::channel::oneshot::Sender<Instant>,
    progress: Progress,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("bench-load")
        .args(["--rpc", &rpc])
        .args(["--accounts", &args.accounts.to_string()])
        .args(["--senders", &args.senders().to_string()])
        .args(["--connections", &args.connections(4).to_string()])
        .args(["--txs", &args.txs.to_string()])
        .args(["--seed", &args.seed().to_string()])
        .args(["--gas-price", &gas_price.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--window", &args.window.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the load process")?;
    let mut stdin = child.stdin.take().context("the load process's stdin")?;
    let stdout = child.stdout.take().context("the load process's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    progress.stage("the load process signs its transfers", 0);

    let mut started = Some(started);
    let mut origin: Option<(u64, Instant)> = None;
    let mut told = 0u64;
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        tokio::select! {
            text = lines.next_line() => {
                let Some(text) = text? else {
                    bail!("the load process ended early: {:?}", child.wait().await?);
                };
                let mut words = text.split(' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("ready"), _, _) => {}
                    (Some("sent"), Some(batch), Some(at)) => {
                        let (batch, at): (usize, u64) = (batch.parse()?, at.parse()?);
                        let (origin_ns, _) = *origin.get_or_insert_with(|| {
                            let now = Instant::now();
                            if let Some(started) = started.take() {
                                let _ = started.send(now);
                            }
                            (at, now)
                        });
                        if let Some(slot) = sent.0.get(batch) {
                            slot.store(at.saturating_sub(origin_ns), Ordering::Release);
                        }
                    }
                    (Some("verdicts"), Some(accepted), Some(rejected)) => {
                        flow.accepted.fetch_add(accepted.parse()?, Ordering::AcqRel);
                        flow.rejected.fetch_add(rejected.parse()?, Ordering::AcqRel);
                    }
                    (Some("done"), _, _) => break,
                    _ => bail!("the load process said {text:?}"),
                }
            }
            _ = ticker.tick() => {
                let now = flow.committed.load(Ordering::Acquire);
                if now != told {
                    stdin.write_all(format!("committed {now}\n").as_bytes()).await?;
                    stdin.flush().await?;
                    told = now;
                }
            }
        }
    }
    // Keep relaying until the chain has everything, so the process can exit cleanly.
    drop(stdin);
    let status = child.wait().await?;
    if !status.success() {
        bail!("the load process failed: {status}");
    }
    Ok(())
}
