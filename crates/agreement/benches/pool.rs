//! The mempool's share of block building, without signatures (transactions are taken as
//! verified):
//!
//! - `pool::insert/txs=N`: N transactions of N distinct senders into an empty pool.
//! - `pool::select/pool=N,block=M`: choosing a block of M from a pool of N.
//! - `pool::remove_included/txs=M`: dropping a block's M transactions after it executed.
//!
//! `cargo bench -p lamina-agreement --bench pool`

#![allow(missing_docs, clippy::unwrap_used)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use lamina_agreement::modules::bank::{BankCall, NATIVE};
use lamina_agreement::pool::{BlockLimits, Mempool, PoolConfig};
use lamina_agreement::{SignedTx, UnsignedTx, VerifiedTx};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::{Address, ChainId, Height};

/// `n` transfers, each from its own sender (a public key made of its index: nothing here
/// checks signatures).
fn txs(n: u32) -> Vec<Arc<VerifiedTx>> {
    (0..n)
        .map(|i| {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            let call = codec::encode(&BankCall::Transfer {
                to: Address([9; 32]),
                asset: NATIVE,
                amount: 1,
            });
            Arc::new(VerifiedTx::assume_verified(SignedTx {
                body: UnsignedTx {
                    chain_id: ChainId(1),
                    sender: PublicKey(key),
                    nonce: 0,
                    max_fee: 1_000_000,
                    tip: u128::from(i % 7),
                    gas_limit: 50_000,
                    module: 1,
                    call: BoundedBytes::try_from_vec(call).unwrap(),
                },
                signature: Signature([0; 64]),
            }))
        })
        .collect()
}

fn filled(txs: &[Arc<VerifiedTx>]) -> Mempool {
    let mut pool = Mempool::new(PoolConfig::default());
    for tx in txs {
        pool.insert(tx.clone(), 0, u128::MAX).unwrap();
    }
    pool
}

fn limits(block: usize) -> BlockLimits {
    BlockLimits {
        max_gas: u64::MAX,
        max_bytes: usize::MAX,
        max_txs: block,
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let (pool_size, block) = (100_000u32, 10_000usize);
    let all = txs(pool_size);

    let mut group = c.benchmark_group("pool::insert");
    group.throughput(Throughput::Elements(u64::from(pool_size)));
    group.sample_size(10);
    group.bench_function(
        BenchmarkId::from_parameter(format!("txs={pool_size}")),
        |b| b.iter_batched(|| all.clone(), |txs| filled(&txs), BatchSize::LargeInput),
    );
    group.finish();

    let pool = filled(&all);
    let mut group = c.benchmark_group("pool::select");
    group.throughput(Throughput::Elements(block as u64));
    group.sample_size(10);
    group.bench_function(
        BenchmarkId::from_parameter(format!("pool={pool_size},block={block}")),
        |b| b.iter(|| assert_eq!(pool.select(limits(block)).len(), block)),
    );
    group.finish();

    let chosen: Vec<(Address, u64)> = pool
        .select(limits(block))
        .iter()
        .map(|tx| (tx.sender, tx.tx.body.nonce))
        .collect();
    let mut group = c.benchmark_group("pool::remove_included");
    group.throughput(Throughput::Elements(block as u64));
    group.sample_size(10);
    group.bench_function(BenchmarkId::from_parameter(format!("txs={block}")), |b| {
        b.iter_batched(
            || filled(&all),
            |mut pool| {
                assert_eq!(
                    pool.remove_included(Height(1), chosen.iter().copied()),
                    block
                )
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
    c.final_summary();
}
