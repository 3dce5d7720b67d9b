//! What a light client spends on one block: the finality proof of a header signed by a
//! quorum of 4 validators (3 signatures, batch-verified), and a state proof of one key against
//! the root that header names, made by QMDB over 100,000 keys.
//!
//! - `light::certificate/validators=4`: `FinalityProof::verify` of one header.
//! - `light::state_proof/keys=100000`: `state_proof::verify` of one present key.
//! - `light::header_and_value`: both through `LightClient::update` and `verify_state`, as a
//!   client takes a block and reads a value.
//!
//! `cargo bench -p lamina-data-layer --bench light`

#![allow(missing_docs, clippy::unwrap_used)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use commonware_runtime::tokio::{Config, Runner};
use commonware_runtime::{Runner as _, Supervisor as _};
use criterion::Criterion;
use lamina_data_layer::state::{AuthenticatedState as _, QmdbState, StateConfig};
use lamina_interop::block::{Header, StateChange};
use lamina_interop::codec::BoundedVec;
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::{FinalityCertificate, FinalityProof, ValidatorSet};
use lamina_interop::light::{Checkpoint, LightClient, LightParams};
use lamina_interop::state_proof::{self, StateProof};
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

const KEYS: u64 = 100_000;
const CHAIN: ChainId = ChainId(7);

fn key(i: u64) -> Vec<u8> {
    format!("bench/account/{i:016x}").into_bytes()
}

/// A state of `KEYS` keys: its root and the proof of one of them.
fn state() -> (Hash, Vec<u8>, StateProof) {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(Config::new().with_storage_directory(dir.path().join("state")));
    runner.start(|ctx| async move {
        let mut state = QmdbState::open(ctx.child("state"), &StateConfig::default())
            .await
            .unwrap();
        let changes: Vec<StateChange> = (0..KEYS)
            .map(|i| StateChange {
                key: key(i),
                value: Some(i.to_le_bytes().to_vec()),
            })
            .collect();
        let root = state.commit(Height(1), &changes).await.unwrap();
        let probe = key(KEYS / 2);
        let proof = state.prove(&probe).await.unwrap();
        (root, probe, proof)
    })
}

fn bench(c: &mut Criterion) {
    let (root, probe, state) = state();
    let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
    let set = ValidatorSet::new(0, keys.iter().map(SecretKey::public_key).collect()).unwrap();
    let header = Header {
        chain_id: CHAIN,
        height: Height(2),
        parent: Hash([1; 32]),
        timestamp: Timestamp(1_000),
        proposer: Address([2; 32]),
        tx_root: Hash::ZERO,
        tx_count: 0,
        state_height: Height(1),
        state_root: root,
    };
    let signers: Vec<&SecretKey> = keys.iter().take(3).collect();
    let proof = FinalityProof {
        certificate: FinalityCertificate::sign(CHAIN, &set, (2, 1), header.id(), &signers),
        headers: BoundedVec::try_from_vec(vec![header]).unwrap(),
    };
    let mut group = c.benchmark_group("light");
    group.bench_function("certificate/validators=4", |b| {
        b.iter(|| proof.verify(CHAIN, &set).unwrap())
    });
    group.bench_function(format!("state_proof/keys={KEYS}"), |b| {
        b.iter(|| state_proof::verify(&root, &probe, &state).unwrap())
    });
    let client = LightClient::new(
        LightParams {
            chain_id: CHAIN,
            epoch_blocks: None,
            trusting_period_ms: 3_600_000,
        },
        Checkpoint {
            height: Height(1),
            block: Hash([1; 32]),
            timestamp: Timestamp(0),
            set: set.clone(),
        },
        Timestamp(0),
    )
    .unwrap();
    group.bench_function("header_and_value", |b| {
        b.iter(|| {
            let mut client = client.clone();
            client.update(&proof, Timestamp(1_000)).unwrap();
            client
                .verify_state(Height(1), &probe, &state)
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
