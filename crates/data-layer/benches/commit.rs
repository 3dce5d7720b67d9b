//! The commit of one finalized block, as the node makes it: block, receipts, redo log and
//! flat state in one durable fjall batch (persist), then the delta through QMDB (merkleize).
//!
//! - `commit::block/txs=N,keys=K`: a block of N transfers (two state changes each, over K
//!   accounts), committed by `ChainStore::commit`. The run also prints how the CPU divided
//!   between the two halves, from the pipeline's stage counters.
//! - `commit::persist/txs=N,keys=K,flat=L`: only the persist half of the same blocks, with
//!   the flat state in memory (`flat=Memory`, checkpointed) or inline (`flat=Inline`, a row
//!   per key in the block's batch): the wall time of the step that runs on the persist
//!   thread, one block after another.
//!
//! `cargo bench -p lamina-data-layer --bench commit`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use commonware_runtime::tokio::{Config, Runner};
use commonware_runtime::{Runner as _, Supervisor as _};
use criterion::{BenchmarkId, Criterion, Throughput};
use lamina_data_layer::kv::FjallStore;
use lamina_data_layer::kv::KvStore;
use lamina_data_layer::state::{QmdbState, StateConfig};
use lamina_data_layer::{commit, ChainStore, FlatLayout, Pruning, DEFAULT_HOT_ENTRIES};
use lamina_interop::block::{
    tx_root, Block, Header, Outcome, RawTx, Receipt, StateChange, StateDelta,
};
use lamina_interop::codec::BoundedVec;
use lamina_interop::profile::{self, Stage};
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

const TXS: u64 = 6_500;
const KEYS: u64 = 100_000;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key(prefix: &[u8], account: u64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&mix(account).to_le_bytes());
    key.extend_from_slice(&[0; 24]);
    key
}

/// Block `height` of `TXS` transfer-shaped transactions, receipts and changes.
fn block(height: u64, parent: Hash) -> (Block, Vec<Receipt>, StateDelta) {
    let raw: Vec<RawTx> = (0..TXS)
        .map(|i| {
            let mut bytes = vec![0u8; 190];
            bytes[..8].copy_from_slice(&mix(height * TXS + i).to_le_bytes());
            RawTx::try_from_vec(bytes).unwrap()
        })
        .collect();
    let receipts = raw
        .iter()
        .map(|tx| Receipt {
            tx: Hash::of(tx),
            outcome: Outcome::Success,
            gas_used: 21_000,
            fee_paid: 21_000,
            events: BoundedVec::default(),
        })
        .collect();
    let changes = (0..TXS)
        .flat_map(|i| {
            let seed = mix(height ^ (i << 20));
            let (from, to) = (seed % KEYS, mix(seed) % KEYS);
            // A transfer's changes: the sender's and the receiver's account records
            // (nonce and native balance).
            [(key(b"accounts/", from), 24), (key(b"accounts/", to), 24)]
        })
        .map(|(key, len)| StateChange {
            key,
            value: Some(vec![height as u8; len]),
        })
        .collect();
    let header = Header {
        chain_id: ChainId(1),
        height: Height(height),
        parent,
        timestamp: Timestamp(height),
        proposer: Address([1; 32]),
        tx_root: tx_root(raw.iter()),
        tx_count: TXS as u32,
        state_height: Height(height.saturating_sub(1)),
        state_root: Hash::ZERO,
    };
    let block = Block {
        header,
        txs: BoundedVec::try_from_vec(raw).unwrap(),
    };
    (block, receipts, StateDelta::from_changes(changes))
}

/// Commits `blocks` blocks to a new store; the time of the commits alone.
fn run(blocks: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(FjallStore::open(&dir.path().join("kv"), &commit::columns()).unwrap());
    let runner = Runner::new(Config::new().with_storage_directory(dir.path().join("state")));
    runner.start(|ctx| async move {
        let config = StateConfig {
            cache_pages: 65_536,
            ..StateConfig::default()
        };
        let state = QmdbState::open(ctx.child("state"), &config).await.unwrap();
        let (mut store, _) = ChainStore::open(kv, Pruning::Archive, state).await.unwrap();
        let mut parent = Hash::ZERO;
        let mut total = Duration::ZERO;
        for height in 1..=blocks {
            let (block, receipts, delta) = block(height, parent);
            let start = Instant::now();
            store.commit(&block, &receipts, &delta).await.unwrap();
            total += start.elapsed();
            parent = block.id();
        }
        total
    })
}

/// Persists `blocks` blocks to a new store whose flat state is laid out as `layout`; the time
/// of the persist steps alone.
fn run_persist(blocks: u64, layout: FlatLayout) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> =
        Arc::new(FjallStore::open(&dir.path().join("kv"), &commit::columns()).unwrap());
    let runner = Runner::new(Config::new().with_storage_directory(dir.path().join("state")));
    runner.start(|ctx| async move {
        let state = QmdbState::open(ctx.child("state"), &StateConfig::default())
            .await
            .unwrap();
        let (store, _) =
            ChainStore::open_with(kv, layout, Pruning::Archive, state, DEFAULT_HOT_ENTRIES)
                .await
                .unwrap();
        let persister = store.persister();
        let mut parent = Hash::ZERO;
        let mut total = Duration::ZERO;
        for height in 1..=blocks {
            let (block, receipts, delta) = block(height, parent);
            let start = Instant::now();
            persister.persist(&block, &receipts, &delta).unwrap();
            total += start.elapsed();
            parent = block.id();
        }
        total
    })
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let before = profile::totals();
    let mut group = c.benchmark_group("commit::block");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TXS));
    group.bench_function(
        BenchmarkId::from_parameter(format!("txs={TXS},keys={KEYS}")),
        |b| b.iter_custom(run),
    );
    group.finish();
    let after = profile::totals();
    let mut persist = c.benchmark_group("commit::persist");
    persist.sample_size(10);
    persist.throughput(Throughput::Elements(TXS));
    for layout in [FlatLayout::Memory, FlatLayout::Inline] {
        persist.bench_function(
            BenchmarkId::from_parameter(format!("txs={TXS},keys={KEYS},flat={layout:?}")),
            |b| b.iter_custom(|blocks| run_persist(blocks, layout)),
        );
    }
    persist.finish();
    let index = |stage: Stage| Stage::ALL.iter().position(|s| *s == stage).unwrap();
    let cpu = |stage: Stage| {
        let i = index(stage);
        after[i].cpu.saturating_sub(before[i].cpu)
    };
    let (persist, merkleize) = (cpu(Stage::Persist), cpu(Stage::Merkleize));
    let total = (persist + merkleize).as_secs_f64().max(1e-9);
    println!(
        "CPU of the commits: persist {:.0}%, merkleize {:.0}%",
        100.0 * persist.as_secs_f64() / total,
        100.0 * merkleize.as_secs_f64() / total
    );
    c.final_summary();
}
