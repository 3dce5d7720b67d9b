//! `lamina testnet`: a BFT chain of several validators on this machine, one `lamina node`
//! process each, started exactly as a user would start them by hand:
//!
//! ```text
//! lamina node --chain local --validator alice   --instance 0 --base-path DIR/alice
//! lamina node --chain local --validator bob     --instance 1 --base-path DIR/bob
//! ...
//! ```
//!
//! Four validators run the `local` preset itself (`local-pos` with `--staking`); fewer run a
//! copy of it trimmed to that many (written to `DIR/chain.json`). Each node logs to `DIR/NAME/node.log`. Ctrl-C (or SIGTERM)
//! stops them all with SIGTERM, so each finishes its block in flight and flushes.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

use crate::shell::{print_json, say, Output};
use crate::spec::{ChainSpec, Preset, DEV_ACCOUNTS};

/// What `lamina testnet` is asked for.
#[derive(clap::Args)]
pub(crate) struct TestnetArgs {
    /// How many validators (1 to 4: the development accounts alice, bob, charlie, dave).
    #[arg(long, default_value_t = 4)]
    validators: usize,
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

/// One validator of the testnet, as printed.
#[derive(serde::Serialize)]
struct Member {
    validator: String,
    rpc: String,
    metrics: String,
    p2p: String,
    base_path: PathBuf,
    log: PathBuf,
    command: String,
}

/// Runs the testnet until SIGINT or SIGTERM.
pub(crate) fn run(args: TestnetArgs, chain: &crate::Chain) -> anyhow::Result<()> {
    if args.validators == 0 || args.validators > DEV_ACCOUNTS.len() {
        bail!(
            "--validators must be 1 to {}: a local testnet uses the development accounts' well-known keys; for more validators, write a chain spec and start each node by hand",
            DEV_ACCOUNTS.len()
        );
    }
    let (temporary, dir) = crate::shell::data_dir(args.base_path.as_deref(), "lamina-testnet-")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spec_arg = if args.validators == DEV_ACCOUNTS.len() {
        if args.staking { "local-pos" } else { "local" }.to_string()
    } else {
        let mut spec = chain.preset(Preset::Local);
        spec.consensus = ChainSpec::local_consensus(args.validators);
        if args.staking {
            spec.stake(args.validators);
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
    for (instance, name) in DEV_ACCOUNTS.iter().take(args.validators).enumerate() {
        if runtime.block_on(async { shutdown.received() }) {
            stop(&mut children);
            return Ok(());
        }
        let base_path = dir.join(name);
        std::fs::create_dir_all(&base_path)?;
        let log = base_path.join("node.log");
        let node_args = [
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
        let (child, endpoints) = match start(&exe, &node_args, &log) {
            Ok(started) => started,
            Err(err) => {
                // The validators already running would otherwise outlive the testnet.
                stop(&mut children);
                return Err(
                    err.context(format!("starting validator {name}; see {}", log.display()))
                );
            }
        };
        children.push(child);
        let p2p_port = crate::config::DEFAULT_P2P_PORT
            + crate::config::INSTANCE_STRIDE * u16::try_from(instance).unwrap_or(0);
        members.push(Member {
            validator: name.to_string(),
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
                    "  {:<8} JSON-RPC {}  p2p {}  metrics {}\n           log {}\n           by hand: {}",
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

    let watched = runtime.block_on(watch(&mut children, &mut shutdown));
    stop(&mut children);
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

/// Waits for SIGINT or SIGTERM; a validator that exits on its own is reported.
async fn watch(
    children: &mut [Child],
    shutdown: &mut crate::shell::Shutdown,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        for (i, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                bail!("validator {} exited: {status}", DEV_ACCOUNTS[i]);
            }
        }
    }
}

/// SIGTERM to every node still running, then waits for each.
pub(crate) fn stop(children: &mut [Child]) {
    for child in children.iter() {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in children.iter_mut() {
        let _ = child.wait();
    }
}
