//! Ed25519 verification per signature, one by one and in batches of several sizes, on one
//! thread: what sets admission's batch sizes (`SignatureBatches` in the agreement layer).
//!
//! `cargo bench -p lamina-interop --bench verify` (`crypto::verify/batch=N`; `batch=1` is
//! `PublicKey::verify_raw`, the check a failed batch falls back to).

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lamina_interop::crypto::{BatchVerifier, PublicKey, SecretKey, Signature};

/// Signatures over transfer-sized messages from distinct keys, as a block's senders are.
fn signed(n: u32) -> Vec<(PublicKey, Vec<u8>, Signature)> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let key = SecretKey::from_seed(seed);
            let message = [i.to_le_bytes().as_slice(), &[7u8; 116]].concat();
            let signature = key.sign_raw(&message);
            (key.public_key(), message, signature)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let items = signed(2_048);
    let mut group = c.benchmark_group("crypto::verify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(items.len() as u64));
    group.bench_function(BenchmarkId::from_parameter("batch=1"), |b| {
        b.iter(|| {
            for (key, message, signature) in &items {
                key.verify_raw(message, signature).unwrap();
            }
        })
    });
    for size in [32usize, 128, 256, 1_024, 2_048] {
        group.bench_function(BenchmarkId::from_parameter(format!("batch={size}")), |b| {
            b.iter(|| {
                for chunk in items.chunks(size) {
                    let mut batch = BatchVerifier::new();
                    for (key, message, signature) in chunk {
                        batch.add(key, message, signature);
                    }
                    batch.verify().unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
