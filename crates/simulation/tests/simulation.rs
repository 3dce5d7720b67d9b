//! Whole-chain simulations: honest runs, runs with faults, determinism.

use lamina_simulation::{run, Scenario};

#[test]
fn four_honest_validators_agree() {
    let outcome = run(&Scenario::new(1));
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    for chain in &outcome.finalized {
        assert!(chain.len() >= 30, "finalized {} blocks", chain.len());
    }
    assert!(outcome.included > 0, "transfers were included");
    eprintln!("elapsed {:?}, submitted {}, included {}", outcome.elapsed, outcome.submitted, outcome.included);
}
