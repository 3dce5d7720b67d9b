//! A load generator: signed transfers in batches over JSON-RPC against a running node, timed
//! from the first submission until every one is final.
//!
//! ```sh
//! cargo run --release -p lamina-node -- node --dev                 # in one terminal
//! cargo run --release -p lamina-node --example load -- --txs 100000 --accounts 2000
//! ```
//!
//! It first funds `--accounts` fresh accounts from the dev accounts (not timed), then signs
//! `--txs` transfers among them (not timed), then submits them in batches of `--batch` with
//! `--concurrency` requests in flight, and waits until the chain holds all of them.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use lamina_agreement::modules::bank::{BankCall, NATIVE};
use lamina_agreement::UnsignedTx;
use lamina_app::rpc::RpcClient;
use lamina_interop::block::RawTx;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::messages::Admission;
use lamina_interop::{Address, ChainId, Hash, Height};

struct Args {
    rpc: String,
    txs: usize,
    accounts: usize,
    batch: usize,
    concurrency: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        rpc: "http://127.0.0.1:9944".into(),
        txs: 100_000,
        accounts: 2_000,
        batch: 2_000,
        concurrency: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rpc" => args.rpc = value,
            "--txs" => args.txs = value.parse()?,
            "--accounts" => args.accounts = value.parse()?,
            "--batch" => args.batch = value.parse()?,
            "--concurrency" => args.concurrency = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn dev_key(name: &str) -> SecretKey {
    let mut seed = b"lamina/dev/".to_vec();
    seed.extend_from_slice(name.as_bytes());
    SecretKey::from_seed(Hash::of(&seed).0)
}

fn load_key(i: usize) -> SecretKey {
    let mut seed = b"lamina/load/".to_vec();
    seed.extend_from_slice(&(i as u64).to_le_bytes());
    SecretKey::from_seed(Hash::of(&seed).0)
}

fn transfer(
    chain: ChainId,
    gas_price: u64,
    from: &SecretKey,
    nonce: u64,
    to: Address,
    amount: u128,
) -> RawTx {
    let gas_limit = 50_000u64;
    UnsignedTx {
        chain_id: chain,
        sender: from.public_key(),
        nonce,
        max_fee: gas_limit as u128 * gas_price as u128 + 1,
        tip: 1,
        gas_limit,
        module: 1,
        call: BoundedBytes::try_from_vec(codec::encode(&BankCall::Transfer {
            to,
            asset: NATIVE,
            amount,
        }))
        .unwrap_or_default(),
    }
    .sign(from)
    .to_raw()
}

fn accepted(verdicts: &[Admission]) -> usize {
    verdicts
        .iter()
        .filter(|v| matches!(v, Admission::Accepted { .. }))
        .count()
}

/// Transactions in blocks above `from`, up to the head.
async fn count_txs(client: &RpcClient, from: Height) -> anyhow::Result<(Height, usize)> {
    let head = client.finalized_head().await?.height;
    let mut total = 0;
    for h in from.0 + 1..=head.0 {
        if let Some(block) = client.block(Height(h)).await? {
            total += block.txs.len();
        }
    }
    Ok((head, total))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let client = RpcClient::new(&args.rpc)?;
    let chain = client.chain().await.context("is the node running?")?;
    println!(
        "chain {} (id {}), {} accounts, {} transfers",
        chain.name, chain.chain_id.0, args.accounts, args.txs
    );

    // Fund the load accounts from the dev accounts, 64 per funder per round (the pool's
    // nonce window).
    let funders: Vec<SecretKey> = ["alice", "bob", "charlie", "dave"]
        .iter()
        .map(|n| dev_key(n))
        .collect();
    let keys: Vec<SecretKey> = (0..args.accounts).map(load_key).collect();
    let addresses: Vec<Address> = keys.iter().map(|k| Address::of(&k.public_key())).collect();
    let per_tx = args.txs.div_ceil(args.accounts) as u128;
    let amount = per_tx * 200_000 + 1_000_000;
    let started = Instant::now();
    let mut next = 0;
    while next < args.accounts {
        let mut batch = Vec::new();
        for funder in &funders {
            let sender = Address::of(&funder.public_key());
            let nonce = client.nonce(sender).await?;
            for n in 0..64u64 {
                if next >= args.accounts {
                    break;
                }
                batch.push(transfer(
                    chain.chain_id,
                    chain.gas_price,
                    funder,
                    nonce + n,
                    addresses[next],
                    amount,
                ));
                next += 1;
            }
        }
        let verdicts = client.submit_batch(&batch).await?;
        if accepted(&verdicts) != batch.len() {
            bail!("funding transfers rejected: {verdicts:?}");
        }
        // Wait for the round to be final.
        let last = *addresses.get(next - 1).context("no account")?;
        while client.balance(last, None).await? < amount {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "funded {} accounts in {:.1} s",
        args.accounts,
        started.elapsed().as_secs_f64()
    );

    // Sign everything first: each account sends in nonce order to the next account.
    let started = Instant::now();
    let mut txs: Vec<RawTx> = Vec::with_capacity(args.txs);
    let mut nonces = vec![0u64; args.accounts];
    for i in 0..args.txs {
        let from = i % args.accounts;
        let to = addresses[(from + 1) % args.accounts];
        txs.push(transfer(
            chain.chain_id,
            chain.gas_price,
            &keys[from],
            nonces[from],
            to,
            1,
        ));
        nonces[from] += 1;
    }
    println!(
        "signed {} transfers in {:.1} s",
        args.txs,
        started.elapsed().as_secs_f64()
    );

    let start_height = client.finalized_head().await?.height;
    let started = Instant::now();
    let txs = Arc::new(txs);
    let batches: Vec<(usize, usize)> = (0..txs.len())
        .step_by(args.batch)
        .map(|s| (s, (s + args.batch).min(txs.len())))
        .collect();
    let mut accepted_total = 0;
    for group in batches.chunks(args.concurrency) {
        let mut handles = Vec::new();
        for &(start, end) in group {
            let client = client.clone();
            let txs = txs.clone();
            handles.push(tokio::spawn(async move {
                client.submit_batch(&txs[start..end]).await
            }));
        }
        for handle in handles {
            accepted_total += accepted(&handle.await??);
        }
    }
    let submitted = started.elapsed();
    if accepted_total != txs.len() {
        println!("warning: {} of {} accepted", accepted_total, txs.len());
    }
    let mut seen = 0;
    let mut from = start_height;
    while seen < accepted_total {
        let (head, count) = count_txs(&client, from).await?;
        seen += count;
        from = head;
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {seen} of {accepted_total} final after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "submitted {} in {:.2} s; all final after {:.2} s: {:.0} finalized tx/s",
        accepted_total,
        submitted.as_secs_f64(),
        elapsed.as_secs_f64(),
        accepted_total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
