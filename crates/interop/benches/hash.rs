//! Hash function choice: SHA-256 (the one `Hash` uses) against BLAKE3 on the inputs that
//! dominate merkleization (64 bytes: two child hashes) and on transaction-sized inputs.
//!
//! `cargo bench -p lamina-interop --bench hash`

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lamina_interop::Hash;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash::digest");
    for len in [64usize, 256, 1024] {
        let input = vec![7u8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(
            BenchmarkId::new("fn=sha256", format!("bytes={len}")),
            &input,
            |b, input| b.iter(|| Hash::of(black_box(input))),
        );
        group.bench_with_input(
            BenchmarkId::new("fn=blake3", format!("bytes={len}")),
            &input,
            |b, input| b.iter(|| blake3::hash(black_box(input))),
        );
    }
    group.finish();

    let (left, right) = (Hash::of(b"l"), Hash::of(b"r"));
    let mut group = c.benchmark_group("hash::node");
    group.throughput(Throughput::Elements(1));
    group.bench_function("fn=sha256", |b| {
        b.iter(|| Hash::node(black_box(&left), black_box(&right)))
    });
    group.bench_function("fn=blake3", |b| {
        b.iter(|| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&black_box(left).0);
            hasher.update(&black_box(right).0);
            hasher.finalize()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
