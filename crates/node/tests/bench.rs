//! `lamina bench`, run as a process on a small workload: every planned transfer is committed,
//! the report is complete, and every mode runs (in process, over JSON-RPC, validator
//! processes).

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn bench(args: &[&str]) -> (serde_json::Value, std::process::Output) {
    let output = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args([
            "bench",
            "--accounts",
            "300",
            "--txs",
            "3000",
            "--batch",
            "500",
        ])
        .args([
            "--window",
            "1500",
            "--block-txs",
            "1000",
            "--output",
            "json",
        ])
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (serde_json::from_slice(&output.stdout).unwrap(), output)
}

fn check_report(report: &serde_json::Value, ingest: &str) {
    assert_eq!(report["ingest"], ingest);
    assert_eq!(report["committed"], 3000, "every transfer committed");
    assert_eq!(report["rejected"], 0);
    let tps = report["tps"].as_f64().unwrap();
    let raw = report["raw_verify_per_s"].as_f64().unwrap();
    assert!(tps > 0.0 && raw > 0.0);
    assert!((report["ratio"].as_f64().unwrap() - tps / raw).abs() < 1e-9);
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0);
    assert!(latency["p50"].as_f64().unwrap() <= latency["p99"].as_f64().unwrap());
    let stages: Vec<&str> = report["cpu_us_per_tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "admission",
            "build",
            "pool",
            "execution",
            "merkleize",
            "persist"
        ]
    );
    // Signatures are verified at admission: that stage cannot be free.
    assert!(report["cpu_us_per_tx"][0]["cpu_us"].as_f64().unwrap() > 1.0);
    assert!(report["peak_memory_mib"].as_f64().unwrap() > 1.0);
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(
        samples.last().unwrap()["committed"],
        3000,
        "samples reach the total"
    );
}

/// The report's per-block steps are `names`, in order, each over some blocks, and no step's
/// median exceeds that of the whole way from proposal to durable commit (which holds each
/// block's steps).
fn check_steps(report: &serde_json::Value, names: &[&str]) {
    let steps = report["block_steps"].as_array().expect("block_steps");
    let got: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(got, names, "{report}");
    let whole = steps.last().unwrap()["p50_ms"].as_f64().unwrap();
    for step in steps {
        assert!(step["blocks"].as_u64().unwrap() > 0, "{step}");
        let (p50, p99) = (
            step["p50_ms"].as_f64().unwrap(),
            step["p99_ms"].as_f64().unwrap(),
        );
        assert!(
            p50 <= p99 && p50 <= whole,
            "{step} against {whole} ms in all"
        );
    }
}

const SOLO_STEPS: [&str; 4] = [
    "proposal to finalization",
    "finalization to execution",
    "execution to durable commit",
    "proposal to durable commit",
];

#[test]
fn bench_on_the_bus_commits_everything_and_draws_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("run.svg");
    let (report, _) = bench(&["--plot", plot.to_str().unwrap()]);
    check_report(&report, "bus");
    check_steps(&report, &SOLO_STEPS);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
}

/// Also with the flat state inline, a row per key in every block's batch. (Reads come from
/// the hot state here, which holds every account; reads from the store itself are checked
/// by the data layer's commit and crash tests.)
#[test]
fn bench_over_json_rpc_from_another_process() {
    let (report, _) = bench(&["--ingest", "rpc", "--flat", "inline"]);
    check_report(&report, "rpc");
    assert_eq!(report["flat"], "inline", "{report}");
}

/// Two validator processes on loopback: everything submitted is final, with a finality
/// latency, the report says it came over JSON-RPC, and it breaks node 0's blocks down from
/// proposal through notarization and finalization to execution and durable commit.
#[test]
fn bench_through_two_validator_processes() {
    let (report, _) = bench(&["--validators", "2"]);
    assert_eq!(report["validators"], 2);
    assert_eq!(report["ingest"], "rpc");
    assert_eq!(report["rejected"], 0);
    assert!(report["committed"].as_u64().unwrap() >= 3000);
    assert!(report["tps"].as_f64().unwrap() > 0.0);
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0);
    assert!(latency["p50"].as_f64().unwrap() <= latency["p99"].as_f64().unwrap());
    check_steps(
        &report,
        &[
            "proposal to notarization",
            "notarization to finalization",
            "finalization to execution",
            "execution to durable commit",
            "proposal to durable commit",
        ],
    );
}

/// `--rate`: one solo node process offered 1,000 transfers a second on a schedule; all of them
/// commit, the report names the offer, and the run lasts at least as long as the schedule.
#[test]
fn bench_offers_an_open_loop_rate() {
    let (report, _) = bench(&["--validators", "1", "--rate", "1000"]);
    assert_eq!(report["offered_per_s"], 1000, "{report}");
    assert_eq!(report["validators"], 1);
    assert_eq!(report["ingest"], "rpc");
    assert_eq!(report["rejected"], 0);
    assert_eq!(report["committed"], 3000);
    // 3,000 transfers due over 3 s: the last batch of 20 is due at 2.98 s.
    assert!(report["seconds"].as_f64().unwrap() >= 2.98, "{report}");
    check_steps(&report, &SOLO_STEPS);
    let output = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["bench", "--rate", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("sweep"));
}

#[test]
fn bench_refuses_what_it_cannot_run() {
    let output = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["bench", "--validators", "33"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--validators must be"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), b"x").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["bench", "--base-path", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not empty"));
}
