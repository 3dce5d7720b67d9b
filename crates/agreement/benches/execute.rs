//! Execution of blocks of transfers at 1M accounts, without signature checks or persistence:
//! sequential and parallel, over an in-memory snapshot.
//!
//! - `execute::block/mode=..,txs=10000,accounts=100000` (criterion).
//! - Summary at 1M accounts, 10 blocks of 10,000 transfers between accounts drawn uniformly
//!   (target 500,000 tx/s in parallel on 2 cores):
//!   `cargo bench -p lamina-agreement --bench execute -- --summary [--accounts N] [--blocks N] [--mode parallel]`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use lamina_agreement::modules::bank::{BankCall, NATIVE};
use lamina_agreement::testing::{env, funded_native_state};
use lamina_agreement::{
    execute_block, MemoryState, Mode, Runtime, RuntimeConfig, SignedTx, UnsignedTx, VerifiedTx,
};
use lamina_interop::block::{Outcome, StateDelta};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::{Address, ChainId};
use rayon::prelude::*;

const PER_BLOCK: usize = 10_000;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct World {
    runtime: Runtime,
    keys: Vec<PublicKey>,
    addresses: Vec<Address>,
    state: MemoryState,
    nonces: Vec<u64>,
    seed: u64,
}

impl World {
    fn new(accounts: u64) -> World {
        let runtime = Runtime::builder(RuntimeConfig::new(ChainId(1)))
            .build()
            .unwrap();
        // Execution never checks signatures, so account keys need not be real.
        let keys: Vec<PublicKey> = (0..accounts)
            .map(|i| {
                let mut k = [0u8; 32];
                k[..8].copy_from_slice(&i.to_le_bytes());
                PublicKey(k)
            })
            .collect();
        let addresses: Vec<Address> = keys.par_iter().map(Address::of).collect();
        let state = funded_native_state(&addresses, 1 << 60);
        World {
            runtime,
            nonces: vec![0; accounts as usize],
            keys,
            addresses,
            state,
            seed: 1,
        }
    }

    /// A block of transfers between uniformly drawn accounts.
    fn block(&mut self) -> Vec<VerifiedTx> {
        let n = self.keys.len() as u64;
        (0..PER_BLOCK)
            .map(|_| {
                self.seed = mix(self.seed);
                let from = (self.seed % n) as usize;
                let to = (mix(self.seed ^ 0x5555_5555) % n) as usize;
                let nonce = self.nonces[from];
                self.nonces[from] += 1;
                let call = codec::encode(&BankCall::Transfer {
                    to: self.addresses[to],
                    asset: NATIVE,
                    amount: 1,
                });
                VerifiedTx::assume_verified(SignedTx {
                    body: UnsignedTx {
                        chain_id: ChainId(1),
                        sender: self.keys[from],
                        nonce,
                        max_fee: 1_000_000,
                        tip: 1,
                        gas_limit: 100_000,
                        module: 1,
                        call: BoundedBytes::try_from_vec(call).unwrap(),
                    },
                    signature: Signature([0; 64]),
                })
            })
            .collect()
    }

    fn apply(&mut self, delta: &StateDelta) {
        self.state.apply(delta);
    }

    /// Executes `blocks` blocks in `mode`; returns the execution time only.
    fn run(&mut self, blocks: usize, mode: Mode) -> Duration {
        let mut total = Duration::ZERO;
        for height in 1..=blocks {
            let txs = self.block();
            let env = env(ChainId(1), height as u64, Address([0xee; 32]));
            let start = Instant::now();
            let out = execute_block(&self.runtime, &env, &txs, &self.state, mode).unwrap();
            total += start.elapsed();
            assert!(out.receipts.iter().all(|r| r.outcome == Outcome::Success));
            self.apply(&out.delta);
        }
        total
    }
}

fn benches(c: &mut Criterion) {
    let accounts = 100_000;
    let mut group = c.benchmark_group("execute::block");
    group.throughput(Throughput::Elements(PER_BLOCK as u64));
    group.sample_size(10);
    for (name, mode) in [
        ("sequential", Mode::Sequential),
        ("parallel", Mode::Parallel),
    ] {
        let mut world = World::new(accounts);
        group.bench_function(
            BenchmarkId::from_parameter(format!("mode={name},txs={PER_BLOCK},accounts={accounts}")),
            |b| b.iter_custom(|iters| world.run(iters as usize, mode)),
        );
    }
    group.finish();
}

fn summary(accounts: u64, blocks: usize, only: Option<&str>) {
    let threads = rayon::current_num_threads();
    println!("\nexecution of {blocks} blocks of {PER_BLOCK} transfers at {accounts} accounts ({threads} threads)");
    for (name, mode) in [
        ("sequential", Mode::Sequential),
        ("parallel", Mode::Parallel),
    ] {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        let mut world = World::new(accounts);
        world.run(1, mode); // warm-up
                            // Best of three rounds: this machine's memory timings vary from run to run.
        let mut rates: Vec<f64> = (0..3)
            .map(|_| (blocks * PER_BLOCK) as f64 / world.run(blocks, mode).as_secs_f64())
            .collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "  {name:<10} {:>10.0} tx/s (rounds: {})",
            rates[2],
            rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("  target: 500,000 tx/s in parallel on 2 cores");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--summary") {
        let accounts = args
            .iter()
            .position(|a| a == "--accounts")
            .and_then(|i| args.get(i + 1))
            .and_then(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        let mode = args
            .iter()
            .position(|a| a == "--mode")
            .and_then(|i| args.get(i + 1));
        let blocks = args
            .iter()
            .position(|a| a == "--blocks")
            .and_then(|i| args.get(i + 1))
            .and_then(|a| a.parse().ok())
            .unwrap_or(10);
        summary(accounts, blocks, mode.map(String::as_str));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
