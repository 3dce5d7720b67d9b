//! Four `lamina node` processes of the `local` chain (BFT), on loopback: they finalize the
//! same blocks, one that starts late catches up, a transfer sent to any of them is final on
//! all, one killed with SIGKILL does not stop the others, and once restarted it catches up
//! from its peers and goes on.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lamina_app::rpc::RpcClient;
use lamina_interop::block::Outcome;
use lamina_interop::{Address, Height};

const NAMES: [&str; 4] = ["alice", "bob", "charlie", "dave"];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn lamina(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lamina {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

struct Validator {
    name: &'static str,
    base: PathBuf,
    rpc: u16,
    metrics: u16,
    p2p: u16,
    child: Option<Child>,
}

impl Validator {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc)
    }

    fn start(&mut self, bootnode: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base.with_extension("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(["node", "--chain", "local", "--validator", self.name])
            .arg("--base-path")
            .arg(&self.base)
            .args(["--rpc-port", &self.rpc.to_string()])
            .args(["--metrics-port", &self.metrics.to_string()])
            .args([
                "--p2p-host",
                "127.0.0.1",
                "--p2p-port",
                &self.p2p.to_string(),
            ])
            .args(["--public-address", &format!("127.0.0.1:{}", self.p2p)])
            .args(["--bootnode", bootnode])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill_9(&mut self) {
        let mut child = self.child.take().unwrap();
        assert!(Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let _ = child.wait();
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The finalized height of `url`, or `None` while it does not answer.
async fn finalized(url: &str) -> Option<Height> {
    let client = RpcClient::new(url).ok()?;
    client.finalized_head().await.ok().map(|head| head.height)
}

/// Waits until every one of `urls` has finalized `height`.
async fn wait_for(urls: &[String], height: Height, what: &str, logs: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut heights = Vec::new();
        for url in urls {
            heights.push(finalized(url).await);
        }
        if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: heights {heights:?}, wanted {height}; logs in {}",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn four_validators_finalize_join_late_survive_a_kill_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut validators: Vec<Validator> = NAMES
        .iter()
        .map(|name| Validator {
            name,
            base: dir.path().join(name),
            rpc: free_port(),
            metrics: free_port(),
            p2p: free_port(),
            child: None,
        })
        .collect();
    let alice_key = lamina(&["key", "inspect", "alice", "--output", "json"])[0]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let bootnode = format!("{alice_key}@127.0.0.1:{}", validators[0].p2p);
    let urls: Vec<String> = validators.iter().map(Validator::url).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Three of four are a quorum: the chain starts without dave, who joins late, catches up
    // from its peers and then keeps pace.
    for validator in &mut validators[..3] {
        validator.start(&bootnode);
    }
    runtime.block_on(wait_for(
        &urls[..3],
        Height(5),
        "three finalize",
        dir.path(),
    ));
    validators[3].start(&bootnode);
    let joined = runtime.block_on(finalized(&urls[0])).unwrap();
    runtime.block_on(wait_for(
        &urls,
        Height(joined.0 + 3),
        "dave joins late and catches up",
        dir.path(),
    ));

    // A transfer submitted to dave is final everywhere, with the same block and receipt.
    let charlie = lamina(&["key", "inspect", "charlie", "--output", "json"])[0]["address"]
        .as_str()
        .unwrap()
        .parse::<Address>()
        .unwrap();
    let outcome = lamina(&[
        "tx",
        "transfer",
        "--from",
        "bob",
        "--to",
        &charlie.to_string(),
        "--amount",
        "12345",
        "--rpc",
        &urls[3],
        "--output",
        "json",
    ]);
    let id: lamina_interop::Hash = serde_json::from_value(outcome["id"].clone()).unwrap();
    runtime.block_on(async {
        let mut places = Vec::new();
        for url in &urls {
            let client = RpcClient::new(url).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let record = loop {
                if let Some(record) = client.tx(id).await.unwrap() {
                    break record;
                }
                assert!(
                    Instant::now() < deadline,
                    "{url} never learned the transfer"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert_eq!(record.receipt.outcome, Outcome::Success, "{url}");
            places.push((record.height, record.index, record.receipt));
        }
        assert!(places.windows(2).all(|w| w[0] == w[1]), "{places:?}");
    });

    // dave dies without warning; three of four are a quorum and go on.
    validators[3].kill_9();
    let before = runtime.block_on(finalized(&urls[0])).unwrap();
    runtime.block_on(wait_for(
        &urls[..3],
        Height(before.0 + 5),
        "three go on without dave",
        dir.path(),
    ));

    // dave restarts on its data, catches up from its peers, and follows the chain again.
    validators[3].start(&bootnode);
    let target = Height(runtime.block_on(finalized(&urls[0])).unwrap().0 + 3);
    runtime.block_on(wait_for(&urls, target, "dave catches up", dir.path()));
    runtime.block_on(async {
        let alice = RpcClient::new(&urls[0]).unwrap();
        let dave = RpcClient::new(&urls[3]).unwrap();
        for height in [1, before.0, target.0] {
            let a = alice.header(Some(Height(height))).await.unwrap().unwrap();
            let d = dave.header(Some(Height(height))).await.unwrap().unwrap();
            assert_eq!(a.hash, d.hash, "block {height}");
            assert_eq!(
                a.header.state_root, d.header.state_root,
                "state named by block {height}"
            );
        }
    });
}
