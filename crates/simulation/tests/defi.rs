//! The DeFi workload (suppliers, borrowers, traders, a moving oracle, liquidators) in the
//! whole-chain simulation with faults: no invariant broken on any honest validator.

use lamina_simulation::defi::Defi;
use lamina_simulation::{run_with, Scenario};

/// Runs `seeds` with faults on every core; returns the seeds with violations.
fn sweep(seeds: std::ops::Range<u64>) -> Vec<(u64, String)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let seeds = seeds.clone();
            let failures = &failures;
            scope.spawn(move || {
                for seed in seeds.filter(|s| s % threads == worker) {
                    let outcome = run_with(&Scenario::with_faults(seed), Defi::default());
                    let mut problems = format!("{:?}", outcome.violations);
                    if outcome.included < 20 {
                        problems = format!("only {} transactions included", outcome.included);
                    } else if outcome.violations.is_empty() {
                        continue;
                    }
                    if let Ok(mut failures) = failures.lock() {
                        failures.push((seed, problems));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.sort();
    failures
}

#[test]
fn defi_traffic_keeps_every_invariant_through_faults() {
    let outcome = run_with(&Scenario::with_faults(1), Defi::default());
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert!(outcome.included > 20, "{} included", outcome.included);
}

/// 200 seeds with lossy links, a partition and a crash each.
#[test]
fn two_hundred_defi_seeds_with_faults() {
    let failures = sweep(1_000..1_200);
    assert!(
        failures.is_empty(),
        "{} seeds failed: {failures:?}",
        failures.len()
    );
}

/// The long mode: `SIM_SEEDS=2000 cargo test --release -p lamina-simulation --test defi --
/// --ignored many_defi_seeds --nocapture`.
#[test]
#[ignore = "long: thousands of seeds"]
fn many_defi_seeds() {
    let count: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let started = std::time::Instant::now();
    let failures = sweep(0..count);
    eprintln!(
        "{count} DeFi seeds in {:?}: {} failed",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
}
