//! Evaluation of commonware-storage's QMDB (`current::ordered::fixed`) as Lamina's
//! authenticated state: seed N keys, then rounds of random updates, each round merkleized,
//! applied and committed durably, as one block's state commit would be. The same updates are
//! also written to fjall as plain durable batches, measured in the same run, for the ratio.
//!
//! `cargo bench -p lamina-data-layer --bench qmdb_eval -- [keys] [updates-per-round] [rounds]`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};
use std::time::{Duration, Instant};

use commonware_cryptography::{DigestOf, Hasher as _, Sha256};
use commonware_parallel::Rayon;
use commonware_runtime::buffer::paged::{page_size, CacheRef};
use commonware_runtime::tokio::{Config, Context, Runner};
use commonware_runtime::{Runner as _, Strategizer, Supervisor as _, BLOB_PAGE_SIZE};
use commonware_storage::journal::contiguous::fixed::Config as FConfig;
use commonware_storage::merkle::full::Config as MerkleConfig;
use commonware_storage::merkle::mmr::Family as Mmr;
use commonware_storage::qmdb::current::ordered::fixed::Db as CurrentOrderedFixed;
use commonware_storage::qmdb::current::FixedConfig;
use commonware_storage::qmdb::floor::{Hold, Proportional};
use commonware_storage::translator::EightCap;
use lamina_data_layer::kv::{Column, Durability, FjallStore, KvStore, WriteBatch};

type Digest = DigestOf<Sha256>;
type Db = CurrentOrderedFixed<Mmr, Context, Digest, Digest, Sha256, EightCap, 32, Rayon>;

const PAGE_SIZE: NonZeroU16 = page_size(BLOB_PAGE_SIZE);

fn nz64(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

fn nzu(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

fn config(ctx: &Context) -> FixedConfig<EightCap, Rayon> {
    let pages = std::env::var("QMDB_CACHE_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let page_cache = CacheRef::new(PAGE_SIZE, nzu(pages));
    let items = nz64(1 << 20);
    FixedConfig {
        merkle_config: MerkleConfig {
            journal_partition: "state-merkle-journal".into(),
            metadata_partition: "state-merkle-metadata".into(),
            items_per_blob: items,
            write_buffer: nzu(2 << 20),
            replay_buffer: nzu(2 << 20),
            strategy: ctx.strategy(nzu(2)),
            page_cache: page_cache.clone(),
        },
        journal_config: FConfig {
            partition: "state-log".into(),
            items_per_blob: items,
            page_cache,
            write_buffer: nzu(2 << 20),
            replay_buffer: nzu(2 << 20),
        },
        grafted_metadata_partition: "state-grafted".into(),
        translator: EightCap,
        init_cache: Some(nzu(1 << 18)),
        init_buffer: nzu(1 << 21),
        init_concurrency: (),
    }
}

/// splitmix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key(i: u64) -> Digest {
    Sha256::hash(&[&i.to_be_bytes()])
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let keys = args.first().copied().unwrap_or(1_000_000);
    let per_round = args.get(1).copied().unwrap_or(10_000);
    let rounds = args.get(2).copied().unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("qmdb");
    let runner = Runner::new(Config::new().with_storage_directory(storage));
    let (seed_time, round_times, root_hex) = runner.start(|ctx| async move {
        let db = Db::init(ctx.child("state"), config(&ctx), None)
            .await
            .unwrap();
        // Seed in batches of 100k, committing each.
        let start = Instant::now();
        let mut db = db;
        let mut next = 0u64;
        while next < keys {
            let end = (next + 100_000).min(keys);
            let mut batch = db.new_batch();
            for i in next..end {
                batch = batch.write(key(i), Some(key(mix(i))));
            }
            let merkleized = batch.merkleize(&db, None, &mut Proportional).await.unwrap();
            db = db
                .apply_batch(merkleized)
                .await
                .unwrap()
                .commit()
                .await
                .unwrap();
            next = end;
        }
        let seed_time = start.elapsed();
        let mut times = Vec::new();
        let mut state = 7u64;
        for round in 0..rounds {
            let mut updates = Vec::with_capacity(per_round as usize);
            for _ in 0..per_round {
                state = mix(state);
                updates.push((key(state % keys), key(state ^ round)));
            }
            let start = Instant::now();
            let mut batch = db.new_batch();
            for (k, v) in updates {
                batch = batch.write(k, Some(v));
            }
            let merkleized = if std::env::var("QMDB_HOLD").is_ok() {
                batch.merkleize(&db, None, &mut Hold).await.unwrap()
            } else {
                batch.merkleize(&db, None, &mut Proportional).await.unwrap()
            };
            let _root = merkleized.root();
            db = db
                .apply_batch(merkleized)
                .await
                .unwrap()
                .commit()
                .await
                .unwrap();
            times.push(start.elapsed());
        }
        let root = format!("{:?}", db.root());
        (seed_time, times, root)
    });

    // The same update pattern as plain durable fjall batches.
    let fjall_dir = tempfile::tempdir().unwrap();
    let column = Column("state");
    let store = FjallStore::open(&fjall_dir.path().join("fjall"), &[column]).unwrap();
    let mut fjall_total = Duration::ZERO;
    let mut state = 7u64;
    for round in 0..rounds {
        let mut batch = WriteBatch::with_capacity(per_round as usize);
        for _ in 0..per_round {
            state = mix(state);
            batch.put(
                column,
                key(state % keys).as_ref().to_vec(),
                key(state ^ round).as_ref().to_vec(),
            );
        }
        let start = Instant::now();
        store.write(batch, Durability::Durable).unwrap();
        fjall_total += start.elapsed();
    }

    let total: Duration = round_times.iter().sum();
    let rate = (rounds * per_round) as f64 / total.as_secs_f64();
    let fjall_rate = (rounds * per_round) as f64 / fjall_total.as_secs_f64();
    let mut sorted = round_times.clone();
    sorted.sort();
    println!("qmdb current::ordered::fixed (mmr, sha256), {keys} keys");
    println!(
        "  seed: {:.1} s ({:.0} keys/s)",
        seed_time.as_secs_f64(),
        keys as f64 / seed_time.as_secs_f64()
    );
    println!(
        "  {rounds} rounds x {per_round} updates, merkleize + apply + durable commit: {rate:.0} updates/s (p50 round {:?}, max {:?})",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    println!("  fjall plain durable writes of the same updates: {fjall_rate:.0} updates/s; qmdb/fjall = {:.2}", rate / fjall_rate);
    println!("  root {root_hex}");
}
