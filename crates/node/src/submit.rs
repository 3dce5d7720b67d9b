//! Signing calls with consecutive nonces, submitting them in one batch and waiting until each
//! is final: what `tx`, `relay` and `channel` share.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use lamina_agreement::UnsignedTx;
use lamina_app::rpc::RpcClient;
use lamina_interop::block::RawTx;
use lamina_interop::chain::TxRecord;
use lamina_interop::codec::BoundedBytes;
use lamina_interop::crypto::SecretKey;
use lamina_interop::messages::Admission;
use lamina_interop::{Address, ChainId};

/// Where calls go and what they may pay.
pub(crate) struct Target<'a> {
    /// The node.
    pub client: &'a RpcClient,
    /// Its chain.
    pub chain_id: ChainId,
    /// The module's index.
    pub module: u16,
    /// The chain's gas price.
    pub gas_price: u64,
    /// Gas offered by each call.
    pub gas_limit: u64,
    /// The tip of each call.
    pub tip: u128,
    /// How long to wait for each to be final.
    pub timeout: Duration,
}

/// Signs `calls` from `key` with consecutive nonces from its next, each offering the
/// least maximum fee a node admits: the transactions, ready to submit or dry-run.
pub(crate) async fn sign(
    target: &Target<'_>,
    key: &SecretKey,
    calls: Vec<Vec<u8>>,
) -> anyhow::Result<Vec<RawTx>> {
    let sender = Address::of(&key.public_key());
    let nonce = target.client.nonce(sender).await?;
    // A node refuses a maximum fee below gas_limit * gas_price + tip.
    let max_fee = (target.gas_limit as u128)
        .checked_mul(target.gas_price as u128)
        .and_then(|fee| fee.checked_add(target.tip))
        .context("the fee overflows")?;
    calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            Ok(UnsignedTx {
                chain_id: target.chain_id,
                sender: key.public_key(),
                nonce: nonce + i as u64,
                max_fee,
                tip: target.tip,
                gas_limit: target.gas_limit,
                module: target.module,
                call: BoundedBytes::try_from_vec(call)
                    .map_err(|_| anyhow::anyhow!("a call over the size limit"))?,
            }
            .sign(key)
            .to_raw())
        })
        .collect()
}

/// Signs `calls` from `key` with consecutive nonces from its next, submits them as one
/// batch and waits for each to be final: their records, in order.
pub(crate) async fn submit_and_wait(
    target: &Target<'_>,
    key: &SecretKey,
    calls: Vec<Vec<u8>>,
) -> anyhow::Result<Vec<TxRecord>> {
    let client = target.client;
    let txs = sign(target, key, calls).await?;
    let admissions = if txs.len() == 1 {
        vec![client.submit(&txs[0]).await?]
    } else {
        client.submit_batch(&txs).await?
    };
    let mut ids = Vec::with_capacity(admissions.len());
    for admission in admissions {
        match admission {
            Admission::Accepted { id } => ids.push(id),
            Admission::Rejected { reason, .. } => bail!("rejected: {reason}"),
        }
    }
    let start = Instant::now();
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        loop {
            let found = client.tx(id).await.with_context(|| {
                format!("transaction {id} was accepted, but cannot be followed")
            })?;
            if let Some(record) = found {
                records.push(record);
                break;
            }
            if start.elapsed() > target.timeout {
                bail!("transaction {id} not final after {:?}", target.timeout);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(records)
}
