//! Where a block's time goes, from its proposal to its durable commit, on the node the run
//! follows: the node's record of its recent blocks (`interop::timeline`, served as
//! `chain_getTimeline`), reduced to each step's median and 99th percentile over the run's
//! blocks.

use lamina_interop::timeline::BlockTimes;
use serde::Serialize;

use super::percentile;

/// One step's duration over the run's blocks.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StepTime {
    pub(crate) step: &'static str,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Blocks that had both ends of the step.
    pub(crate) blocks: usize,
}

type Mark = fn(&BlockTimes) -> Option<u64>;

/// The steps, each from one mark to a later one. Proposal to finalization is shown only
/// where there are no notarizations (solo), whose two steps it would repeat.
const STEPS: [(&str, Mark, Mark); 6] = [
    (
        "proposal to notarization",
        |t| t.proposed_ms,
        |t| t.notarized_ms,
    ),
    (
        "notarization to finalization",
        |t| t.notarized_ms,
        |t| t.finalized_ms,
    ),
    (
        "proposal to finalization",
        |t| t.proposed_ms,
        |t| t.finalized_ms,
    ),
    (
        "finalization to execution",
        |t| t.finalized_ms,
        |t| t.executed_ms,
    ),
    (
        "execution to durable commit",
        |t| t.executed_ms,
        |t| t.durable_ms,
    ),
    (
        "proposal to durable commit",
        |t| t.proposed_ms,
        |t| t.durable_ms,
    ),
];

/// Each step's median and 99th percentile over `times`; steps no block had are left out.
pub(crate) fn steps(times: &[BlockTimes]) -> Vec<StepTime> {
    let notarized = times.iter().any(|t| t.notarized_ms.is_some());
    STEPS
        .iter()
        .filter(|(step, _, _)| !(notarized && *step == "proposal to finalization"))
        .filter_map(|(step, from, to)| {
            // Microseconds, as `percentile` takes them; a clock step back counts as zero.
            let mut micros: Vec<u32> = times
                .iter()
                .filter_map(|t| Some(to(t)?.saturating_sub(from(t)?)))
                .map(|ms| ms.saturating_mul(1_000).min(u64::from(u32::MAX)) as u32)
                .collect();
            (!micros.is_empty()).then(|| StepTime {
                step,
                p50_ms: percentile(&mut micros, 0.5),
                p99_ms: percentile(&mut micros, 0.99),
                blocks: micros.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lamina_interop::{Hash, Height};

    use super::*;

    fn block(n: u64, notarized: Option<u64>) -> BlockTimes {
        BlockTimes {
            block: Hash([n as u8; 32]),
            height: Some(Height(n)),
            proposed_ms: Some(1_000 * n),
            notarized_ms: notarized.map(|d| 1_000 * n + d),
            finalized_ms: Some(1_000 * n + 300),
            executed_ms: Some(1_000 * n + 340),
            durable_ms: Some(1_000 * n + 400),
        }
    }

    #[test]
    fn each_step_is_measured_between_its_marks() {
        let times: Vec<BlockTimes> = (1..=3).map(|n| block(n, Some(100 * n))).collect();
        let steps = steps(&times);
        let names: Vec<&str> = steps.iter().map(|s| s.step).collect();
        assert_eq!(
            names,
            [
                "proposal to notarization",
                "notarization to finalization",
                "finalization to execution",
                "execution to durable commit",
                "proposal to durable commit"
            ]
        );
        assert_eq!(steps[0].p50_ms, 200.0);
        assert_eq!(steps[0].p99_ms, 300.0);
        assert_eq!(steps[1].p50_ms, 100.0);
        assert_eq!(steps[2].p50_ms, 40.0);
        assert_eq!(steps[3].p50_ms, 60.0);
        assert_eq!(steps[4].p50_ms, 400.0);
        assert!(steps.iter().all(|s| s.blocks == 3));
    }

    #[test]
    fn without_notarizations_proposal_to_finalization_stands_in() {
        let steps = steps(&[block(1, None)]);
        assert_eq!(steps[0].step, "proposal to finalization");
        assert_eq!(steps[0].p50_ms, 300.0);
        assert_eq!(steps.len(), 4);
    }
}
