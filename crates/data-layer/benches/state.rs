//! Authenticated state throughput: merkleize + durable commit of blocks of random updates
//! through `QmdbState` (the data layer's own code path: SHA-256-mapped keys, variable-length
//! values), at a given number of keys, reported as a ratio to raw durable fjall writes of the
//! same updates measured in the same run.
//!
//! `cargo bench -p lamina-data-layer --bench state -- [keys] [updates-per-block] [blocks] [cache-pages]`
//!
//! Defaults: 1,000,000 keys, 10,000 updates per block, 30 blocks, 65,536 pages (256 MiB).
//! For 10M keys give the cache 524,288 pages (2 GiB); see ADR 0008.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use commonware_runtime::tokio::{Config, Runner};
use commonware_runtime::{Runner as _, Supervisor as _};
use lamina_data_layer::kv::{Column, Durability, FjallStore, KvStore, WriteBatch};
use lamina_data_layer::state::{verify, QmdbState, StateConfig};
use lamina_interop::block::StateChange;
use lamina_interop::Height;

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

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let keys = args.first().copied().unwrap_or(1_000_000);
    let per_block = args.get(1).copied().unwrap_or(10_000);
    let blocks = args.get(2).copied().unwrap_or(30);
    let cache_pages = args.get(3).copied().unwrap_or(65_536) as usize;
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(Config::new().with_storage_directory(dir.path().join("state")));
    let config = StateConfig {
        cache_pages,
        ..StateConfig::default()
    };
    let (seed_time, times, proofs) = runner.start(|ctx| async move {
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
            let changes = block(keys, per_block, &mut seed, b + 1);
            height += 1;
            let start = Instant::now();
            state.commit(Height(height), &changes).await.unwrap();
            times.push(start.elapsed());
        }
        // Roots and proofs verified: a sample of keys, present and absent.
        let root = state.root();
        let mut proofs = 0;
        for i in (0..keys).step_by((keys / 100).max(1) as usize) {
            let present = change(i, 0).key;
            let proof = state.prove(&present).await.unwrap();
            assert_eq!(
                verify(&root, &present, &proof).unwrap(),
                state.get(&present).await.unwrap()
            );
            let absent = format!("absent/{i}").into_bytes();
            let proof = state.prove(&absent).await.unwrap();
            assert_eq!(verify(&root, &absent, &proof).unwrap(), None);
            proofs += 2;
        }
        (seed_time, times, proofs)
    });

    let fjall_dir = tempfile::tempdir().unwrap();
    let column = Column("state");
    let store = FjallStore::open(&fjall_dir.path().join("fjall"), &[column]).unwrap();
    let mut seed = 7;
    let mut raw = Duration::ZERO;
    for b in 0..blocks {
        let mut batch = WriteBatch::with_capacity(per_block as usize);
        for c in block(keys, per_block, &mut seed, b + 1) {
            batch.put(column, c.key, c.value.unwrap_or_default());
        }
        let start = Instant::now();
        store.write(batch, Durability::Durable).unwrap();
        raw += start.elapsed();
    }

    let updates = (blocks * per_block) as f64;
    let total: Duration = times.iter().sum();
    let rate = updates / total.as_secs_f64();
    let raw_rate = updates / raw.as_secs_f64();
    let mut sorted = times.clone();
    sorted.sort();
    println!("state::commit/keys={keys},batch={per_block} (cache {cache_pages} pages)");
    println!("  seed {keys} keys: {:.1} s", seed_time.as_secs_f64());
    println!(
        "  merkleize + durable commit: {rate:.0} updates/s over {blocks} blocks (p50 block {:?}, max {:?})",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    println!("  raw durable fjall writes of the same updates: {raw_rate:.0} updates/s");
    println!("  ratio state / raw: {:.2}", rate / raw_rate);
    println!(
        "  target 200,000 updates/s: {}",
        if rate >= 200_000.0 { "met" } else { "NOT met" }
    );
    println!("  {proofs} proofs (membership and non-membership) verified against the final root");
}
