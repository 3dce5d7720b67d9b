//! `lamina channel` as processes: two parties' processes over TCP against a dev chain, a
//! hundred thousand payments settled exactly, and a close on an old state overturned by a
//! watchtower.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, json, stdout_of, Node};

/// The dev chain's dollar: no fee is paid in it, so balances match to the unit.
const USD: &str = "1";

/// `lamina channel ARGS` against `node`, dev keys, its output as JSON or text.
fn channel(node: &Node, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lamina"));
    command.args(["channel", "--rpc", &node.rpc]).args(args);
    command
}

fn usd(node: &Node, who: &str) -> u128 {
    let address = json(&["key", "inspect", who, "--output", "json"])[0]["address"]
        .as_str()
        .unwrap()
        .to_string();
    json(&[
        "query", "balance", &address, "--asset", USD, "--rpc", &node.rpc, "--output", "json",
    ])["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Opens a channel from alice to bob with `deposit` dollars' units; its id.
fn open(node: &Node, store: &Path, deposit: u128) -> String {
    let store = store.to_str().unwrap();
    let deposit = deposit.to_string();
    let text = stdout_of(&mut channel(
        node,
        &[
            "open",
            "--from",
            "alice",
            "--peer",
            "bob",
            "--asset",
            USD,
            "--deposit",
            &deposit,
            "--challenge-blocks",
            "15",
            "--store",
            store,
            "--output",
            "json",
        ],
    ));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["channel"].as_str().unwrap().to_string()
}

/// Bob's `listen` process; returns once it accepts connections.
struct Listener {
    child: Child,
    addr: String,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(node: &Node, store: &Path) -> Listener {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = channel(
        node,
        &["listen", "--from", "bob", "--listen", &addr, "--store"],
    )
    .arg(store)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "listen did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Listener { child, addr }
}

fn pay(
    node: &Node,
    store: &Path,
    id: &str,
    to: &str,
    amount: u128,
    count: u64,
) -> serde_json::Value {
    let text = stdout_of(&mut channel(
        node,
        &[
            "pay",
            "--from",
            "alice",
            "--channel",
            id,
            "--to",
            to,
            "--amount",
            &amount.to_string(),
            "--count",
            &count.to_string(),
            "--compare-raw",
            "--store",
            store.to_str().unwrap(),
            "--output",
            "json",
        ],
    ));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_hundred_thousand_payments_between_two_processes_settle_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let (alice_store, bob_store) = (dir.path().join("alice"), dir.path().join("bob"));
    let before = [usd(&node, "alice"), usd(&node, "bob")];
    let id = open(&node, &alice_store, 1_000_000);
    let bob = listen(&node, &bob_store);

    let report = pay(&node, &alice_store, &id, &bob.addr, 3, 100_000);
    assert_eq!(report["version"], 100_000, "{report}");
    assert_eq!(report["balance"], "700000", "{report}");
    eprintln!(
        "100,000 payments: {:.0} a second; raw ed25519 sign + verify {:.0} a second",
        report["payments_per_s"].as_f64().unwrap(),
        report["raw_sign_verify_per_s"].as_f64().unwrap()
    );

    let text = stdout_of(
        channel(
            &node,
            &[
                "close",
                "--from",
                "alice",
                "--channel",
                &id,
                "--to",
                &bob.addr,
                "--store",
            ],
        )
        .arg(&alice_store),
    );
    // The final state is one version above the last payment.
    assert!(
        text.contains("settled on version 100001: paid 700000 and 300000"),
        "{text}"
    );
    assert_eq!(usd(&node, "alice"), before[0] - 300_000);
    assert_eq!(usd(&node, "bob"), before[1] + 300_000);

    // Both stores hold the final state the chain paid out on.
    for (who, store) in [("alice", &alice_store), ("bob", &bob_store)] {
        let status = stdout_of(
            channel(
                &node,
                &["status", "--from", who, "--channel", &id, "--store"],
            )
            .arg(store),
        );
        assert!(
            status.contains("held: version 100001, balances 700000 and 300000 (final)"),
            "{status}"
        );
    }
}

#[test]
fn a_close_on_an_old_state_is_overturned_by_a_watchtower() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let (alice_store, bob_store) = (dir.path().join("alice"), dir.path().join("bob"));
    let before = [usd(&node, "alice"), usd(&node, "bob")];
    let id = open(&node, &alice_store, 10_000);
    let bob = listen(&node, &bob_store);
    pay(&node, &alice_store, &id, &bob.addr, 1, 500);
    // Alice keeps her store as it stood after 500 payments of 1...
    let old = dir.path().join("alice-old");
    copy_dir(&alice_store, &old);
    pay(&node, &alice_store, &id, &bob.addr, 9, 500);
    drop(bob);

    // ... and bob gave a copy of his to a watchtower (charlie), which watches for him.
    let tower_store = dir.path().join("tower");
    copy_dir(&bob_store, &tower_store);
    let tower = channel(
        &node,
        &["watch", "--from", "charlie", "--until-settled", "--store"],
    )
    .arg(&tower_store)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    // Alice closes alone on the state where she had paid 500, not 5,000.
    let text = stdout_of(
        channel(
            &node,
            &[
                "close",
                "--from",
                "alice",
                "--channel",
                &id,
                "--wait",
                "--store",
            ],
        )
        .arg(&old),
    );
    assert!(text.contains("closing on version 500"), "{text}");
    let output = tower.wait_with_output().unwrap();
    let watched = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{watched}");
    assert!(
        watched.contains("closed on version 500; answered with version 1000"),
        "{watched}"
    );
    assert!(
        text.contains("settled on version 1000: paid 5000 and 5000"),
        "{text}\n{watched}"
    );
    assert_eq!(usd(&node, "alice"), before[0] - 5_000);
    assert_eq!(usd(&node, "bob"), before[1] + 5_000);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
