//! `lamina light`: a light node that follows a chain from one untrusted JSON-RPC endpoint.
//! It trusts the chain spec (chain id, epochs, the genesis validators) and nothing the
//! endpoint says: every header is checked against a quorum of its epoch's set, every set
//! change against a state proof in a header the previous set signed, and every value against
//! the state root a verified header names ([`lamina_app::light::LightNode`]).
//!
//! ```text
//! lamina light --rpc URL --chain SPEC head                 the height it is sure of
//! lamina light ... follow [--until H]                      each verified height, set changes
//! lamina light ... balance ADDRESS [--asset N]             a verified balance
//! lamina light ... query MODULE QUERY                      a module's query over verified state
//! ```
//!
//! An endpoint that fails a check is named as lying, with what did not verify, and the
//! command exits with status 2.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Subcommand;
use lamina_agreement::modules::bank;
use lamina_app::light::{LightNode, LightNodeError};
use lamina_app::rpc::RpcClient;
use lamina_interop::light::{Checkpoint, LightClient, LightParams};
use lamina_interop::{Address, Hash, Height, Timestamp};

use crate::chain::Chain;
use crate::follow::light_params;
use crate::shell::{print_json, say, tokio_runtime, Output};
use crate::spec::{ChainSpec, ConsensusSpec};

/// Exit status of a command refused because the endpoint's answer did not verify.
pub(crate) const LYING: i32 = 2;

#[derive(clap::Args)]
pub(crate) struct LightArgs {
    #[command(subcommand)]
    command: LightCommand,
    /// The endpoint followed (any node of the chain; trusted for nothing).
    #[arg(
        long,
        env = "LAMINA_RPC",
        default_value = "http://127.0.0.1:9944",
        global = true
    )]
    rpc: String,
    /// The chain: a preset (dev, local, local-pos) or a chain spec file. Its chain id,
    /// epochs and genesis validators are what the light node trusts.
    #[arg(long, env = "LAMINA_CHAIN", default_value = "dev", global = true)]
    chain: String,
    /// How long a verified header stays a basis of trust, in seconds (default: two thirds
    /// of the unbonding period on a proof-of-stake chain; no limit on a chain whose
    /// validators are fixed by its spec).
    #[arg(long, global = true)]
    trusting_period: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum LightCommand {
    /// Sync to the endpoint's finalized head and print the height verified.
    Head,
    /// Follow the chain, printing each newly verified height and each set change.
    Follow {
        /// Stop once this height is verified (follow forever when omitted).
        #[arg(long)]
        until: Option<u64>,
    },
    /// An account's balance, verified.
    Balance {
        /// The account.
        address: Address,
        /// The asset (0 by default).
        #[arg(long)]
        asset: Option<u32>,
    },
    /// Ask a module a query of its own (JSON in the form of its query type), answered from
    /// verified state.
    Query {
        /// The module's name.
        module: String,
        /// The query, JSON.
        query: String,
    },
}

fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Timestamp(millis)
}

/// The client the chain spec describes, trusting its genesis set as of now: the spec is
/// what the user chose to trust.
fn client(spec: &ChainSpec, trusting_period: Option<u64>) -> anyhow::Result<LightClient> {
    let (chain_id, epoch_blocks, genesis) = light_params(spec)?;
    let trusting_period_ms = match trusting_period {
        Some(seconds) => seconds.saturating_mul(1_000),
        None => default_trusting_period_ms(spec)?,
    };
    let params = LightParams {
        chain_id,
        epoch_blocks,
        trusting_period_ms,
    };
    let checkpoint = Checkpoint {
        height: Height(0),
        block: Hash::ZERO,
        timestamp: now(),
        set: genesis,
    };
    Ok(LightClient::new(params, checkpoint, now())?)
}

/// Two thirds of the unbonding period, at the spec's block time, on a proof-of-stake chain;
/// no limit where the validators are fixed by the spec.
pub(crate) fn default_trusting_period_ms(spec: &ChainSpec) -> anyhow::Result<u64> {
    let Some(params) = spec.staking()?.and_then(|section| section.params) else {
        return Ok(u64::MAX);
    };
    let block_time_ms = match spec.consensus {
        ConsensusSpec::Solo { block_time_ms } => block_time_ms,
        ConsensusSpec::Simplex { block_time_ms, .. } => block_time_ms,
    };
    Ok(params
        .unbonding_blocks
        .saturating_mul(block_time_ms.max(1))
        .saturating_mul(2)
        / 3)
}

pub(crate) fn run(args: LightArgs, chain: &Chain) -> anyhow::Result<()> {
    let spec = chain.spec(&args.chain)?;
    let runtime = chain.runtime(&spec)?;
    let client = client(&spec, args.trusting_period)?;
    let rpc = RpcClient::new(&args.rpc)?;
    let mut light = LightNode::new(rpc, client);
    let output = args.output;
    let result = tokio_runtime()?.block_on(async {
        match args.command {
            LightCommand::Head => {
                let height = light.sync(now()).await?;
                report(output, &light, height, serde_json::json!({}))
            }
            LightCommand::Follow { until } => follow(&mut light, until, output).await,
            LightCommand::Balance { address, asset } => {
                let asset = asset.unwrap_or(bank::NATIVE);
                let (height, amount) = light
                    .read(now, |view| bank::committed_balance(view, asset, &address))
                    .await?;
                let amount = amount.map_err(|e| anyhow::anyhow!("balance: {e}"))?;
                answer(
                    output,
                    height,
                    serde_json::json!({ "address": address, "asset": asset, "amount": amount.to_string() }),
                )
            }
            LightCommand::Query { module, query } => {
                let query: serde_json::Value =
                    serde_json::from_str(&query).context("the query is not JSON")?;
                if runtime.module_index(&module).is_none() {
                    anyhow::bail!("chain {} has no module named {module}", spec.name);
                }
                let (height, value) = light
                    .read(now, |view| runtime.query(&module, query.clone(), view))
                    .await?;
                let value = value.map_err(|e| anyhow::anyhow!("{module}: {e}"))?;
                answer(output, height, value)
            }
        }
    });
    match result {
        Err(err) => match err.downcast_ref::<LightNodeError>() {
            Some(refused @ LightNodeError::Refused { .. }) => {
                eprintln!(
                    "error: the endpoint {} lies: {refused}; nothing it said was believed",
                    args.rpc
                );
                std::process::exit(LYING);
            }
            _ => Err(err),
        },
        ok => ok,
    }
}

/// Prints a verified answer and the state height it holds at.
fn answer(output: Output, height: Height, value: serde_json::Value) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(
            &serde_json::json!({ "state_height": height, "verified": true, "value": value }),
        ),
        Output::Text => {
            say(serde_json::to_string_pretty(&value)?)?;
            say(format!(
                "verified against the state root of height {height}, named by a final header"
            ))
        }
    }
}

/// Prints the height the client is sure of, its epoch and set.
fn report(
    output: Output,
    light: &LightNode,
    height: Height,
    extra: serde_json::Value,
) -> anyhow::Result<()> {
    let client = light.client();
    let (_, block) = client.latest();
    let epoch = client.params().epoch_of(height);
    let validators = client.set(epoch).map_or(0, |set| set.keys.len());
    match output {
        Output::Json => print_json(&serde_json::json!({
            "height": height,
            "block": block,
            "epoch": epoch,
            "validators": validators,
            "verified": true,
            "extra": extra,
        })),
        Output::Text => say(format!(
            "sure of height {height} (block {block}, epoch {epoch}, {validators} validators)"
        )),
    }
}

/// Follows the endpoint, saying each new verified height and each set learned.
async fn follow(light: &mut LightNode, until: Option<u64>, output: Output) -> anyhow::Result<()> {
    let mut last = Height(0);
    let mut known_epoch = 0;
    loop {
        let height = light.sync(now()).await?;
        if height > last {
            while let Some(set) = light.client().set(known_epoch + 1) {
                known_epoch += 1;
                let learned = known_epoch;
                let client = light.client();
                let before: Vec<_> = client
                    .set(learned - 1)
                    .map(|set| set.keys.to_vec())
                    .unwrap_or_default();
                let joined: Vec<String> = set
                    .keys
                    .iter()
                    .filter(|k| !before.contains(k))
                    .map(|k| k.to_string())
                    .collect();
                let left: Vec<String> = before
                    .iter()
                    .filter(|k| !set.keys.contains(k))
                    .map(|k| k.to_string())
                    .collect();
                match output {
                    Output::Json => print_json(&serde_json::json!({
                        "epoch": learned,
                        "validators": set.keys.len(),
                        "joined": joined,
                        "left": left,
                    }))?,
                    Output::Text => say(format!(
                        "set of epoch {learned} proven: {} validators ({} joined, {} left){}",
                        set.keys.len(),
                        joined.len(),
                        left.len(),
                        joined
                            .iter()
                            .map(|k| format!("\n  joined {k}"))
                            .chain(left.iter().map(|k| format!("\n  left {k}")))
                            .collect::<String>()
                    ))?,
                }
            }
            report(output, light, height, serde_json::json!({}))?;
            last = height;
        }
        if until.is_some_and(|target| height.0 >= target) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
