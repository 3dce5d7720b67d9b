//! The command line.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use commonware_runtime::Runner as _;
use lamina_agreement::modules::bank::BankCall;
use lamina_app::rpc::RpcClient;
use lamina_interop::codec;
use lamina_interop::messages::CATALOGUE;
use lamina_interop::{Address, Hash, Height};

use crate::chain::Chain;
use crate::config::{self, Settings};
use crate::follow::FollowEngine;
use crate::keys::Keystore;
use crate::network::NetworkSettings;
use crate::node::{self, Fjall, NodeBuilder, Qmdb, Redb, SimplexEngine, SoloEngine};
use crate::scaffold::{self, Source, Template};
use crate::shell::{
    data_dir, default_keystore, init_logging, print_json, say, shutdown_signal, tokio_runtime,
    Output, Storage, NODE_LOG,
};
use crate::spec::{ConsensusSpec, Preset};

#[derive(Parser)]
#[command(name = "lamina", version, about = "Lamina: a modular blockchain SDK")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Node(NodeArgs),
    /// Create, show and list keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
        /// The keystore directory.
        #[arg(long, env = "LAMINA_KEYSTORE", global = true)]
        keystore: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
        output: Output,
    },
    /// Chain specs.
    ChainSpec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Sign and submit transactions.
    Tx {
        #[command(subcommand)]
        command: TxCommand,
    },
    /// Ask a node about its chain.
    Query {
        #[command(subcommand)]
        command: QueryCommand,
        /// The node's JSON-RPC URL.
        #[arg(
            long,
            env = "LAMINA_RPC",
            default_value = "http://127.0.0.1:9944",
            global = true
        )]
        rpc: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
        output: Output,
    },
    /// Follow a chain from one untrusted JSON-RPC endpoint as a light client, and answer
    /// balances and queries with values verified against the validators' signatures.
    Light(crate::light::LightArgs),
    /// Relay packets, acknowledgements and timeouts between two chains with the interchain
    /// module, creating and registering clients of each other when none link them.
    Relay(crate::relay::RelayArgs),
    /// Payment channels: open one with a peer, pay it off chain, close (by agreement or
    /// alone), and watch the chain for closes on old states.
    Channel(crate::channel::ChannelArgs),
    /// The node's database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Start a BFT chain of several validators on this machine, one process each.
    Testnet(crate::testnet::TestnetArgs),
    /// Measure end-to-end throughput: signed transfers through a chain built like `node`'s,
    /// until finalized and durable.
    Bench(crate::bench::BenchArgs),
    /// The load process of `bench --ingest rpc`.
    #[command(hide = true)]
    BenchLoad(crate::bench::LoadArgs),
    /// List the messages that cross between layers on the bus: who sends, who handles.
    Catalogue {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Create a chain from a template (`new NAME`), or add a module to one (`new module NAME`).
    New(NewArgs),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct NewArgs {
    #[command(subcommand)]
    module: Option<NewCommand>,
    /// The chain's name: lower-case letters, digits and '-'.
    name: Option<String>,
    /// The template.
    #[arg(long, value_enum, default_value_t = Template::Minimal)]
    template: Template,
    /// The directory to create the chain in (the current one by default).
    #[arg(long)]
    path: Option<PathBuf>,
    /// Depend on the Lamina crates of this checkout, by path (default: the checkout this
    /// binary was built from, if it is still there; otherwise published crates by version).
    #[arg(long, conflicts_with = "lamina_version")]
    lamina_path: Option<PathBuf>,
    /// Depend on published Lamina crates of this version.
    #[arg(long)]
    lamina_version: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Subcommand)]
enum NewCommand {
    /// Add a module skeleton to the chain in the current directory (or --path) and register it
    /// in its runtime.
    Module {
        /// The module's name: lower-case letters, digits and '_'.
        name: String,
        /// The chain's directory.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(clap::Args)]
struct NodeArgs {
    /// A development chain: one validator, funded dev accounts, data in a temporary
    /// directory unless --base-path is given.
    #[arg(long)]
    dev: bool,
    /// The chain: a preset (dev, local) or a chain spec file.
    #[arg(long, env = "LAMINA_CHAIN")]
    chain: Option<String>,
    /// A TOML configuration file (see `lamina.toml` in the book).
    #[arg(long, env = "LAMINA_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory.
    #[arg(long, env = "LAMINA_BASE_PATH")]
    base_path: Option<PathBuf>,
    /// JSON-RPC host (127.0.0.1 by default).
    #[arg(long, env = "LAMINA_RPC_HOST")]
    rpc_host: Option<IpAddr>,
    /// JSON-RPC port (9944 by default).
    #[arg(long, env = "LAMINA_RPC_PORT")]
    rpc_port: Option<u16>,
    /// Prometheus metrics port, on 127.0.0.1 (9615 by default).
    #[arg(long, env = "LAMINA_METRICS_PORT")]
    metrics_port: Option<u16>,
    /// Do not serve the explorer page (`GET /` on the JSON-RPC port).
    #[arg(long)]
    no_explorer: bool,
    /// Runs several nodes on one machine: adds 10 * N to every port.
    #[arg(long, env = "LAMINA_INSTANCE")]
    instance: Option<u16>,
    /// Authenticated-state page cache in 4 KiB pages (256 MiB per million keys is ideal).
    #[arg(long, env = "LAMINA_CACHE_PAGES")]
    cache_pages: Option<usize>,
    /// Index finalized transactions by id, for lookups and watched submissions (true by
    /// default; false saves about a tenth of a transfer's cost on a node that serves neither).
    #[arg(long, env = "LAMINA_TX_INDEX")]
    tx_index: Option<bool>,
    /// The key this validator signs blocks and votes with (BFT chains): a keystore name or a
    /// dev account (alice, bob, charlie, dave).
    #[arg(long, env = "LAMINA_VALIDATOR")]
    validator: Option<String>,
    /// Run a full node: follow the chain through these nodes' JSON-RPC (any nodes of the
    /// chain, in order of preference; the next takes over when one fails or lies), verify
    /// every block's finality certificate and execute it here; never vote.
    #[arg(
        long,
        env = "LAMINA_FOLLOW",
        value_delimiter = ',',
        conflicts_with = "validator"
    )]
    follow: Vec<String>,
    /// The keystore directory.
    #[arg(long, env = "LAMINA_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// Peer-to-peer listen host (0.0.0.0 by default).
    #[arg(long, env = "LAMINA_P2P_HOST")]
    p2p_host: Option<IpAddr>,
    /// Peer-to-peer port (30333 by default).
    #[arg(long, env = "LAMINA_P2P_PORT")]
    p2p_port: Option<u16>,
    /// The address other nodes dial to reach this one (127.0.0.1 and the p2p port by
    /// default).
    #[arg(long, env = "LAMINA_PUBLIC_ADDRESS")]
    public_address: Option<SocketAddr>,
    /// A node to dial at start, PUBLIC_KEY@HOST:PORT, besides the chain spec's (repeatable).
    #[arg(long = "bootnode", env = "LAMINA_BOOTNODES", value_delimiter = ',')]
    bootnodes: Vec<crate::spec::Bootnode>,
    /// The key-value store for blocks and the flat state.
    #[arg(long, value_enum, default_value_t = Storage::Fjall, env = "LAMINA_STORAGE")]
    storage: Storage,
    /// Output format of the endpoints printed at start.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a new random key.
    Generate {
        /// Its name.
        name: String,
    },
    /// Show a key's public key and address (a keystore key or a dev account).
    Inspect {
        /// Its name.
        name: String,
    },
    /// List the keystore.
    List,
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Print a preset's spec as JSON.
    Export {
        /// Which preset.
        #[arg(long, value_enum, default_value_t = Preset::Dev)]
        preset: Preset,
    },
}

#[derive(Subcommand)]
enum TxCommand {
    /// Call any module: the call is JSON, in the form of the module's call type
    /// (`{"transfer": {"to": "0x..", "asset": 0, "amount": 5}}` for bank). Waits for
    /// finality and prints the outcome.
    Call {
        /// The module's name.
        module: String,
        /// The call, JSON.
        call: String,
        /// The signing key: a keystore name or a dev account (alice, bob, charlie, dave).
        #[arg(long, default_value = "alice")]
        from: String,
        /// The tip offered to the block producer.
        #[arg(long, default_value_t = 0)]
        tip: u128,
        /// Most gas the call may use.
        #[arg(long, default_value_t = 500_000)]
        gas_limit: u64,
        /// The node's JSON-RPC URL.
        #[arg(long, env = "LAMINA_RPC", default_value = "http://127.0.0.1:9944")]
        rpc: String,
        /// The keystore directory.
        #[arg(long, env = "LAMINA_KEYSTORE")]
        keystore: Option<PathBuf>,
        /// Seconds to wait for finality.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Run it over the latest committed state and print its receipt, gas and fee,
        /// submitting nothing and changing nothing (`tx_dryRun`).
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Transfer an asset, wait for finality, print the outcome.
    Transfer {
        /// The recipient's address.
        #[arg(long)]
        to: Address,
        /// The amount, in the asset's smallest unit.
        #[arg(long)]
        amount: u128,
        /// The asset (0, the native one, by default).
        #[arg(long, default_value_t = 0)]
        asset: u32,
        /// The signing key: a keystore name or a dev account (alice, bob, charlie, dave).
        #[arg(long, default_value = "alice")]
        from: String,
        /// The tip offered to the block producer.
        #[arg(long, default_value_t = 0)]
        tip: u128,
        /// The node's JSON-RPC URL.
        #[arg(long, env = "LAMINA_RPC", default_value = "http://127.0.0.1:9944")]
        rpc: String,
        /// The keystore directory.
        #[arg(long, env = "LAMINA_KEYSTORE")]
        keystore: Option<PathBuf>,
        /// Seconds to wait for finality.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Run it over the latest committed state and print its receipt, gas and fee,
        /// submitting nothing and changing nothing (`tx_dryRun`).
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Subcommand)]
enum QueryCommand {
    /// An account's balance.
    Balance {
        /// The account.
        address: Address,
        /// The asset (0 by default).
        #[arg(long)]
        asset: Option<u32>,
    },
    /// An account's next nonce.
    Nonce {
        /// The account.
        address: Address,
    },
    /// A block by height (the latest when omitted).
    Block {
        /// Its height.
        height: Option<u64>,
    },
    /// A raw state key's value, with its proof checked against the state root.
    Value {
        /// The key, hex.
        key: String,
    },
    /// A transaction's place and receipt.
    Tx {
        /// Its id (0x and 64 hex digits).
        id: String,
    },
    /// The current epoch's validators: blocks proposed, certificates signed and views
    /// missed by each over the last finalized blocks.
    Validators {
        /// How many of the last finalized blocks of the epoch to count (1 to 1024).
        #[arg(long, default_value_t = lamina_app::rpc::DEFAULT_WINDOW)]
        blocks: u32,
    },
    /// Ask a module a query of its own, JSON in the form of its query type.
    Module {
        /// The module's name.
        module: String,
        /// The query, JSON.
        query: String,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Show what the database holds.
    Info {
        /// The data directory.
        #[arg(long, env = "LAMINA_BASE_PATH")]
        base_path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Delete the database (keys are kept).
    Purge {
        /// The data directory.
        #[arg(long, env = "LAMINA_BASE_PATH")]
        base_path: PathBuf,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
}

/// Runs the command line of `chain`.
pub(crate) fn main(chain: Chain) -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Node(args) => run_node(args, &chain),
        Command::Key {
            command,
            keystore,
            output,
        } => {
            let store = Keystore::new(keystore.unwrap_or_else(default_keystore));
            let infos = match command {
                KeyCommand::Generate { name } => vec![store.generate(&name)?],
                KeyCommand::Inspect { name } => vec![store.inspect(&name)?],
                KeyCommand::List => store.list()?,
            };
            match output {
                Output::Json => print_json(&infos),
                Output::Text => {
                    for info in infos {
                        say(format!(
                            "{}\n  public key: {}\n  address:    {}",
                            info.name, info.public_key, info.address
                        ))?;
                    }
                    Ok(())
                }
            }
        }
        Command::ChainSpec {
            command: SpecCommand::Export { preset },
        } => print_json(&chain.preset(preset)),
        Command::Tx {
            command:
                TxCommand::Transfer {
                    to,
                    amount,
                    asset,
                    from,
                    tip,
                    rpc,
                    keystore,
                    timeout,
                    dry_run,
                    output,
                },
        } => {
            let key = Keystore::new(keystore.unwrap_or_else(default_keystore)).secret(&from)?;
            let call = (1, codec::encode(&BankCall::Transfer { to, asset, amount }));
            let fees = Fees {
                tip,
                gas_limit: 100_000,
            };
            let timeout = Duration::from_secs(timeout);
            tokio_runtime()?.block_on(submit_call(key, &rpc, call, fees, timeout, dry_run, output))
        }
        Command::Tx {
            command:
                TxCommand::Call {
                    module,
                    call,
                    from,
                    tip,
                    gas_limit,
                    rpc,
                    keystore,
                    timeout,
                    dry_run,
                    output,
                },
        } => {
            let key = Keystore::new(keystore.unwrap_or_else(default_keystore)).secret(&from)?;
            let call: serde_json::Value =
                serde_json::from_str(&call).context("the call is not JSON")?;
            let fees = Fees { tip, gas_limit };
            let timeout = Duration::from_secs(timeout);
            tokio_runtime()?.block_on(async {
                let encoded = RpcClient::new(&rpc)?
                    .encode_call(&module, call)
                    .await
                    .context("encoding the call")?;
                submit_call(key, &rpc, encoded, fees, timeout, dry_run, output).await
            })
        }
        Command::Query {
            command,
            rpc,
            output,
        } => tokio_runtime()?.block_on(query(command, &rpc, output)),
        Command::Db { command } => db(command),
        Command::Light(args) => crate::light::run(args, &chain),
        Command::Relay(args) => crate::relay::run(args, &chain),
        Command::Channel(args) => crate::channel::run(args),
        Command::Bench(args) => {
            // QMDB warns that a new database is empty: expected here.
            init_logging("warn,commonware_storage=error");
            crate::bench::run(args, &chain)
        }
        Command::BenchLoad(args) => crate::bench::run_load(args),
        Command::Testnet(args) => crate::testnet::run(args, &chain),
        Command::Catalogue { output } => catalogue(output),
        Command::New(args) => new(args),
    }
}

fn run_node(args: NodeArgs, chain: &Chain) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let resolved = config::resolve(
        Settings {
            chain: args.chain.clone(),
            base_path: args.base_path.clone(),
            rpc_host: args.rpc_host,
            rpc_port: args.rpc_port,
            metrics_port: args.metrics_port,
            instance: args.instance,
            cache_pages: args.cache_pages,
            tx_index: args.tx_index,
            validator: args.validator.clone(),
            p2p_host: args.p2p_host,
            p2p_port: args.p2p_port,
            public_address: args.public_address,
            bootnodes: (!args.bootnodes.is_empty()).then(|| args.bootnodes.clone()),
        },
        file,
        args.dev,
    )?;
    let spec = chain.spec(&resolved.chain)?;
    let runtime = Arc::new(chain.runtime(&spec)?);
    let (temporary, base_path) = data_dir(resolved.base_path.as_deref(), "lamina-dev-")?;
    init_logging(NODE_LOG);
    let rpc = SocketAddr::new(resolved.rpc_host, resolved.rpc_port);
    let metrics = SocketAddr::new(
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        resolved.metrics_port,
    );
    let cache_pages = resolved.cache_pages;
    let node = NodeBuilder::new(spec.clone(), runtime.clone(), base_path.clone())
        .state(Qmdb::with_cache(cache_pages))
        .tx_index(resolved.tx_index)
        .rpc(rpc)
        .explorer(!args.no_explorer)
        .metrics(metrics);
    let engine = match (&spec.consensus, args.follow.is_empty()) {
        (_, false) => Engines::Follow(Box::new(FollowEngine::from_spec(&spec, &args.follow)?)),
        (ConsensusSpec::Solo { .. }, true) => {
            Engines::Solo(Box::new(SoloEngine::from_spec(&spec)?))
        }
        (ConsensusSpec::Simplex { .. }, true) => {
            let name = resolved.validator.clone().context(
                "this chain runs BFT consensus: name the validator key with --validator, \
                 or run a full node with --follow RPC_URL",
            )?;
            let key = Keystore::new(args.keystore.clone().unwrap_or_else(default_keystore))
                .secret(&name)?;
            let network = NetworkSettings {
                listen: resolved.p2p_listen,
                public: resolved.public_address,
                bootnodes: resolved.bootnodes.clone(),
                consensus_rate: lamina_incentive::simplex::CONSENSUS_RATE,
                gossip_rate: lamina_incentive::gossip::GOSSIP_RATE,
            };
            Engines::Simplex(Box::new(SimplexEngine::from_spec(
                &spec, &runtime, key, network,
            )?))
        }
    };
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new()
            .with_storage_directory(node::state_dir(&base_path)),
    );
    let output = args.output;
    let storage = args.storage;
    let result = runner.start(|ctx| async move {
        let ready = |endpoints: &node::Endpoints, _: &lamina_interop::bus::Bus| {
            let _ = match output {
                Output::Json => print_json(endpoints),
                Output::Text => say(format!(
                    "lamina node: chain {}, height {}\n  JSON-RPC (HTTP and WebSocket): {}\n  metrics (Prometheus): {}\n  data: {}{}\n  dev accounts (funded): {}",
                    endpoints.chain,
                    endpoints.height,
                    endpoints.rpc,
                    endpoints.metrics,
                    endpoints.base_path.display(),
                    if temporary_hint(&endpoints.base_path) { " (temporary, removed on exit)" } else { "" },
                    crate::spec::DEV_ACCOUNTS.join(", "),
                )),
            };
        };
        // ANCHOR: assembly
        match (storage, engine) {
            (Storage::Fjall, Engines::Solo(engine)) => node.storage(Fjall::default()).engine(*engine).run(ctx, shutdown_signal()?, ready).await,
            (Storage::Redb, Engines::Solo(engine)) => node.storage(Redb).engine(*engine).run(ctx, shutdown_signal()?, ready).await,
            (Storage::Fjall, Engines::Simplex(engine)) => node.storage(Fjall::default()).engine(*engine).run(ctx, shutdown_signal()?, ready).await,
            (Storage::Redb, Engines::Simplex(engine)) => node.storage(Redb).engine(*engine).run(ctx, shutdown_signal()?, ready).await,
            (Storage::Fjall, Engines::Follow(engine)) => node.storage(Fjall::default()).engine(*engine).run(ctx, shutdown_signal()?, ready).await,
            (Storage::Redb, Engines::Follow(engine)) => node.storage(Redb).engine(*engine).run(ctx, shutdown_signal()?, ready).await,
        }
        // ANCHOR_END: assembly
    });
    drop(temporary);
    result
}

/// The engine the chain spec names.
enum Engines {
    Solo(Box<SoloEngine>),
    Simplex(Box<SimplexEngine>),
    Follow(Box<FollowEngine>),
}

fn temporary_hint(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("lamina-dev-"))
}

/// What a transaction offers to pay.
struct Fees {
    tip: u128,
    gas_limit: u64,
}

/// Signs `call` (a module index and the call's bytes) with `key`, submits it, waits for it to
/// be final, and prints the outcome.
async fn submit_call(
    key: lamina_interop::crypto::SecretKey,
    rpc: &str,
    (module, call): (u16, Vec<u8>),
    Fees { tip, gas_limit }: Fees,
    timeout: Duration,
    dry_run: bool,
    output: Output,
) -> anyhow::Result<()> {
    let client = RpcClient::new(rpc)?;
    let chain = client
        .chain()
        .await
        .context("asking the node for its chain")?;
    let target = crate::submit::Target {
        client: &client,
        chain_id: chain.chain_id,
        module,
        gas_price: chain.gas_price,
        gas_limit,
        tip,
        timeout,
    };
    if dry_run {
        let tx = crate::submit::sign(&target, &key, vec![call])
            .await?
            .pop()
            .context("no transaction")?;
        let bytes: &[u8] = tx.as_ref();
        let hex = format!("0x{}", hex::encode(bytes));
        let run = client
            .dry_run(lamina_app::rpc::DryRunInput::Signed(hex))
            .await?;
        return match output {
            Output::Json => print_json(&serde_json::to_value(&run)?),
            Output::Text => {
                let view = lamina_app::rpc::TxView {
                    record: lamina_interop::chain::TxRecord {
                        height: run.height,
                        index: 0,
                        receipt: run.receipt,
                    },
                    events: run.events,
                    failed_in: run.failed_in,
                };
                let mut text = format!(
                    "dry run over the state at height {} (nothing submitted)\n  outcome: {}\n  gas used: {}\n  fee: {}",
                    run.height,
                    outcome_text(&view),
                    view.record.receipt.gas_used,
                    view.record.receipt.fee_paid
                );
                for event in &view.events {
                    text.push_str(&format!("\n  event: {}", event_text(event)));
                }
                say(text)
            }
        };
    }
    let record = crate::submit::submit_and_wait(&target, &key, vec![call])
        .await?
        .pop()
        .context("no record")?;
    let id = record.receipt.tx;
    let view = client
        .tx_view(id)
        .await?
        .context("the final transaction is gone from the node")?;
    match output {
        Output::Json => print_json(&serde_json::json!({
            "id": id,
            "height": record.height,
            "index": record.index,
            "receipt": record.receipt,
            "events": view.events,
            "failed_in": view.failed_in,
        })),
        Output::Text => {
            let mut text = format!(
                "transaction {id}\n  final in block {} at position {}\n  outcome: {}\n  fee paid: {}",
                record.height,
                record.index,
                outcome_text(&view),
                record.receipt.fee_paid
            );
            for event in &view.events {
                text.push_str(&format!("\n  event: {}", event_text(event)));
            }
            say(text)
        }
    }
}

/// `success`, or the failing module's name, error code and reason.
fn outcome_text(view: &lamina_app::rpc::TxView) -> String {
    match &view.record.receipt.outcome {
        lamina_interop::block::Outcome::Success => "success".to_string(),
        lamina_interop::block::Outcome::Failed {
            module,
            code,
            reason,
        } => {
            let name = view.failed_in.as_deref().unwrap_or("no module");
            format!("failed in {name} (module {module}), error {code}: {reason}")
        }
    }
}

/// An event on one line: `bank {"transfer":{...}}`, or its raw bytes and why they were not
/// decoded.
fn event_text(event: &lamina_app::rpc::EventView) -> String {
    match &event.decoded {
        lamina_app::rpc::Decoded::Module { module_name, value } => format!("{module_name} {value}"),
        lamina_app::rpc::Decoded::Undecoded { undecoded } => {
            format!("module {} {} ({undecoded})", event.module, event.data)
        }
    }
}

/// A line per validator: key, proposed, signed, missed.
fn validators_text(view: &lamina_app::rpc::ValidatorsView) -> String {
    let mut text = format!(
        "epoch {}, blocks {} to {}{}",
        view.epoch,
        view.from,
        view.to,
        match view.uncertified {
            0 => String::new(),
            n => format!(" ({n} without a certificate of their own)"),
        }
    );
    for v in &view.validators {
        text.push_str(&format!(
            "\n{}  proposed {}  signed {}  missed {}",
            v.key, v.proposed, v.signed, v.missed
        ));
    }
    text
}

async fn query(command: QueryCommand, rpc: &str, output: Output) -> anyhow::Result<()> {
    let client = RpcClient::new(rpc)?;
    let value = match command {
        QueryCommand::Balance { address, asset } => {
            let amount = client.balance(address, asset).await?;
            serde_json::json!({ "address": address, "asset": asset.unwrap_or(0), "amount": amount.to_string() })
        }
        QueryCommand::Nonce { address } => {
            serde_json::json!({ "address": address, "nonce": client.nonce(address).await? })
        }
        QueryCommand::Block { height } => {
            let height = match height {
                Some(h) => Height(h),
                None => client.finalized_head().await?.height,
            };
            serde_json::to_value(client.block(height).await?)?
        }
        QueryCommand::Value { key } => {
            let key = hex::decode(key.trim_start_matches("0x")).context("the key is hex")?;
            let (height, root, value) = client.value(&key).await?;
            serde_json::json!({
                "height": height,
                "root": root,
                "value": value.map(|v| format!("0x{}", hex::encode(v))),
                "proof": "verified",
            })
        }
        QueryCommand::Tx { id } => {
            let id =
                Hash::from_hex(&id).map_err(|e| anyhow::anyhow!("transaction id {id:?}: {e}"))?;
            serde_json::to_value(client.tx_view(id).await?)?
        }
        QueryCommand::Validators { blocks } => {
            let view = client.validators(Some(blocks)).await?;
            if output == Output::Text {
                return say(validators_text(&view));
            }
            serde_json::to_value(view)?
        }
        QueryCommand::Module { module, query } => {
            let query: serde_json::Value =
                serde_json::from_str(&query).context("the query is not JSON")?;
            client.query(&module, query).await?
        }
    };
    match output {
        Output::Json => print_json(&value),
        Output::Text => say(serde_json::to_string_pretty(&value)?),
    }
}

fn new(args: NewArgs) -> anyhow::Result<()> {
    let (created, output) = match args.module {
        Some(NewCommand::Module { name, path, output }) => {
            (scaffold::new_module(&name, &path)?, output)
        }
        None => {
            let name = args
                .name
                .context("name the chain: `lamina new NAME`, or `lamina new module NAME`")?;
            let source = match (args.lamina_path, args.lamina_version) {
                (Some(path), _) => Source::Checkout(
                    path.canonicalize()
                        .with_context(|| format!("--lamina-path {}", path.display()))?,
                ),
                (None, Some(version)) => Source::Version(version),
                (None, None) => Source::detect(),
            };
            let parent = args.path.unwrap_or_else(|| PathBuf::from("."));
            (
                scaffold::new_chain(&name, args.template, &parent, &source)?,
                args.output,
            )
        }
    };
    match output {
        Output::Json => print_json(&created),
        Output::Text => {
            say(format!(
                "created {} ({} files)\nnext:",
                created.path.display(),
                created.files.len()
            ))?;
            for step in &created.next {
                say(format!("  {step}"))?;
            }
            Ok(())
        }
    }
}

fn db(command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Info { base_path, output } => {
            let db = base_path.join("db");
            let size = dir_size(&db);
            let chain: serde_json::Value = std::fs::read_to_string(db.join("chain.json"))
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(serde_json::Value::Null);
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "path": db,
                    "chain": chain,
                    "size_bytes": size,
                })),
                Output::Text => say(format!(
                    "database: {}\n  chain: {}\n  size on disk: {} bytes",
                    db.display(),
                    chain,
                    size
                )),
            }
        }
        DbCommand::Purge { base_path, yes } => {
            let db = base_path.join("db");
            if !db.exists() {
                return say(format!("nothing to purge at {}", db.display()));
            }
            if !yes {
                bail!("this deletes {}; run again with --yes", db.display());
            }
            std::fs::remove_dir_all(&db)?;
            say(format!("deleted {}", db.display()))
        }
    }
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn catalogue(output: Output) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, CATALOGUE)?;
            writeln!(out)?;
        }
        Output::Text => {
            writeln!(
                out,
                "{:<22} {:<8} {:<30} {:<36} meaning",
                "message", "kind", "from", "to"
            )?;
            for entry in CATALOGUE {
                let kind = format!("{:?}", entry.kind).to_lowercase();
                writeln!(
                    out,
                    "{:<22} {:<8} {:<30} {:<36} {}",
                    entry.name, kind, entry.from, entry.to, entry.meaning
                )?;
            }
        }
    }
    Ok(())
}
