//! `lamina testnet`: a BFT chain of several validators on this machine, one `lamina node`
//! process each, started exactly as a user would start them by hand:
//!
//! ```text
//! lamina node --chain local --validator alice   --instance 0 --base-path DIR/alice
//! lamina node --chain local --validator bob     --instance 1 --base-path DIR/bob
//! ...
//! ```
//!
//! The first four validators are the development accounts alice, bob, charlie and dave; the
//! fifth and on are `validator5`, `validator6`, ..., their keys generated into
//! `DIR/keystore` the first time and read back after (a network restarted on the same
//! directory keeps its validators), and started with `--keystore DIR/keystore`. Four
//! validators run the `local` preset itself (`local-pos` with `--staking`); any other number
//! runs a copy of it for that set (written to `DIR/chain.json`), whose extra validators are
//! funded like the development accounts. Each node logs to `DIR/NAME/node.log`.
//!
//! The testnet supervises its validators: one that exits (a crash, `kill -9`) is reported
//! and started again with the same command, and catches up from its peers; one that exits
//! within [`CRASH_LOOP`] of being started stops the testnet with the error. Ctrl-C (or
//! SIGTERM) stops them all with SIGTERM, so each finishes its block in flight and flushes.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

use crate::keys::Keystore;
use crate::shell::{print_json, say, Output};
use crate::spec::{dev_key, ChainSpec, Preset, DEV_ACCOUNTS, DEV_BALANCE};
use lamina_interop::crypto::PublicKey;
use lamina_interop::Address;

/// Most validators a local network runs (each a process on this machine).
pub(crate) const MOST_VALIDATORS: usize = 32;

/// A validator that exits sooner than this after it was started is not started again.
pub(crate) const CRASH_LOOP: std::time::Duration = std::time::Duration::from_secs(2);

/// What `lamina testnet` is asked for.
#[derive(clap::Args)]
pub(crate) struct TestnetArgs {
    /// How many validators, 1 to 32: the development accounts alice, bob, charlie and dave,
    /// then validator5, validator6, ... with keys generated into the network's keystore.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// The first validator's peer-to-peer port; the others' are 10 apart above it, as their
    /// JSON-RPC and metrics ports are above the defaults (`--instance`).
    #[arg(long, default_value_t = crate::config::DEFAULT_P2P_PORT)]
    p2p_port: u16,
    /// Where the validators keep their data (a temporary directory, removed on exit, by
    /// default).
    #[arg(long)]
    base_path: Option<PathBuf>,
    /// Proof of stake (the `local-pos` preset): the validators bonded, block rewards, and
    /// slashing of equivocation. Without it, a fixed set (`local`).
    #[arg(long)]
    staking: bool,
    /// Output format of the endpoints.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// A validator of a local network: the key name `--validator` takes, and its public key.
pub(crate) struct LocalValidator {
    pub(crate) name: String,
    pub(crate) key: PublicKey,
    /// Whether its key is a file of the network's keystore (the development accounts' keys
    /// are built in).
    pub(crate) in_keystore: bool,
}

/// The `n` validators of a local network: the development accounts first, then
/// `validator5`, `validator6`, ... whose keys are in `keystore`: generated the first time,
/// read back after.
pub(crate) fn local_validators(n: usize, keystore: &Path) -> anyhow::Result<Vec<LocalValidator>> {
    let store = Keystore::new(keystore);
    (0..n)
        .map(|i| {
            if let Some(name) = DEV_ACCOUNTS.get(i) {
                return Ok(LocalValidator {
                    name: name.to_string(),
                    key: dev_key(name).public_key(),
                    in_keystore: false,
                });
            }
            let name = format!("validator{}", i + 1);
            let key = if store.contains(&name) {
                store.secret(&name)?.public_key()
            } else {
                store.generate(&name)?.public_key
            };
            Ok(LocalValidator {
                name,
                key,
                in_keystore: true,
            })
        })
        .collect()
}

/// The local chain for `validators` (not the four development accounts, whose chain is the
/// `local` preset): its consensus set, its extra validators funded like the development
/// accounts, and with `staking` each of them bonded.
pub(crate) fn local_spec(
    chain: &crate::Chain,
    validators: &[LocalValidator],
    staking: bool,
) -> ChainSpec {
    let keys: Vec<PublicKey> = validators.iter().map(|v| v.key).collect();
    let mut spec = chain.preset(Preset::Local);
    spec.consensus = ChainSpec::local_consensus(keys.clone());
    spec.fund_more(
        validators
            .iter()
            .filter(|v| v.in_keystore)
            .map(|v| (Address::of(&v.key), DEV_BALANCE)),
    );
    if staking {
        spec.stake(&keys);
    }
    spec
}

/// One validator of the testnet, as printed.
#[derive(serde::Serialize)]
struct Member {
    validator: String,
    /// Its process (a new one after a restart).
    pid: u32,
    rpc: String,
    metrics: String,
    p2p: String,
    base_path: PathBuf,
    log: PathBuf,
    command: String,
}

/// Runs the testnet until SIGINT or SIGTERM.
pub(crate) fn run(args: TestnetArgs, chain: &crate::Chain) -> anyhow::Result<()> {
    if args.validators == 0 || args.validators > MOST_VALIDATORS {
        bail!("--validators must be 1 to {MOST_VALIDATORS}");
    }
    let (temporary, dir) = crate::shell::data_dir(args.base_path.as_deref(), "lamina-testnet-")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let keystore = dir.join("keystore");
    let validators = local_validators(args.validators, &keystore)?;
    let last_offset = crate::config::INSTANCE_STRIDE as usize * (args.validators - 1);
    if usize::from(args.p2p_port) + last_offset > usize::from(u16::MAX) {
        bail!(
            "--p2p-port {} leaves no room for {} validators",
            args.p2p_port,
            args.validators
        );
    }
    let spec_arg = if args.validators == DEV_ACCOUNTS.len()
        && args.p2p_port == crate::config::DEFAULT_P2P_PORT
    {
        if args.staking { "local-pos" } else { "local" }.to_string()
    } else {
        let mut spec = local_spec(chain, &validators, args.staking);
        if let crate::spec::ConsensusSpec::Simplex { bootnodes, .. } = &mut spec.consensus {
            for bootnode in bootnodes {
                bootnode.address.set_port(args.p2p_port);
            }
        }
        let path = dir.join("chain.json");
        std::fs::write(&path, serde_json::to_string_pretty(&spec)?)
            .with_context(|| format!("writing {}", path.display()))?;
        path.display().to_string()
    };

    let exe = std::env::current_exe().context("finding this executable")?;
    // Listen before the first validator starts: a signal during start-up stops the ones
    // already running instead of leaving them behind.
    let runtime = crate::shell::tokio_runtime()?;
    let mut shutdown = runtime.block_on(async { crate::shell::Shutdown::listen() })?;
    let mut children = Vec::new();
    let mut members = Vec::new();
    for (instance, validator) in validators.iter().enumerate() {
        if runtime.block_on(async { shutdown.received() }) {
            stop(children.iter_mut().map(|s: &mut Supervised| &mut s.child));
            return Ok(());
        }
        let name = &validator.name;
        let base_path = dir.join(name);
        std::fs::create_dir_all(&base_path)?;
        let log = base_path.join("node.log");
        let mut node_args = vec![
            "node".to_string(),
            "--chain".to_string(),
            spec_arg.clone(),
            "--validator".to_string(),
            name.to_string(),
            "--instance".to_string(),
            instance.to_string(),
            "--base-path".to_string(),
            base_path.display().to_string(),
        ];
        if validator.in_keystore {
            node_args.extend(["--keystore".to_string(), keystore.display().to_string()]);
        }
        if args.p2p_port != crate::config::DEFAULT_P2P_PORT {
            node_args.extend(["--p2p-port".to_string(), args.p2p_port.to_string()]);
        }
        let (child, endpoints) = match start(&exe, &node_args, &log) {
            Ok(started) => started,
            Err(err) => {
                // The validators already running would otherwise outlive the testnet.
                stop(children.iter_mut().map(|s: &mut Supervised| &mut s.child));
                return Err(
                    err.context(format!("starting validator {name}; see {}", log.display()))
                );
            }
        };
        let pid = child.id();
        children.push(Supervised {
            name: name.clone(),
            args: node_args.clone(),
            log: log.clone(),
            child,
            started: std::time::Instant::now(),
        });
        let p2p_port =
            args.p2p_port + crate::config::INSTANCE_STRIDE * u16::try_from(instance).unwrap_or(0);
        members.push(Member {
            validator: name.to_string(),
            pid,
            rpc: endpoints["rpc"].as_str().unwrap_or_default().to_string(),
            metrics: endpoints["metrics"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            p2p: format!("127.0.0.1:{p2p_port}"),
            base_path,
            log,
            command: format!("lamina {}", node_args.join(" ")),
        });
    }
    match args.output {
        Output::Json => print_json(&members)?,
        Output::Text => {
            say(format!(
                "lamina testnet: {} validators of chain {spec_arg}, data in {}{}",
                members.len(),
                dir.display(),
                if temporary.is_some() {
                    " (temporary, removed on exit)"
                } else {
                    ""
                }
            ))?;
            for member in &members {
                say(format!(
                    "  {:<11} JSON-RPC {}  p2p {}  metrics {}\n           log {}\n           by hand: {}",
                    member.validator,
                    member.rpc,
                    member.p2p,
                    member.metrics,
                    member.log.display(),
                    member.command
                ))?;
            }
            say("Ctrl-C stops them all.")?;
        }
    }

    let watched = runtime.block_on(watch(&exe, &mut children, &mut shutdown));
    stop(children.iter_mut().map(|s| &mut s.child));
    drop(temporary);
    watched
}

/// Starts one node with its stdout piped, stderr to `log`, and reads the endpoints it prints.
pub(crate) fn start(
    exe: &Path,
    args: &[String],
    log: &Path,
) -> anyhow::Result<(Child, serde_json::Value)> {
    let log_file = std::fs::File::create(log)?;
    let mut child = Command::new(exe)
        .args(args)
        .args(["--output", "json"])
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("the node's output is not readable");
    };
    let mut text = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        text.push_str(&line);
        if text.trim_end().ends_with('}') {
            break;
        }
    }
    match serde_json::from_str(&text) {
        Ok(endpoints) => Ok((child, endpoints)),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait()?;
            bail!("the node exited ({status}) before serving")
        }
    }
}

/// A validator process the testnet started, and how to start it again.
struct Supervised {
    name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Child,
    started: std::time::Instant,
}

/// Waits for SIGINT or SIGTERM. A validator that fails is reported on stderr and started
/// again (its log goes on in a new file beside the old, `node.log.1`, ...); one that failed
/// within [`CRASH_LOOP`] of its start stops the testnet. One that exits with success was
/// asked to stop (Ctrl-C in a terminal reaches the nodes as well as the testnet, and a node
/// may see it first), so it stops the testnet too rather than being started again.
async fn watch(
    exe: &Path,
    children: &mut [Supervised],
    shutdown: &mut crate::shell::Shutdown,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        for supervised in children.iter_mut() {
            let Some(status) = supervised.child.try_wait()? else {
                continue;
            };
            let name = &supervised.name;
            if status.success() {
                eprintln!("lamina testnet: validator {name} stopped; stopping the others");
                return Ok(());
            }
            if supervised.started.elapsed() < CRASH_LOOP {
                bail!(
                    "validator {name} exited ({status}) within {CRASH_LOOP:?} of its start; see {}",
                    supervised.log.display()
                );
            }
            // The old log is kept: it says why the validator stopped.
            let kept = next_free(&supervised.log);
            std::fs::rename(&supervised.log, &kept)?;
            let (child, _) = start(exe, &supervised.args, &supervised.log)
                .with_context(|| format!("restarting validator {name}"))?;
            eprintln!(
                "lamina testnet: validator {name} exited ({status}); started again as process {} (the old log is {})",
                child.id(),
                kept.display()
            );
            supervised.child = child;
            supervised.started = std::time::Instant::now();
        }
    }
}

/// `path.1`, `path.2`, ...: the first that does not exist.
fn next_free(path: &Path) -> PathBuf {
    let mut n = 1u32;
    loop {
        let candidate = PathBuf::from(format!("{}.{n}", path.display()));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// SIGTERM to every node still running, then waits for each.
pub(crate) fn stop<'a>(children: impl IntoIterator<Item = &'a mut Child>) {
    let mut children: Vec<&mut Child> = children.into_iter().collect();
    for child in &children {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
}
