//! A dev chain and a chain of four validators (the `local` preset), as processes, and
//! `lamina relay` between them: transfers there and back
//! arrive exactly once while the relayer is killed with SIGKILL at random moments; a packet
//! whose time runs out is refunded exactly; the packets one undisturbed relayer delivers and
//! acknowledges per second are printed.
//!
//! `LAMINA_RELAY_TRANSFERS` sets the transfers each way (1,000 by default).

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lamina_agreement::UnsignedTx;
use lamina_app::rpc::RpcClient;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::interchain::InterchainMsg;
use lamina_interop::module::Amount;
use lamina_interop::{Address, Hash};

mod common;
use common::{book_session, stdout_of, Node};

/// A dev chain's dollar.
const USD: u32 = 1;
/// The first voucher's asset id.
const VOUCHER: u32 = 1 << 31;

fn port() -> String {
    lamina_node::ports::unused().unwrap().to_string()
}

fn start(base: &std::path::Path, spec: Option<&std::path::Path>) -> Node {
    let rpc_port = port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lamina"));
    command.args(["node", "--dev"]);
    if let Some(spec) = spec {
        command.arg("--chain").arg(spec);
    }
    let child = command
        .args([
            "--rpc-port",
            &rpc_port,
            "--metrics-port",
            &port(),
            "--p2p-port",
            &port(),
        ])
        .arg("--base-path")
        .arg(base)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rpc = format!("http://127.0.0.1:{rpc_port}");
    let client = RpcClient::new(&rpc).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let start = Instant::now();
    while runtime.block_on(client.health()).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "node did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Node {
        child,
        rpc,
        metrics: String::new(),
    }
}

/// The `local` preset's four validators (alice, bob, charlie, dave) as processes on free
/// ports, alice the boot node; returns once alice has finalized a block.
fn four_validators(dir: &std::path::Path) -> Vec<Node> {
    let alice_key = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["key", "inspect", "alice", "--output", "json"])
        .output()
        .unwrap();
    let alice_key: serde_json::Value = serde_json::from_slice(&alice_key.stdout).unwrap();
    let alice_key = alice_key[0]["public_key"].as_str().unwrap().to_string();
    let p2p: Vec<String> = (0..4).map(|_| port()).collect();
    let bootnode = format!("{alice_key}@127.0.0.1:{}", p2p[0]);
    let nodes: Vec<Node> = ["alice", "bob", "charlie", "dave"]
        .iter()
        .zip(&p2p)
        .map(|(name, p2p)| {
            let rpc_port = port();
            let child = Command::new(env!("CARGO_BIN_EXE_lamina"))
                .args(["node", "--chain", "local", "--validator", name])
                .arg("--base-path")
                .arg(dir.join(name))
                .args(["--rpc-port", &rpc_port, "--metrics-port", &port()])
                .args(["--p2p-host", "127.0.0.1", "--p2p-port", p2p])
                .args(["--public-address", &format!("127.0.0.1:{p2p}")])
                .args(["--bootnode", &bootnode])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            Node {
                child,
                rpc: format!("http://127.0.0.1:{rpc_port}"),
                metrics: String::new(),
            }
        })
        .collect();
    let client = RpcClient::new(&nodes[0].rpc).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let start = Instant::now();
    while !runtime
        .block_on(client.finalized_head())
        .is_ok_and(|head| head.height.0 >= 1)
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the four validators finalized nothing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    nodes
}

fn relayer(a: &Node, b: &Node, b_spec: &std::path::Path, once: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lamina"));
    command
        .args([
            "relay",
            "--a",
            &a.rpc,
            "--b",
            &b.rpc,
            "--interval-ms",
            "100",
        ])
        .arg("--b-chain")
        .arg(b_spec);
    if once {
        command.arg("--once");
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Runs the relayer until nothing is pending; its output.
fn drain(a: &Node, b: &Node, b_spec: &std::path::Path) -> String {
    let output = relayer(a, b, b_spec, true).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// The relayer started and killed with SIGKILL `kills` times, at moments from a seeded
/// sequence between 0.2 and 1.5 s.
fn chaos(a: &Node, b: &Node, b_spec: &std::path::Path, kills: u64, seed: u64) {
    let mut x = seed | 1;
    for _ in 0..kills {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut child = relayer(a, b, b_spec, false)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200 + x % 1_300));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

fn dev_key(name: &str) -> SecretKey {
    let mut seed = b"lamina/dev/".to_vec();
    seed.extend_from_slice(name.as_bytes());
    SecretKey::from_seed(Hash::of(&seed).0)
}

/// `n` transfers of `amount + i` of `asset` from `from` through `client` to `to`, submitted
/// in batches and waited for.
async fn transfers(
    rpc: &RpcClient,
    from: &SecretKey,
    client: &str,
    to: Address,
    asset: u32,
    amounts: &[u128],
    timeout_after_s: u64,
) {
    let chain = rpc.chain().await.unwrap();
    let module = chain
        .modules
        .iter()
        .position(|m| m == "interchain")
        .unwrap() as u16;
    let sender = Address::of(&from.public_key());
    let first = rpc.nonce(sender).await.unwrap();
    let txs: Vec<_> = amounts
        .iter()
        .enumerate()
        .map(|(i, amount)| {
            let msg = InterchainMsg::Transfer {
                client: serde_json::from_value(serde_json::json!(client)).unwrap(),
                receiver: serde_json::from_value(serde_json::json!(to.to_string())).unwrap(),
                asset,
                amount: Amount(*amount),
                timeout_after_s,
                memo: Default::default(),
            };
            UnsignedTx {
                chain_id: chain.chain_id,
                sender: from.public_key(),
                nonce: first + i as u64,
                max_fee: 1_000_000,
                tip: 0,
                gas_limit: 1_000_000,
                module,
                call: BoundedBytes::try_from_vec(codec::encode(&msg)).unwrap(),
            }
            .sign(from)
            .to_raw()
        })
        .collect();
    for batch in txs.chunks(250) {
        rpc.submit_batch(batch).await.unwrap();
    }
    let start = Instant::now();
    while rpc.nonce(sender).await.unwrap() < first + amounts.len() as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "transfers not final"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn query(rpc: &RpcClient, module: &str, q: serde_json::Value) -> serde_json::Value {
    rpc.query(module, q).await.unwrap()
}

async fn balance(rpc: &RpcClient, who: Address, asset: u32) -> u128 {
    rpc.balance(who, Some(asset)).await.unwrap()
}

async fn escrowed(rpc: &RpcClient) -> u128 {
    let answer = query(
        rpc,
        "interchain",
        serde_json::json!({"escrow": {"client": "client-0", "asset": USD}}),
    )
    .await;
    answer["escrow"]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn supply(rpc: &RpcClient, asset: u32) -> u128 {
    let answer = query(rpc, "bank", serde_json::json!({"asset": {"asset": asset}})).await;
    answer["asset"]["supply"].as_str().unwrap().parse().unwrap()
}

async fn pending(rpc: &RpcClient) -> usize {
    let answer = query(
        rpc,
        "interchain",
        serde_json::json!({"pending": {"client": "client-0"}}),
    )
    .await;
    answer["pending"]["packets"].as_array().unwrap().len()
}

#[test]
fn transfers_there_and_back_arrive_once_through_a_relayer_killed_at_random() {
    // The dev chain is 1337, the local preset 1338.
    let n: usize = std::env::var("LAMINA_RELAY_TRANSFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    // Chain B: the `local` preset, four simplex validators as processes (chain 1338).
    let spec = std::path::PathBuf::from("local");
    let a = start(&dir.path().join("a"), None);
    let validators = four_validators(&dir.path().join("b"));
    let b = &validators[1];
    let link = drain(&a, b, &spec);
    assert!(
        link.contains("client client-0 on chain 1337 <-> client client-0 on chain 1338"),
        "{link}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (ra, rb) = (
        RpcClient::new(&a.rpc).unwrap(),
        RpcClient::new(&b.rpc).unwrap(),
    );
    let (alice, bob) = (dev_key("alice"), dev_key("bob"));
    let (alice_at, bob_at) = (
        Address::of(&alice.public_key()),
        Address::of(&bob.public_key()),
    );
    let before = runtime.block_on(balance(&ra, alice_at, USD));

    // There: n transfers from alice on A to bob on B.
    let amounts: Vec<u128> = (0..n as u128).map(|i| 1_000 + i).collect();
    let sum: u128 = amounts.iter().sum();
    runtime.block_on(transfers(
        &ra, &alice, "client-0", bob_at, USD, &amounts, 3_600,
    ));
    let started = Instant::now();
    // A second relayer on the same link throughout: the two race, and the loser of each
    // race is refused.
    let mut rival = relayer(&a, b, &spec, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    chaos(&a, b, &spec, 20, 0x5EED);
    rival.kill().unwrap();
    rival.wait().unwrap();
    drain(&a, b, &spec);
    let there = started.elapsed();
    runtime.block_on(async {
        assert_eq!(
            balance(&rb, bob_at, VOUCHER).await,
            sum,
            "each transfer arrived once"
        );
        assert_eq!(supply(&rb, VOUCHER).await, sum);
        assert_eq!(escrowed(&ra).await, sum);
        assert_eq!(balance(&ra, alice_at, USD).await, before - sum);
        assert_eq!(pending(&ra).await, 0);
    });

    // And back: bob returns every voucher to alice, relayed by one relayer left alone (the
    // throughput figure).
    runtime.block_on(transfers(
        &rb, &bob, "client-0", alice_at, VOUCHER, &amounts, 3_600,
    ));
    let started = Instant::now();
    drain(&a, b, &spec);
    let back = started.elapsed();
    runtime.block_on(async {
        assert_eq!(
            balance(&ra, alice_at, USD).await,
            before,
            "every dollar came home once"
        );
        assert_eq!(escrowed(&ra).await, 0);
        assert_eq!(supply(&rb, VOUCHER).await, 0);
        assert_eq!(pending(&rb).await, 0);
    });

    // A transfer nobody relays in time is timed out and refunded exactly.
    runtime.block_on(transfers(&ra, &alice, "client-0", bob_at, USD, &[777], 2));
    std::thread::sleep(Duration::from_secs(5));
    let text = drain(&a, b, &spec);
    assert!(text.contains("1 timed out"), "{text}");
    runtime.block_on(async {
        assert_eq!(balance(&ra, alice_at, USD).await, before);
        assert_eq!(escrowed(&ra).await, 0);
        assert_eq!(balance(&rb, bob_at, VOUCHER).await, 0);
    });
    println!(
        "relayed {n} transfers each way: there through 20 SIGKILLs of one relayer racing another in {:.1} s; back, one relayer undisturbed, in {:.1} s: {:.0} packets/s delivered and acknowledged",
        there.as_secs_f64(),
        back.as_secs_f64(),
        n as f64 / back.as_secs_f64()
    );
}

/// The book's cross-chain transfer (`book/src/interchain/two-chains.sh`): two dev chains, a
/// relayer, five dollars there and two back, as the chapter tells it.
#[test]
fn book_two_chains_session_runs_as_the_book_tells_it() {
    let dir = tempfile::tempdir().unwrap();
    // Instances far above the default ports, so that other tests' nodes do not collide.
    let instance = 40 + std::process::id() % 40;
    let text = stdout_of(
        book_session("interchain/two-chains.sh")
            .env("WORK", dir.path())
            .env("A_INSTANCE", instance.to_string())
            .env("B_INSTANCE", (instance + 1).to_string()),
    );
    assert!(
        text.contains("link: client client-0 on chain 1337 <-> client client-0 on chain 1338"),
        "{text}"
    );
    assert!(
        text.contains("\"amount\": \"5000000000000000000\""),
        "{text}"
    );
    assert!(
        text.contains("\"amount\": \"3000000000000000000\""),
        "{text}"
    );
    assert_eq!(text.matches("outcome: success").count(), 2, "{text}");
    // The relayer followed both chains' finalized heads rather than polling.
    assert!(!text.contains("polling"), "{text}");
}
