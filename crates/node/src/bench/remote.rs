//! `lamina bench --rpc URL`: the workload against a node that is already running, such as
//! `lamina node --dev`, entirely over its JSON-RPC.
//!
//! ```text
//! this process: keys, plan, sign (not timed); raw verification
//! funding:      (not timed) `--from` pays every sender its transfers' amounts and maximum fees,
//!               through levels of intermediate accounts, each paying at most FAN_OUT
//! timed:        tx_submit batches (window-limited); the node's finalized blocks, polled:
//!               this run's transfers in them, and latency from submission to finality
//! ```
//!
//! A run's accounts are its seed's own population (a fresh one per run unless `--seed` is
//! given), so a chain that earlier runs used is no obstacle. Only this run's transfers count,
//! recognised in the finalized blocks by sender and nonce. Per-stage CPU is spent in the node
//! and not reported.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use lamina_app::rpc::RpcClient;
use lamina_interop::block::RawTx;
use lamina_interop::crypto::SecretKey;
use lamina_interop::messages::Admission;
use lamina_interop::{Address, ChainId, Hash, Height};

use super::workload::{self, Index, AMOUNT};
use super::{network, prepare, BenchArgs, Prepared, Progress, Report};
use crate::keys::Keystore;

/// Most transfers one account sends while funding: a quarter of the pool's default share of
/// one sender (16,384), so every one of them is admitted at once. They go in one request,
/// their nonces in order.
const FAN_OUT: usize = 4_096;
/// Funding transactions per `tx_submit` request.
const FUNDING_BATCH: usize = 4_096;
/// How long funding may wait for its transfers to be final.
const FUNDING_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the workload against the node at `url`.
pub(super) fn measure(args: &BenchArgs, url: &str) -> anyhow::Result<Report> {
    let keystore = args
        .keystore
        .clone()
        .unwrap_or_else(crate::shell::default_keystore);
    let payer = Keystore::new(keystore).secret(&args.from)?;
    let runtime = crate::shell::tokio_runtime()?;
    let client = RpcClient::new(url)?;
    let chain = runtime
        .block_on(client.chain())
        .with_context(|| format!("asking the node at {url} for its chain"))?;
    let progress = Progress::new();
    let Prepared {
        public,
        addresses,
        plan,
        raw,
        raw_verify_per_s,
    } = prepare(args, chain.chain_id, chain.gas_price, true, &progress)?;

    // Every sender gets exactly what its transfers can cost: amounts plus maximum fees.
    let per_transfer = AMOUNT + workload::max_fee(u128::from(chain.gas_price));
    let mut owed = vec![0u128; addresses.len()];
    for p in &plan {
        owed[p.sender as usize] += per_transfer;
    }
    let targets: Vec<(Address, u128)> = addresses
        .iter()
        .zip(&owed)
        .filter(|(_, owed)| **owed > 0)
        .map(|(address, owed)| (*address, *owed))
        .collect();
    drop(addresses);
    let funding = Funding {
        client: &client,
        chain_id: chain.chain_id,
        gas_price: u128::from(chain.gas_price),
        population: args.seed(),
        progress: &progress,
    };
    runtime.block_on(funding.fund(&payer, &targets))?;

    let index = Index::new(&public, &plan);
    drop((public, plan));
    let batches: Vec<Vec<RawTx>> = raw
        .chunks(args.submit_batch())
        .map(<[RawTx]>::to_vec)
        .collect();
    drop(raw);
    let from = runtime.block_on(client.finalized_head())?.height;
    let driven = runtime.block_on(network::drive(
        args,
        &[Arc::new(client)],
        args.connections(4),
        from,
        &index,
        batches,
        &progress,
    ));
    progress.finish();
    Ok(driven?.report(args, raw_verify_per_s, Some(url.to_string())))
}

/// Pays the run's senders before the clock starts.
struct Funding<'a> {
    client: &'a RpcClient,
    chain_id: ChainId,
    gas_price: u128,
    population: u64,
    progress: &'a Progress,
}

impl Funding<'_> {
    /// Pays every `(address, amount)` of `targets` from `payer`. When there are more than
    /// [`FAN_OUT`], intermediate accounts of this population are paid first, each enough for
    /// up to `FAN_OUT` targets and its own fees, level by level, so that no account ever sends
    /// more than `FAN_OUT` transfers.
    async fn fund(&self, payer: &SecretKey, targets: &[(Address, u128)]) -> anyhow::Result<()> {
        let first = targets.first().context("the plan has no senders")?.0;
        if self.client.nonce(first).await? != 0 {
            bail!(
                "the accounts of --seed {} have sent transactions on this chain already; \
                 pass another --seed (or none, for a fresh one)",
                self.population
            );
        }
        // levels[0] are the targets; levels[k + 1] the intermediaries that pay levels[k].
        let mut levels: Vec<Vec<(Address, u128)>> = vec![targets.to_vec()];
        let mut payers: Vec<Vec<SecretKey>> = Vec::new();
        while let Some(level) = levels.last().filter(|l| l.len() > FAN_OUT) {
            let depth = payers.len() as u64;
            let keys: Vec<SecretKey> = (0..level.len().div_ceil(FAN_OUT) as u64)
                .map(|i| workload::account_key(self.population, ((depth + 1) << 40) | i))
                .collect();
            let next = level
                .chunks(FAN_OUT)
                .zip(&keys)
                .map(|(group, key)| {
                    let fees = group.len() as u128 * workload::max_fee(self.gas_price);
                    let amounts: u128 = group.iter().map(|(_, amount)| amount).sum();
                    (Address::of(&key.public_key()), amounts + fees)
                })
                .collect();
            payers.push(keys);
            levels.push(next);
        }
        let total: usize = levels.iter().map(Vec::len).sum();
        self.progress
            .stage("funding the accounts (not timed)", total as u64);

        // The top level is paid by `payer`, from its current nonce.
        let top = levels.pop().context("at least one level")?;
        let nonce = self.client.nonce(Address::of(&payer.public_key())).await?;
        let txs = top
            .iter()
            .enumerate()
            .map(|(k, (to, amount))| self.transfer(payer, nonce + k as u64, *to, *amount))
            .collect();
        self.pay(txs).await?;
        // Then each level below by the intermediaries of the one above, fresh accounts.
        while let (Some(level), Some(keys)) = (levels.pop(), payers.pop()) {
            let txs = level
                .chunks(FAN_OUT)
                .zip(&keys)
                .flat_map(|(group, key)| {
                    group
                        .iter()
                        .enumerate()
                        .map(move |(k, (to, amount))| self.transfer(key, k as u64, *to, *amount))
                })
                .collect();
            self.pay(txs).await?;
        }
        // Spot-check the outcome: the first and last target hold what they are owed.
        for (address, owed) in [targets.first(), targets.last()].into_iter().flatten() {
            let balance = self.client.balance(*address, None).await?;
            if balance != *owed {
                bail!("funding left {address} with {balance} instead of {owed}");
            }
        }
        Ok(())
    }

    fn transfer(&self, from: &SecretKey, nonce: u64, to: Address, amount: u128) -> RawTx {
        workload::native_transfer(self.chain_id, self.gas_price, from, nonce, to, amount)
    }

    /// Submits `txs`, all of which must be admitted, and waits until all are final.
    async fn pay(&self, txs: Vec<RawTx>) -> anyhow::Result<()> {
        let mut height = self.client.finalized_head().await?.height;
        let mut waiting: HashSet<Hash> = HashSet::with_capacity(txs.len());
        for batch in txs.chunks(FUNDING_BATCH) {
            for verdict in self.client.submit_batch(batch).await? {
                match verdict {
                    Admission::Accepted { id } => {
                        waiting.insert(id);
                    }
                    Admission::Rejected { reason, .. } => {
                        bail!("the node refused a funding transfer: {reason}")
                    }
                }
            }
        }
        let deadline = Instant::now() + FUNDING_TIMEOUT;
        while !waiting.is_empty() {
            if Instant::now() > deadline {
                bail!(
                    "{} funding transfers not final after {}s",
                    waiting.len(),
                    FUNDING_TIMEOUT.as_secs()
                );
            }
            let head = self.client.finalized_head().await?.height;
            if head == height {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            while height < head {
                height = Height(height.0 + 1);
                let block = self
                    .client
                    .block(height)
                    .await?
                    .with_context(|| format!("the node lacks its final block {height}"))?;
                let before = waiting.len();
                for tx in &block.txs {
                    waiting.remove(&Hash::of(tx.as_ref()));
                }
                self.progress.add((before - waiting.len()) as u64);
            }
        }
        Ok(())
    }
}
