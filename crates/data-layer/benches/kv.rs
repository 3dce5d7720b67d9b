//! Durable commit throughput of each backend: batches of random 32-byte keys with 32-byte
//! values, each batch committed with fsync, at 1k, 10k and 50k updates per batch.
//!
//! The baseline `kv::raw_append` appends the same bytes to a plain file and fsyncs it: the
//! disk's ceiling for durable writes, measured in the same run. The summary reports each
//! backend as a ratio of it.
//!
//! `cargo bench -p lamina-data-layer --bench kv -- --summary` (add `--features rocksdb` to
//! include RocksDB)

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use lamina_data_layer::kv::{Column, Durability, FjallStore, KvStore, RedbStore, WriteBatch};

const STATE: Column = Column("state");
const BATCHES: [usize; 3] = [1_000, 10_000, 50_000];

/// splitmix64: a fast deterministic generator for keys.
struct Keys(u64);

impl Keys {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn batch(&mut self, size: usize) -> WriteBatch {
        let mut batch = WriteBatch::with_capacity(size);
        for _ in 0..size {
            let mut key = [0u8; 32];
            let mut value = [0u8; 32];
            self.fill(&mut key);
            self.fill(&mut value);
            batch.put(STATE, key.to_vec(), value.to_vec());
        }
        batch
    }
}

type Open = fn(&Path) -> Box<dyn KvStore>;

fn backends() -> Vec<(&'static str, Open)> {
    vec![
        ("fjall", |dir| {
            Box::new(FjallStore::open(&dir.join("fjall"), &[STATE]).unwrap())
        }),
        ("redb", |dir| {
            Box::new(RedbStore::open(&dir.join("db.redb"), &[STATE]).unwrap())
        }),
        #[cfg(feature = "rocksdb")]
        ("rocksdb", |dir| {
            Box::new(
                lamina_data_layer::kv::RocksStore::open(&dir.join("rocksdb"), &[STATE]).unwrap(),
            )
        }),
    ]
}

/// Time of `commits` durable commits of `size` updates each (batches built untimed).
fn commit_time(store: &dyn KvStore, keys: &mut Keys, size: usize, commits: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..commits {
        let batch = keys.batch(size);
        let start = Instant::now();
        store.write(batch, Durability::Durable).unwrap();
        total += start.elapsed();
    }
    total
}

/// Appending the same bytes (64 per update) to a file and fsyncing: the durable-write ceiling.
fn raw_append_time(dir: &Path, keys: &mut Keys, size: usize, commits: u64) -> Duration {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw.log"))
        .unwrap();
    let mut total = Duration::ZERO;
    let mut buffer = vec![0u8; size * 64];
    for _ in 0..commits {
        keys.fill(&mut buffer);
        let start = Instant::now();
        file.write_all(&buffer).unwrap();
        file.sync_data().unwrap();
        total += start.elapsed();
    }
    total
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("kv::durable_commit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (name, open) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut keys = Keys(1);
        for size in BATCHES {
            group.throughput(Throughput::Elements(size as u64));
            let id = BenchmarkId::from_parameter(format!("backend={name},batch={size}"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| commit_time(&*store, &mut keys, size, iters))
            });
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut keys = Keys(2);
    for size in BATCHES {
        group.throughput(Throughput::Elements(size as u64));
        let id = BenchmarkId::from_parameter(format!("backend=raw_append,batch={size}"));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| raw_append_time(dir.path(), &mut keys, size, iters))
        });
    }
    group.finish();
}

/// Updates per second over `updates` updates in batches of `size` (after one warm-up batch).
fn rate(size: usize, updates: usize, mut run: impl FnMut(u64) -> Duration) -> f64 {
    run(1);
    let commits = (updates / size).max(3) as u64;
    (commits as usize * size) as f64 / run(commits).as_secs_f64()
}

fn summary() {
    const UPDATES: usize = 500_000;
    println!("\ndurable commit throughput (updates/s; 32-byte keys and values; fsync per batch)");
    println!(
        "{:<12} {:>10} {:>14} {:>16}",
        "backend", "batch", "updates/s", "vs raw append"
    );
    for size in BATCHES {
        let raw_dir = tempfile::tempdir().unwrap();
        let mut keys = Keys(7);
        let raw = rate(size, UPDATES, |n| {
            raw_append_time(raw_dir.path(), &mut keys, size, n)
        });
        println!(
            "{:<12} {:>10} {:>14.0} {:>15.2}x",
            "raw_append", size, raw, 1.0
        );
        for (name, open) in backends() {
            let dir = tempfile::tempdir().unwrap();
            let store = open(dir.path());
            let mut keys = Keys(7);
            let updates = rate(size, UPDATES, |n| commit_time(&*store, &mut keys, size, n));
            println!(
                "{:<12} {:>10} {:>14.0} {:>15.2}x",
                name,
                size,
                updates,
                updates / raw
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--summary") {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
    if !args.iter().any(|a| a == "--list" || a == "--test") {
        summary();
    }
}
