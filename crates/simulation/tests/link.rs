//! Two chains and an unreliable relayer (`lamina_simulation::link`): the bridge's
//! conservation checked at every block of both chains, over 200 seeds.

#![allow(clippy::unwrap_used, missing_docs)]

use lamina_simulation::link::{run_link, LinkReport};

/// Steps per seed.
const STEPS: usize = 150;

/// Runs `seeds` on every core; the reports, and the seeds that failed.
fn sweep(seeds: std::ops::Range<u64>) -> (Vec<LinkReport>, Vec<String>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
    let handles: Vec<_> = (0..threads)
        .map(|worker| {
            let seeds = seeds.clone();
            std::thread::spawn(move || {
                let mut reports = Vec::new();
                let mut failures = Vec::new();
                for seed in seeds.filter(|s| s % threads == worker) {
                    match run_link(seed, STEPS) {
                        Ok(report) => reports.push(report),
                        Err(failure) => failures.push(failure),
                    }
                }
                (reports, failures)
            })
        })
        .collect();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for handle in handles {
        let (r, f) = handle.join().unwrap();
        reports.extend(r);
        failures.extend(f);
    }
    (reports, failures)
}

fn summary(reports: &[LinkReport]) -> String {
    let sum = |f: fn(&LinkReport) -> u64| reports.iter().map(f).sum::<u64>();
    format!(
        "{} seeds: {} transfers, {} received, {} acknowledged, {} timed out, {} lost, {} duplicated, {} relayer crashes, {} blocks checked; B's client followed {} set changes",
        reports.len(),
        sum(|r| r.transfers),
        sum(|r| r.received),
        sum(|r| r.acknowledged),
        sum(|r| r.timed_out),
        sum(|r| r.lost),
        sum(|r| r.duplicated),
        sum(|r| r.crashes),
        sum(|r| r.blocks),
        sum(|r| r.set_changes),
    )
}

#[test]
fn two_hundred_seeds_of_an_unreliable_relayer_conserve_the_bridge() {
    let (reports, failures) = sweep(0..200);
    assert!(
        failures.is_empty(),
        "{} seeds failed: {failures:?}",
        failures.len()
    );
    let text = summary(&reports);
    println!("{text}");
    let sum = |f: fn(&LinkReport) -> u64| reports.iter().map(f).sum::<u64>();
    // The sweep exercises what it claims to.
    assert!(
        sum(|r| r.received) > 0 && sum(|r| r.acknowledged) > 0,
        "{text}"
    );
    assert!(
        sum(|r| r.timed_out) > 0 && sum(|r| r.duplicated) > 0,
        "{text}"
    );
    assert!(sum(|r| r.set_changes) > 0, "{text}");
}

/// The long mode: `LINK_SEEDS=5000 cargo test --release -p lamina-simulation --test link --
/// --ignored many_link_seeds --nocapture`.
#[test]
#[ignore = "long: thousands of seeds"]
fn many_link_seeds() {
    let count: u64 = std::env::var("LINK_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let start = std::time::Instant::now();
    let (reports, failures) = sweep(10_000..10_000 + count);
    println!("{} in {:?}", summary(&reports), start.elapsed());
    assert!(
        failures.is_empty(),
        "{} seeds failed: {failures:?}",
        failures.len()
    );
}
