//! The `lamina` binary, run as a process.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use lamina_interop::messages::CATALOGUE;

fn lamina(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn catalogue_json_lists_every_message() {
    let output = lamina(&["catalogue", "--output", "json"]);
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = CATALOGUE.iter().map(|e| e.name).collect();
    assert_eq!(names, expected);
    assert_eq!(rows[0]["kind"], "command");
}

#[test]
fn catalogue_table_has_a_row_per_message() {
    let output = lamina(&["catalogue"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), CATALOGUE.len() + 1);
    assert!(text
        .lines()
        .any(|l| l.starts_with("CommitBlock") && l.contains("data-layer")));
}

#[test]
fn unknown_command_fails_with_usage() {
    let output = lamina(&["frobnicate"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}

/// A running `lamina node`, stopped with SIGTERM when dropped.
struct Node {
    child: std::process::Child,
    rpc: String,
    metrics: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Node {
    fn start(base: &std::path::Path) -> Node {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(["node", "--dev", "--output", "json", "--rpc-port"])
            .arg(free_port().to_string())
            .arg("--metrics-port")
            .arg(free_port().to_string())
            .arg("--base-path")
            .arg(base)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The endpoints arrive as one JSON object once the node serves.
        let stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            text.push_str(&line.unwrap());
            if text.trim_end().ends_with('}') {
                break;
            }
        }
        let endpoints: serde_json::Value = serde_json::from_str(&text).unwrap();
        Node {
            child,
            rpc: endpoints["rpc"].as_str().unwrap().to_string(),
            metrics: endpoints["metrics"].as_str().unwrap().to_string(),
        }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(args: &[&str]) -> serde_json::Value {
    let output = lamina(args);
    assert!(
        output.status.success(),
        "lamina {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn address(name: &str) -> String {
    json(&["key", "inspect", name, "--output", "json"])[0]["address"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_dev_chain_takes_a_transfer_stops_cleanly_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let bob = address("bob");
    let alice = address("alice");
    let node = Node::start(dir.path());
    let before = json(&[
        "query", "balance", &bob, "--rpc", &node.rpc, "--output", "json",
    ]);
    let receipt = json(&[
        "tx", "transfer", "--to", &bob, "--amount", "7", "--from", "alice", "--rpc", &node.rpc,
        "--output", "json",
    ]);
    assert_eq!(receipt["receipt"]["outcome"], "Success");
    let height = receipt["height"].as_u64().unwrap();
    assert!(height >= 1);
    let after = json(&[
        "query", "balance", &bob, "--rpc", &node.rpc, "--output", "json",
    ]);
    let amount = |v: &serde_json::Value| v["amount"].as_str().unwrap().parse::<u128>().unwrap();
    assert_eq!(amount(&after), amount(&before) + 7);
    let tx = json(&[
        "query",
        "tx",
        receipt["id"].as_str().unwrap(),
        "--rpc",
        &node.rpc,
        "--output",
        "json",
    ]);
    assert_eq!(tx["height"].as_u64(), Some(height));
    // The same balance, proven against the state root.
    let key = lamina_agreement::modules::bank::balance_key(0, &bob.parse().unwrap());
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let value = json(&[
        "query", "value", &key_hex, "--rpc", &node.rpc, "--output", "json",
    ]);
    assert_eq!(value["proof"], "verified");
    let encoded: String = (amount(&after))
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(value["value"], format!("0x{encoded}"));
    let metrics = scrape(&node.metrics);
    assert!(
        metrics.contains("lamina_transactions_committed_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lamina_bus_latency_seconds{message=\"CommitBlock\",quantile=\"0.99\"}")
    );
    assert!(node.stop().success(), "SIGTERM exits 0");

    // The same data directory: the chain continues where it stopped.
    let node = Node::start(dir.path());
    let nonce = json(&[
        "query", "nonce", &alice, "--rpc", &node.rpc, "--output", "json",
    ]);
    assert_eq!(nonce["nonce"], 1);
    let block = json(&["query", "block", "--rpc", &node.rpc, "--output", "json"]);
    assert!(block["header"]["height"].as_u64().unwrap() >= height);
    let again = json(&[
        "query", "balance", &bob, "--rpc", &node.rpc, "--output", "json",
    ]);
    assert_eq!(amount(&again), amount(&after));
    assert!(node.stop().success());
}

#[test]
fn bad_input_gets_a_clear_error() {
    let output = lamina(&["query", "tx", "0x1234", "--rpc", "http://127.0.0.1:9"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("transaction id"));
    let output = lamina(&["key", "inspect", "../etc"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("key names"));
}

#[test]
fn websocket_subscriptions_follow_blocks_and_watch_a_transaction() {
    use jsonrpsee::core::client::{Subscription, SubscriptionClientT as _};
    use jsonrpsee::rpc_params;
    use lamina_agreement::modules::bank::BankCall;
    use lamina_agreement::UnsignedTx;
    use lamina_interop::codec::{self, BoundedBytes};
    use lamina_interop::{Address, ChainId, Hash};

    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let ws = node.rpc.replacen("http://", "ws://", 1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(&ws)
            .await
            .unwrap();
        let mut heads: Subscription<serde_json::Value> = client
            .subscribe(
                "chain_subscribeNewHeads",
                rpc_params![],
                "chain_unsubscribeNewHeads",
            )
            .await
            .unwrap();
        let first = heads.next().await.unwrap().unwrap();
        let second = heads.next().await.unwrap().unwrap();
        assert_eq!(
            second["height"].as_u64().unwrap(),
            first["height"].as_u64().unwrap() + 1
        );
        assert_eq!(second["parent"], first["hash"]);

        // alice -> bob, signed here, watched until final.
        let alice = {
            let mut seed = b"lamina/dev/".to_vec();
            seed.extend_from_slice(b"alice");
            lamina_interop::crypto::SecretKey::from_seed(Hash::of(&seed).0)
        };
        let bob: Address = address("bob").parse().unwrap();
        let tx = UnsignedTx {
            chain_id: ChainId(1337),
            sender: alice.public_key(),
            nonce: 0,
            max_fee: 100_000,
            tip: 0,
            gas_limit: 100_000,
            module: 1,
            call: BoundedBytes::try_from_vec(codec::encode(&BankCall::Transfer {
                to: bob,
                asset: 0,
                amount: 3,
            }))
            .unwrap(),
        }
        .sign(&alice);
        let hex = format!("0x{}", hex_encode(&codec::encode(&tx)));
        let mut watch: Subscription<serde_json::Value> = client
            .subscribe("tx_submitAndWatch", rpc_params![hex], "tx_unwatch")
            .await
            .unwrap();
        let statuses: Vec<String> = [
            watch.next().await.unwrap().unwrap(),
            watch.next().await.unwrap().unwrap(),
            watch.next().await.unwrap().unwrap(),
        ]
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect();
        assert_eq!(statuses, ["admitted", "included", "finalized"]);

        let bad = "0xzz".to_string();
        let rejected = client
            .subscribe::<serde_json::Value, _>("tx_submitAndWatch", rpc_params![bad], "tx_unwatch")
            .await;
        assert!(rejected.is_err(), "a malformed transaction is refused");
    });
    assert!(node.stop().success());
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /metrics` over a plain socket.
fn scrape(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}
