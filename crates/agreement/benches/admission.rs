//! Admission throughput against the machine's raw Ed25519 batch verification on all cores,
//! measured in the same run.
//!
//! - `admission::verify_raw/txs=N`: batch verification alone of N pre-built (key, message,
//!   signature) triples, in chunks of `SignatureBatches::MAX` on the rayon pool.
//! - `admission::admit/txs=N`: the same transactions through `admit` (decode, checks,
//!   state reads, batch verification, pool insertion) into an empty pool.
//!
//! Summary (ratio, target at least 0.8): `cargo bench -p lamina-agreement --bench admission -- --summary`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use lamina_agreement::admission::{admit, SignatureBatches};
use lamina_agreement::modules::bank::NATIVE;
use lamina_agreement::pool::{Mempool, PoolConfig};
use lamina_agreement::testing::{funded_native_state, key, transfer};
use lamina_agreement::{Runtime, RuntimeConfig, SignedTx};
use lamina_interop::block::RawTx;
use lamina_interop::crypto::BatchVerifier;
use lamina_interop::messages::Admission;
use lamina_interop::{Address, ChainId, Height};
use parking_lot::Mutex;
use rayon::prelude::*;

struct Load {
    runtime: Runtime,
    state: lamina_agreement::MemoryState,
    txs: Vec<SignedTx>,
    raw: Vec<RawTx>,
}

/// `n` transfers, each from its own funded account.
fn load(n: u64) -> Load {
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(1)))
        .build()
        .unwrap();
    let keys: Vec<_> = (0..n).into_par_iter().map(key).collect();
    let senders: Vec<Address> = keys.iter().map(|k| Address::of(&k.public_key())).collect();
    let state = funded_native_state(&senders, 1 << 60);
    let txs: Vec<SignedTx> = keys
        .par_iter()
        .enumerate()
        .map(|(i, k)| {
            transfer(
                &runtime,
                k,
                0,
                senders[(i + 1) % senders.len()],
                NATIVE,
                1,
                1,
            )
        })
        .collect();
    let raw = txs.iter().map(SignedTx::to_raw).collect();
    Load {
        runtime,
        state,
        txs,
        raw,
    }
}

fn verify_raw(
    triples: &[(
        lamina_interop::crypto::PublicKey,
        Vec<u8>,
        lamina_interop::crypto::Signature,
    )],
) -> Duration {
    let start = Instant::now();
    triples.par_chunks(SignatureBatches::MAX).for_each(|chunk| {
        let mut batch = BatchVerifier::new();
        for (key, message, signature) in chunk {
            batch.add(key, message, signature);
        }
        batch.verify().unwrap();
    });
    start.elapsed()
}

fn triples(
    load: &Load,
) -> Vec<(
    lamina_interop::crypto::PublicKey,
    Vec<u8>,
    lamina_interop::crypto::Signature,
)> {
    load.txs
        .iter()
        .map(|tx| (tx.body.sender, tx.body.signing_bytes(), tx.signature))
        .collect()
}

/// Submits in batches of 10,000, as RPC would; returns the time and how many were accepted.
fn admit_all(load: &Load) -> (Duration, usize) {
    let pool = Mutex::new(Mempool::new(PoolConfig::default()));
    let batches = SignatureBatches::new();
    let start = Instant::now();
    let mut accepted = 0;
    for batch in load.raw.chunks(10_000) {
        accepted += admit(
            &load.runtime,
            &pool,
            &batches,
            &load.state,
            Height(0),
            batch,
        )
        .iter()
        .filter(|v| matches!(v, Admission::Accepted { .. }))
        .count();
    }
    (start.elapsed(), accepted)
}

fn benches(c: &mut Criterion) {
    let n = 4_096;
    let load = load(n);
    let triples = triples(&load);
    let mut group = c.benchmark_group("admission::verify_raw");
    group.throughput(Throughput::Elements(n));
    group.bench_function(BenchmarkId::from_parameter(format!("txs={n}")), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| verify_raw(&triples)).sum())
    });
    group.finish();
    let mut group = c.benchmark_group("admission::admit");
    group.throughput(Throughput::Elements(n));
    group.bench_function(BenchmarkId::from_parameter(format!("txs={n}")), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| admit_all(&load).0).sum())
    });
    group.finish();
}

fn summary() {
    const N: u64 = 100_000;
    let load = load(N);
    let triples = triples(&load);
    let threads = rayon::current_num_threads();
    // Best of three for each, interleaved, so both see the same machine.
    let mut raw = Duration::MAX;
    let mut admission = Duration::MAX;
    for _ in 0..3 {
        raw = raw.min(verify_raw(&triples));
        let (time, accepted) = admit_all(&load);
        assert_eq!(accepted as u64, N, "every transaction is valid");
        admission = admission.min(time);
    }
    let raw_rate = N as f64 / raw.as_secs_f64();
    let rate = N as f64 / admission.as_secs_f64();
    println!(
        "\nadmission of {N} signed transfers from distinct funded accounts, {threads} threads"
    );
    println!("  raw ed25519 batch verification: {raw_rate:.0} signatures/s");
    println!("  admission (decode, checks, state reads, verify, pool): {rate:.0} tx/s");
    println!(
        "  ratio admission / raw: {:.2} (target at least 0.80)",
        rate / raw_rate
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--summary") {
        summary();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
