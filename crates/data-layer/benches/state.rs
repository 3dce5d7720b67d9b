//! Authenticated state throughput: merkleize + durable commit of blocks of random updates
//! through `QmdbState` (the data layer's own code path: SHA-256-mapped keys, variable-length
//! values), reported as a ratio to raw durable fjall writes of the same updates measured in
//! the same run.
//!
//! - Criterion: `state::commit/keys=100000,batch=10000`.
//! - Summary at 1M and 10M keys (10,000 updates per block, roots and proofs verified):
//!   `cargo bench -p lamina-data-layer --bench state -- --summary`, or with the key-value
//!   summary, `cargo bench -p lamina-data-layer -- --summary`. `--keys N` runs one size.
//!
//! The page cache is sized to the operation log (256 MiB per million keys, at least 256 MiB);
//! see ADR 0008.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use commonware_runtime::tokio::{Config, Runner};
use commonware_runtime::{Runner as _, Supervisor as _};
use criterion::{BenchmarkId, Criterion, Throughput};
use lamina_data_layer::kv::{Column, Durability, FjallStore, KvStore, WriteBatch};
use lamina_data_layer::state::{verify, AuthenticatedState as _, QmdbState, StateConfig};
use lamina_interop::block::StateChange;
use lamina_interop::Height;

const PER_BLOCK: u64 = 10_000;
/// splitmix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 32-byte state key for account `i` and a 32-byte value.
fn change(i: u64, salt: u64) -> StateChange {
    let mut key = b"bank/balances/".to_vec();
    key.extend_from_slice(&mix(i).to_le_bytes());
    key.extend_from_slice(&i.to_le_bytes());
    key.extend_from_slice(&[0; 2]);
    let mut value = [0u8; 32];
    value[..8].copy_from_slice(&mix(i ^ salt).to_le_bytes());
    StateChange {
        key,
        value: Some(value.to_vec()),
    }
}

fn block(keys: u64, per_block: u64, seed: &mut u64, salt: u64) -> Vec<StateChange> {
    (0..per_block)
        .map(|_| {
            *seed = mix(*seed);
            change(*seed % keys, salt)
        })
        .collect()
}

/// 4 KiB pages for `keys` keys: 256 MiB per million, at least 256 MiB.
fn cache_pages(keys: u64) -> usize {
    (keys.div_ceil(1_000_000) * 65_536).max(65_536) as usize
}

struct Run {
    seed_time: Duration,
    times: Vec<Duration>,
    proofs: usize,
}

/// Seeds `keys` keys, then commits `blocks` blocks of `PER_BLOCK` random updates, timing each
/// commit; with `prove`, checks proofs of a sample of present and absent keys at the end.
fn run(keys: u64, blocks: u64, prove: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(Config::new().with_storage_directory(dir.path().join("state")));
    let config = StateConfig {
        cache_pages: cache_pages(keys),
        ..StateConfig::default()
    };
    runner.start(|ctx| async move {
        let mut state = QmdbState::open(ctx.child("state"), &config).await.unwrap();
        let start = Instant::now();
        let mut height = 0;
        let mut next = 0;
        while next < keys {
            let end = (next + 100_000).min(keys);
            height += 1;
            let changes: Vec<StateChange> = (next..end).map(|i| change(i, 0)).collect();
            state.commit(Height(height), &changes).await.unwrap();
            next = end;
        }
        let seed_time = start.elapsed();
        let mut seed = 7;
        let mut times = Vec::new();
        for b in 0..blocks {
            let changes = block(keys, PER_BLOCK, &mut seed, b + 1);
            height += 1;
            let start = Instant::now();
            state.commit(Height(height), &changes).await.unwrap();
            times.push(start.elapsed());
        }
        let mut proofs = 0;
        if prove {
            let root = state.root();
            for i in (0..keys).step_by((keys / 100).max(1) as usize) {
                let present = change(i, 0).key;
                let proof = state.prove(&present).await.unwrap();
                let value = state.get(&present).await.unwrap();
                assert!(value.is_some());
                assert_eq!(verify(&root, &present, &proof).unwrap(), value);
                let absent = format!("absent/{i}").into_bytes();
                let proof = state.prove(&absent).await.unwrap();
                assert_eq!(verify(&root, &absent, &proof).unwrap(), None);
                proofs += 2;
            }
        }
        Run {
            seed_time,
            times,
            proofs,
        }
    })
}

/// Raw durable fjall writes of the same blocks of updates.
fn raw_time(keys: u64, blocks: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let column = Column("state");
    let store = FjallStore::open(&dir.path().join("fjall"), &[column]).unwrap();
    let mut seed = 7;
    let mut raw = Duration::ZERO;
    for b in 0..blocks {
        let mut batch = WriteBatch::with_capacity(PER_BLOCK as usize);
        for c in block(keys, PER_BLOCK, &mut seed, b + 1) {
            batch.put(column, c.key, c.value.unwrap_or_default());
        }
        let start = Instant::now();
        store.write(batch, Durability::Durable).unwrap();
        raw += start.elapsed();
    }
    raw
}

fn benches(c: &mut Criterion) {
    let keys = 100_000;
    let mut group = c.benchmark_group("state::commit");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PER_BLOCK));
    group.bench_function(
        BenchmarkId::from_parameter(format!("keys={keys},batch={PER_BLOCK}")),
        |b| b.iter_custom(|iters| run(keys, iters, false).times.iter().sum()),
    );
    group.finish();
}

fn summary(keys: u64) {
    const BLOCKS: u64 = 30;
    let run = run(keys, BLOCKS, true);
    let raw = raw_time(keys, BLOCKS);
    let updates = (BLOCKS * PER_BLOCK) as f64;
    let total: Duration = run.times.iter().sum();
    let rate = updates / total.as_secs_f64();
    let raw_rate = updates / raw.as_secs_f64();
    let mut sorted = run.times.clone();
    sorted.sort();
    println!(
        "\nstate::commit/keys={keys},batch={PER_BLOCK} (cache {} pages)",
        cache_pages(keys)
    );
    println!("  seed {keys} keys: {:.1} s", run.seed_time.as_secs_f64());
    println!(
        "  merkleize + durable commit: {rate:.0} updates/s over {BLOCKS} blocks (p50 block {:?}, max {:?})",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    println!("  raw durable fjall writes of the same updates: {raw_rate:.0} updates/s");
    println!("  ratio state / raw: {:.2}", rate / raw_rate);
    if keys == 1_000_000 {
        println!(
            "  target 200,000 updates/s at 1M keys (stretch 400,000): {}",
            if rate >= 200_000.0 { "met" } else { "NOT met" }
        );
    }
    println!(
        "  {} proofs (membership and non-membership) verified against the final root",
        run.proofs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--summary") {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c);
        c.final_summary();
        return;
    }
    let keys: Vec<u64> = match args.iter().position(|a| a == "--keys") {
        Some(i) => args
            .get(i + 1)
            .and_then(|k| k.parse().ok())
            .into_iter()
            .collect(),
        None => vec![1_000_000, 10_000_000],
    };
    for keys in keys {
        summary(keys);
    }
}
