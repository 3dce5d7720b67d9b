//! Four `lamina node` processes of the `local` chain (BFT), on loopback: they finalize the
//! same blocks, one that starts late catches up, a transfer sent to any of them is final on
//! all, one killed with SIGKILL does not stop the others, and once restarted it catches up
//! from its peers and goes on. On a proof-of-stake chain with short epochs, consensus moves
//! from epoch to epoch, and a validator killed for several epochs catches up across them.
//! Seven validators started by `lamina testnet` from one command survive two killed with
//! SIGKILL, which the testnet starts again.

#![allow(clippy::unwrap_used)]

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lamina_app::rpc::RpcClient;
use lamina_interop::block::Outcome;
use lamina_interop::{Address, Height};

/// Each test runs a network of four to seven validator processes; on two cores, two at once
/// starve each other's consensus of CPU (views time out, a restarted validator's execution
/// falls far behind its finality). Each test holds this while its network runs.
fn one_network_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static NETWORK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    NETWORK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const NAMES: [&str; 4] = ["alice", "bob", "charlie", "dave"];

fn free_port() -> u16 {
    lamina_node::ports::unused().unwrap()
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
    /// The `--chain` argument: a preset or a spec file.
    chain: String,
    base: PathBuf,
    rpc: u16,
    metrics: u16,
    p2p: u16,
    /// A full node's endpoint to follow, instead of validating as `name`.
    follow: Option<String>,
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
        let role = match &self.follow {
            Some(url) => ["--follow", url.as_str()],
            None => ["--validator", self.name],
        };
        let child = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(["node", "--chain", &self.chain])
            .args(role)
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
            // A failure shows as its message, not a backtrace, in the log tail a failed test prints.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// How the process ended, if it has.
    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// The validator's height, how its process stands and the last lines of its log.
    fn report(&mut self, height: Option<Height>) -> String {
        let running = self.child.is_some();
        let state = match self.exit_status() {
            Some(status) => format!("exited: {status}"),
            None if running => "running".to_string(),
            None => "not running".to_string(),
        };
        let log = std::fs::read_to_string(self.base.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!(
            "--- {} at {height:?}, {state}; the end of its log:\n{tail}",
            self.name
        )
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

/// Waits until every one of `validators` has finalized `height`. On failure the message names
/// each validator that is behind, whether its process has exited, and the end of its log.
async fn wait_for(validators: &mut [Validator], height: Height, what: &str, logs: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut heights = Vec::new();
        for validator in validators.iter() {
            heights.push(finalized(&validator.url()).await);
        }
        if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
            return;
        }
        let exited = validators.iter_mut().any(|v| v.exit_status().is_some());
        if exited || Instant::now() >= deadline {
            let behind: Vec<String> = validators
                .iter_mut()
                .zip(&heights)
                .filter(|(_, h)| !h.is_some_and(|h| h >= height))
                .map(|(v, h)| v.report(*h))
                .collect();
            panic!(
                "{what}: heights {heights:?}, wanted {height}; logs in {}\n{}",
                logs.display(),
                behind.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The four validators of `chain` under `dir`, on free ports (not started), and the boot
/// node argument naming alice.
fn four(dir: &Path, chain: &str) -> (Vec<Validator>, String) {
    let validators: Vec<Validator> = NAMES
        .iter()
        .map(|name| Validator {
            name,
            chain: chain.to_string(),
            base: dir.join(name),
            rpc: free_port(),
            metrics: free_port(),
            p2p: free_port(),
            follow: None,
            child: None,
        })
        .collect();
    let alice_key = lamina(&["key", "inspect", "alice", "--output", "json"])[0]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let bootnode = format!("{alice_key}@127.0.0.1:{}", validators[0].p2p);
    (validators, bootnode)
}

/// Asserts that `a` and `b` hold the same block, naming the same state, at each of `heights`.
async fn same_blocks(a: &str, b: &str, heights: &[u64]) {
    let a = RpcClient::new(a).unwrap();
    let b = RpcClient::new(b).unwrap();
    for height in heights {
        let x = a.header(Some(Height(*height))).await.unwrap().unwrap();
        let y = b.header(Some(Height(*height))).await.unwrap().unwrap();
        assert_eq!(x.hash, y.hash, "block {height}");
        assert_eq!(
            x.header.state_root, y.header.state_root,
            "state named by block {height}"
        );
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn four_validators_finalize_join_late_survive_a_kill_and_catch_up() {
    let _one_network_at_a_time = one_network_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (mut validators, bootnode) = four(dir.path(), "local");
    let urls: Vec<String> = validators.iter().map(Validator::url).collect();
    let runtime = current_thread();

    // Three of four are a quorum: the chain starts without dave, who joins late, catches up
    // from its peers and then keeps pace.
    for validator in &mut validators[..3] {
        validator.start(&bootnode);
    }
    runtime.block_on(wait_for(
        &mut validators[..3],
        Height(5),
        "three finalize",
        dir.path(),
    ));
    validators[3].start(&bootnode);
    let joined = runtime.block_on(finalized(&urls[0])).unwrap();
    runtime.block_on(wait_for(
        &mut validators,
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
        &mut validators[..3],
        Height(before.0 + 5),
        "three go on without dave",
        dir.path(),
    ));

    // dave restarts on its data, catches up from its peers, and follows the chain again.
    validators[3].start(&bootnode);
    let target = Height(runtime.block_on(finalized(&urls[0])).unwrap().0 + 3);
    runtime.block_on(wait_for(
        &mut validators,
        target,
        "dave catches up",
        dir.path(),
    ));
    runtime.block_on(same_blocks(&urls[0], &urls[3], &[1, before.0, target.0]));

    // What each validator did, as `chain_getValidators` counts it: every block's proposer is
    // in the set, each certified block was proposed by the leader the count charges its view
    // to, and dave, down twice, missed views as leader.
    runtime.block_on(async {
        use lamina_interop::codec::Canonical as _;
        let client = RpcClient::new(&urls[0]).unwrap();
        let view = client.validators(Some(1024)).await.unwrap();
        assert_eq!(
            (view.validators.len(), view.from),
            (4, Height(1)),
            "{view:?}"
        );
        let proposed: u64 = view.validators.iter().map(|v| v.proposed).sum();
        assert_eq!(proposed, view.to.0, "{view:?}");
        let mut certified = 0;
        for height in 1..=view.to.0 {
            let block = client.block(Height(height)).await.unwrap().unwrap();
            let Some(certificate) = block.certificate else {
                continue;
            };
            let bytes = hex::decode(certificate.trim_start_matches("0x")).unwrap();
            let certificate =
                lamina_interop::finality::FinalityCertificate::decode(&bytes).unwrap();
            let leader = (certificate.epoch + certificate.view) % 4;
            assert_eq!(
                view.validators[leader as usize].address, block.header.proposer,
                "block {height}, view {}",
                certificate.view
            );
            certified += 1;
        }
        assert_eq!(certified + view.uncertified, view.to.0, "{view:?}");
        let dave = lamina(&["key", "inspect", "dave", "--output", "json"])[0]["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        let dave = view
            .validators
            .iter()
            .find(|v| v.key.to_string() == dave)
            .unwrap();
        assert!(dave.missed > 0, "{view:?}");
        let signed: u64 = view.validators.iter().map(|v| v.signed).sum();
        assert!(signed >= 3 * certified, "{view:?}");
    });
}

/// Blocks per epoch of the proof-of-stake test: the shortest consensus allows.
const EPOCH: u64 = 8;

#[test]
fn proof_of_stake_epochs_change_and_a_restarted_validator_catches_up_across_them() {
    let _one_network_at_a_time = one_network_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = lamina(&["chain-spec", "export", "--preset", "local-pos"]);
    spec["genesis"]["staking"]["params"]["epoch_blocks"] = serde_json::json!(EPOCH);
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let (mut validators, bootnode) = four(dir.path(), spec_path.to_str().unwrap());
    let urls: Vec<String> = validators.iter().map(Validator::url).collect();
    let runtime = current_thread();

    // Past two epoch boundaries: each ended on its last block and the next set took over.
    for validator in &mut validators {
        validator.start(&bootnode);
    }
    runtime.block_on(wait_for(
        &mut validators,
        Height(2 * EPOCH + 2),
        "four cross two epochs",
        dir.path(),
    ));

    // dave is killed for at least three epochs; the other three go on through them.
    validators[3].kill_9();
    let before = runtime.block_on(finalized(&urls[0])).unwrap();
    runtime.block_on(wait_for(
        &mut validators[..3],
        Height(before.0 + 3 * EPOCH + 1),
        "three go on for three epochs",
        dir.path(),
    ));

    // Restarted in the epoch it left, dave steps through the ones it missed and catches up.
    validators[3].start(&bootnode);
    let target = Height(runtime.block_on(finalized(&urls[0])).unwrap().0 + 3);
    runtime.block_on(wait_for(
        &mut validators,
        target,
        "dave catches up across epochs",
        dir.path(),
    ));
    let boundaries: Vec<u64> = (1..=target.0 / EPOCH).map(|e| e * EPOCH).collect();
    runtime.block_on(same_blocks(&urls[0], &urls[3], &boundaries));
    let log = std::fs::read_to_string(validators[3].base.with_extension("log")).unwrap();
    let epochs = log.matches("starting consensus epoch").count();
    assert!(
        epochs >= 5,
        "dave entered {epochs} epochs; logs in {}",
        dir.path().display()
    );

    // A light client that knows only the genesis set follows dave, who was down for three
    // epochs: it proves each set change from the epoch before, and every block's finality.
    let chain_id = lamina_interop::ChainId(spec["chain_id"].as_u64().unwrap());
    let genesis: Vec<lamina_interop::crypto::PublicKey> = NAMES
        .iter()
        .map(|name| {
            let key =
                lamina(&["key", "inspect", name, "--output", "json"])[0]["public_key"].clone();
            serde_json::from_value(key).unwrap()
        })
        .collect();
    let follow = |url: &str, upto: Height, value: bool| {
        runtime.block_on(light_follow(url, chain_id, &genesis, upto, value))
    };
    follow(&urls[3], target, true);

    // Every validator restarts: no finality proof is lost, and every height's still verifies.
    for validator in &mut validators {
        validator.kill_9();
    }
    for validator in &mut validators {
        validator.start(&bootnode);
    }
    runtime.block_on(wait_for(
        &mut validators,
        Height(target.0 + 2 * EPOCH + 2),
        "all four restart and go on",
        dir.path(),
    ));
    // A validator restarted behind the others, in an epoch they have left, catches up with
    // the closing certificate their stores keep; every one serves a verified value.
    for url in &urls {
        follow(url, target, true);
    }
}

#[test]
fn a_validator_joins_lamina_light_follows_from_genesis_and_a_later_full_node_syncs() {
    let _one_network_at_a_time = one_network_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = lamina(&["chain-spec", "export", "--preset", "local-pos"]);
    spec["genesis"]["staking"]["params"]["epoch_blocks"] = serde_json::json!(EPOCH);
    spec["genesis"]["staking"]["params"]["max_validators"] = serde_json::json!(5);
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let chain = spec_path.to_str().unwrap();
    let (mut validators, bootnode) = four(dir.path(), chain);
    let urls: Vec<String> = validators.iter().map(Validator::url).collect();
    let runtime = current_thread();
    for validator in &mut validators {
        validator.start(&bootnode);
    }
    runtime.block_on(wait_for(
        &mut validators,
        Height(2),
        "four start",
        dir.path(),
    ));

    // eve, a new key funded by alice, registers as a candidate: the set grows to five (eve
    // runs no node; four of five are a quorum).
    let keystore = dir.path().join("keys");
    let keystore = keystore.to_str().unwrap();
    let eve = lamina(&[
        "key",
        "generate",
        "eve",
        "--keystore",
        keystore,
        "--output",
        "json",
    ]);
    let eve_key = eve[0]["public_key"].as_str().unwrap().to_string();
    let eve_address = eve[0]["address"].as_str().unwrap().to_string();
    let sent = lamina(&[
        "tx",
        "transfer",
        "--to",
        &eve_address,
        "--amount",
        "10000000000000000000",
        "--rpc",
        &urls[0],
        "--output",
        "json",
    ]);
    assert_eq!(sent["receipt"]["outcome"], "Success", "{sent}");
    // An idle account, whose balance stays put while the validators' rewards move theirs.
    let idle = format!("0x{}", "07".repeat(32));
    let sent = lamina(&[
        "tx", "transfer", "--to", &idle, "--amount", "777", "--rpc", &urls[0], "--output", "json",
    ]);
    assert_eq!(sent["receipt"]["outcome"], "Success", "{sent}");
    let call = serde_json::json!({ "register": { "key": eve_key, "bond": "2000000000000000000" } });
    let registered = lamina(&[
        "tx",
        "call",
        "staking",
        &call.to_string(),
        "--from",
        "eve",
        "--keystore",
        keystore,
        "--rpc",
        &urls[1],
        "--output",
        "json",
    ]);
    assert_eq!(registered["receipt"]["outcome"], "Success", "{registered}");
    let at = registered["height"].as_u64().unwrap();
    // Past at least three boundaries, and two after the registration: eve's set is in force.
    let upto = Height((3 * EPOCH + 2).max(at + 2 * EPOCH + 2));
    runtime.block_on(wait_for(
        &mut validators,
        upto,
        "five-validator set in force",
        dir.path(),
    ));

    // `lamina light` knows only the spec: it proves every set change from genesis, eve's
    // arrival among them, and a verified balance.
    let light = |args: &[&str], url: &str| {
        let mut all = vec!["light", "--rpc", url, "--chain", chain];
        all.extend_from_slice(args);
        Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(&all)
            .output()
            .unwrap()
    };
    let followed = light(&["follow", "--until", &upto.0.to_string()], &urls[2]);
    let text = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&followed.stderr)
    );
    let joined_at: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(1 joined, 0 left)"))
        .collect();
    assert_eq!(joined_at.len(), 1, "{text}");
    assert!(joined_at[0].contains("5 validators"), "{text}");
    assert!(text.contains(&format!("joined {eve_key}")), "{text}");
    let epochs = text
        .lines()
        .filter(|l| l.starts_with("set of epoch"))
        .count() as u64;
    assert!(epochs >= 3, "{epochs} set changes proven: {text}");
    assert!(
        text.contains(&format!("sure of height {}", upto.0))
            || text.lines().any(|l| {
                l.strip_prefix("sure of height ")
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|h| h.parse::<u64>().ok())
                    .is_some_and(|h| h >= upto.0)
            }),
        "{text}"
    );
    let balance = light(&["balance", &idle, "--output", "json"], &urls[3]);
    assert!(
        balance.status.success(),
        "{}",
        String::from_utf8_lossy(&balance.stderr)
    );
    let balance: serde_json::Value = serde_json::from_slice(&balance.stdout).unwrap();
    assert_eq!(balance["value"]["amount"], "777", "{balance}");
    assert_eq!(balance["verified"], true);

    // A full node started now syncs from genesis through the set change, checks every
    // certificate against the set its own state holds, and serves the same blocks and roots.
    let mut full = Validator {
        name: "full",
        chain: chain.to_string(),
        base: dir.path().join("full"),
        rpc: free_port(),
        metrics: free_port(),
        p2p: free_port(),
        // The first endpoint named is down: the full node turns to the next.
        follow: Some(format!("http://127.0.0.1:{},{}", free_port(), urls[0])),
        child: None,
    };
    full.start(&bootnode);
    let head = runtime.block_on(finalized(&urls[0])).unwrap();
    runtime.block_on(wait_for(
        std::slice::from_mut(&mut full),
        head,
        "the full node syncs",
        dir.path(),
    ));
    let heights: Vec<u64> = (1..=head.0).collect();
    runtime.block_on(same_blocks(&urls[0], &full.url(), &heights));
    let balance_at = |url: &str| {
        lamina(&["query", "balance", &idle, "--rpc", url, "--output", "json"])["amount"].clone()
    };
    assert_eq!(balance_at(&full.url()), "777");
    // It serves finality proofs a light client checks, as a validator does.
    let from_full = light(&["head"], &full.url());
    assert!(
        from_full.status.success(),
        "{}",
        String::from_utf8_lossy(&from_full.stderr)
    );
    // A transaction submitted to the full node reaches the validators and comes back final.
    let relayed = lamina(&[
        "tx",
        "transfer",
        "--to",
        &idle,
        "--amount",
        "5",
        "--rpc",
        &full.url(),
        "--output",
        "json",
    ]);
    assert_eq!(relayed["receipt"]["outcome"], "Success", "{relayed}");
    assert_eq!(balance_at(&full.url()), "782", "executed on the full node");
    assert_eq!(balance_at(&urls[2]), "782", "executed by the validators");
    let log = std::fs::read_to_string(full.base.with_extension("log")).unwrap();
    assert!(
        log.contains("\"follow\""),
        "the full node ran the follow engine: {log}"
    );
}

/// Follows the chain at `url` with a light client from genesis (`genesis` the set of epoch
/// 0): syncs to the head, then checks the finality proof of every height up to `upto` and,
/// with `value`, a verified account.
async fn light_follow(
    url: &str,
    chain_id: lamina_interop::ChainId,
    genesis: &[lamina_interop::crypto::PublicKey],
    upto: Height,
    value: bool,
) {
    use lamina_app::light::LightNode;
    use lamina_interop::finality::ValidatorSet;
    use lamina_interop::light::{Checkpoint, LightClient, LightParams};
    use lamina_interop::{Hash, Timestamp};

    let now = || {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        Timestamp(since.as_millis() as u64)
    };
    let params = LightParams {
        chain_id,
        epoch_blocks: Some(EPOCH),
        trusting_period_ms: 3_600_000,
    };
    let checkpoint = Checkpoint {
        height: Height(0),
        block: Hash::ZERO,
        timestamp: now(),
        set: ValidatorSet::new(0, genesis.to_vec()).unwrap(),
    };
    let client = LightClient::new(params, checkpoint, now()).unwrap();
    let mut light = LightNode::new(RpcClient::new(url).unwrap(), client);
    let sure = light.sync(now()).await.unwrap();
    assert!(sure >= upto, "{url}: sure of {sure}, wanted {upto}");
    for epoch in 1..=upto.0 / EPOCH {
        assert!(
            light.client().set(epoch).is_some(),
            "{url}: set of epoch {epoch}"
        );
    }
    for height in 1..=upto.0 {
        light.verify(Height(height), now()).await.unwrap();
    }
    if !value {
        return;
    }
    let alice = lamina(&["key", "inspect", "alice", "--output", "json"])[0]["address"].clone();
    let alice: Address = serde_json::from_value(alice).unwrap();
    let key = lamina_agreement::modules::accounts::account_key(&alice);
    let (at, value) = light.value(&key, now).await.unwrap();
    assert!(
        value.is_some(),
        "{url}: alice's account at state height {at}"
    );
}

/// `lamina testnet --validators 7` from one command: seven validators (three on keys the
/// testnet generated into its keystore) finalize; two killed with SIGKILL are started again
/// by the testnet, which says so, and catch up, holding the same blocks as alice; Ctrl-C
/// (SIGINT to its process group) stops it all with status 0.
#[test]
fn seven_validators_from_one_command_survive_two_kill_9s() {
    let _one_network_at_a_time = one_network_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("testnet.err");
    // Ports out of `unused`'s range (20000 to 31999), which the other tests here draw from.
    let mut testnet = Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(["testnet", "--validators", "7", "--p2p-port", "18000"])
        .arg("--base-path")
        .arg(dir.path().join("net"))
        .args(["--output", "json"])
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        // Its own process group, as a terminal gives a command, which its validators join.
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = testnet.stdout.take().unwrap();
    let mut text = String::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let members: serde_json::Value = loop {
        let line = lines.next().unwrap_or_else(|| {
            panic!(
                "the testnet printed no members: {text}\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        text.push_str(&line.unwrap());
        if let Ok(members) = serde_json::from_str(&text) {
            break members;
        }
    };
    let members = members.as_array().unwrap().clone();
    let names: Vec<&str> = members
        .iter()
        .map(|m| m["validator"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "alice",
            "bob",
            "charlie",
            "dave",
            "validator5",
            "validator6",
            "validator7"
        ]
    );
    for generated in &names[4..] {
        assert!(dir
            .path()
            .join("net/keystore")
            .join(format!("{generated}.json"))
            .exists());
    }
    let urls: Vec<String> = members
        .iter()
        .map(|m| m["rpc"].as_str().unwrap().to_string())
        .collect();
    let runtime = current_thread();
    let all_at = |height: u64, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let heights = runtime.block_on(heights_of(&urls));
            if heights.iter().all(|h| h.is_some_and(|h| h.0 >= height)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: heights {heights:?}, wanted {height}; testnet said:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    all_at(5, "seven finalize");

    // f = 2 of 7: two validators down leave a quorum of five.
    for member in &members[5..] {
        let pid = member["pid"].as_u64().unwrap().to_string();
        assert!(Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success());
    }
    let killed_at = runtime
        .block_on(finalized(&urls[0]))
        .expect("alice answers")
        .0;
    all_at(
        killed_at + 5,
        "the two killed are started again and catch up",
    );
    let said = std::fs::read_to_string(&stderr).unwrap();
    for name in ["validator6", "validator7"] {
        assert!(
            said.contains(&format!("validator {name} exited")) && said.contains("started again"),
            "the testnet did not report restarting {name}:\n{said}"
        );
    }
    runtime.block_on(same_blocks(&urls[0], &urls[6], &[killed_at, killed_at + 4]));

    // Ctrl-C in a terminal: SIGINT to the testnet and its validators at once. Whichever
    // sees it first, the testnet stops them all with status 0 and starts none again.
    assert!(Command::new("kill")
        .args(["-INT", "--", &format!("-{}", testnet.id())])
        .status()
        .unwrap()
        .success());
    let status = testnet.wait().unwrap();
    let said = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        status.success(),
        "the testnet exited with {status}:\n{said}"
    );
    assert_eq!(
        said.matches("started again").count(),
        2,
        "a validator stopped by Ctrl-C was started again:\n{said}"
    );
    for member in &members[..5] {
        let pid = member["pid"].as_u64().unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "validator process {pid} outlived the testnet"
        );
    }
}

/// The finalized height of each of `urls`.
async fn heights_of(urls: &[String]) -> Vec<Option<Height>> {
    let mut heights = Vec::new();
    for url in urls {
        heights.push(finalized(url).await);
    }
    heights
}
