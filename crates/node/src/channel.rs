//! `lamina channel`: payment channels from the command line, over a node's JSON-RPC and a TCP
//! connection between the two parties' processes.
//!
//! ```text
//! open     deposit into a new channel with a peer's key; the store starts at the deposits
//! listen   accept the other party's connections: check, sign and keep each proposal
//! pay      connect to the other party and pay it, off chain, --count times
//! top-up   deposit more on chain, then (with --to) count it off chain with the peer
//! close    with --to: agree a final state with the peer and close at once; without:
//!          close alone on the newest state (with --wait, settle after the deadline)
//! watch    answer every close of a stored channel on an older state with the newest;
//!          settle after deadlines (a watchtower runs it on a copy of a party's store)
//! status   each stored channel: on chain, and the newest state held
//! ```
//!
//! States are kept in `--store` (by default `~/.lamina/channels/<key name>`), one log per
//! channel (`lamina_app::channels::client`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use lamina_app::channels::client::{ChannelInfo, ChannelStore};
use lamina_app::channels::peer::{self, ChainView, Proposer};
use lamina_app::channels::{Channel, ChannelsCall, ChannelsQuery, ChannelsResponse, Phase};
use lamina_app::rpc::RpcClient;
use lamina_interop::block::Outcome;
use lamina_interop::chain::TxRecord;
use lamina_interop::channel::channel_id;
use lamina_interop::codec;
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::{Address, ChainId, Hash};

use crate::keys::Keystore;
use crate::shell::{default_keystore, print_json, say, tokio_runtime, Output};
use crate::submit::{submit_and_wait, Target};

/// Gas offered by each channel call (a state's two signatures are most of it).
const GAS_LIMIT: u64 = 1_000_000;
/// Most connections `listen` serves at once.
const MAX_CONNECTIONS: usize = 16;

#[derive(clap::Args)]
pub(crate) struct ChannelArgs {
    #[command(subcommand)]
    command: ChannelCommand,
    /// The node's JSON-RPC URL.
    #[arg(
        long,
        env = "LAMINA_RPC",
        default_value = "http://127.0.0.1:9944",
        global = true
    )]
    rpc: String,
    /// The keystore directory.
    #[arg(long, env = "LAMINA_KEYSTORE", global = true)]
    keystore: Option<PathBuf>,
    /// Where channel states are kept (default: `channels/<the --from key's name>` beside the
    /// keystore, so ~/.lamina/channels/NAME for the default keystore).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// The key: a keystore name or a dev account.
    #[arg(long, global = true)]
    from: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(clap::Subcommand)]
enum ChannelCommand {
    /// Open a channel to a peer, depositing into it.
    Open {
        /// The peer: a public key (hex), or a keystore name or dev account.
        #[arg(long)]
        peer: String,
        /// The deposit, in the asset's smallest unit.
        #[arg(long)]
        deposit: u128,
        /// The bank asset.
        #[arg(long, default_value_t = 0)]
        asset: u32,
        /// How many blocks a close can be challenged.
        #[arg(long, default_value_t = 20)]
        challenge_blocks: u64,
        /// The nonce that makes the channel's id (default: the time in nanoseconds).
        #[arg(long)]
        nonce: Option<u64>,
    },
    /// Accept the other party's connections and sign what pays this side.
    Listen {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:9955")]
        listen: String,
    },
    /// Pay the other party off chain.
    Pay {
        /// The channel.
        #[arg(long, value_parser = parse_hash)]
        channel: Hash,
        /// The other party's `listen` address.
        #[arg(long)]
        to: String,
        /// Each payment, in the asset's smallest unit.
        #[arg(long)]
        amount: u128,
        /// How many payments.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Also time raw ed25519 signing and verifying on this machine, for comparison.
        #[arg(long)]
        compare_raw: bool,
    },
    /// Deposit more into an open channel; with --to, count it off chain with the peer.
    TopUp {
        /// The channel.
        #[arg(long, value_parser = parse_hash)]
        channel: Hash,
        /// How much.
        #[arg(long)]
        amount: u128,
        /// The other party's `listen` address.
        #[arg(long)]
        to: Option<String>,
    },
    /// Close a channel: with --to, at once by agreement with the peer; without, alone on
    /// the newest state held.
    Close {
        /// The channel.
        #[arg(long, value_parser = parse_hash)]
        channel: Hash,
        /// The other party's `listen` address, for a cooperative close.
        #[arg(long)]
        to: Option<String>,
        /// After a unilateral close, wait for the deadline and settle.
        #[arg(long)]
        wait: bool,
    },
    /// Answer closes on older states with the newest held, and settle after deadlines.
    Watch {
        /// Exit once every stored channel is settled.
        #[arg(long)]
        until_settled: bool,
        /// Milliseconds between looks at the chain.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
    /// Each stored channel (or one): on chain, and the newest state held.
    Status {
        /// Only this channel.
        #[arg(long, value_parser = parse_hash)]
        channel: Option<Hash>,
    },
}

/// The chain as the channel commands use it.
struct Node {
    client: RpcClient,
    chain_id: ChainId,
    module: u16,
    gas_price: u64,
}

impl Node {
    async fn connect(url: &str) -> anyhow::Result<Node> {
        let client = RpcClient::new(url)?;
        let info = client
            .chain()
            .await
            .with_context(|| format!("asking the node at {url} for its chain"))?;
        let module = info
            .modules
            .iter()
            .position(|m| m == lamina_app::channels::NAME)
            .context("the chain has no channels module")? as u16;
        Ok(Node {
            client,
            chain_id: info.chain_id,
            module,
            gas_price: info.gas_price,
        })
    }

    async fn channel(&self, id: &Hash) -> anyhow::Result<Option<Channel>> {
        let query = serde_json::to_value(ChannelsQuery::Channel { channel: *id })?;
        let answer = self.client.query(lamina_app::channels::NAME, query).await?;
        match serde_json::from_value(answer)? {
            ChannelsResponse::Channel(view) => Ok(view.map(|v| v.channel)),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// Submits `call` from `key` and waits until it is final; an error if it failed.
    async fn submit(&self, key: &SecretKey, call: &ChannelsCall) -> anyhow::Result<TxRecord> {
        let target = Target {
            client: &self.client,
            chain_id: self.chain_id,
            module: self.module,
            gas_price: self.gas_price,
            gas_limit: GAS_LIMIT,
            tip: 0,
            timeout: Duration::from_secs(60),
        };
        let record = submit_and_wait(&target, key, vec![codec::encode(call)])
            .await?
            .pop()
            .context("no record")?;
        if let Outcome::Failed { code, reason, .. } = &record.receipt.outcome {
            bail!("the chain refused (code {code}): {reason}");
        }
        Ok(record)
    }

    async fn head(&self) -> anyhow::Result<u64> {
        Ok(self.client.finalized_head().await?.height.0)
    }
}

pub(crate) fn run(args: ChannelArgs) -> anyhow::Result<()> {
    let keystore_dir = args.keystore.clone().unwrap_or_else(default_keystore);
    let keystore = Keystore::new(keystore_dir.clone());
    let from = args.from.clone();
    let key = || -> anyhow::Result<SecretKey> {
        let name = from.as_deref().context("--from names the key")?;
        keystore.secret(name)
    };
    let store_dir = match (&args.store, &args.from) {
        (Some(dir), _) => dir.clone(),
        (None, Some(name)) => keystore_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .join("channels")
            .join(name),
        (None, None) => bail!("--store or --from says where the channel states are"),
    };
    let runtime = tokio_runtime()?;
    // Only the subcommands that use the chain connect to it: a payment is peer to peer.
    let rpc = args.rpc.clone();
    let connect = || runtime.block_on(Node::connect(&rpc));
    match args.command {
        ChannelCommand::Open {
            peer,
            deposit,
            asset,
            challenge_blocks,
            nonce,
        } => {
            let key = key()?;
            let peer = peer_key(&keystore, &peer)?;
            let keys = [key.public_key(), peer];
            let nonce = nonce.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
            let id = channel_id(&keys, nonce);
            let node = connect()?;
            let call = ChannelsCall::Open {
                nonce,
                keys,
                asset,
                deposit,
                challenge_blocks,
            };
            let record = runtime.block_on(node.submit(&key, &call))?;
            let channel = runtime
                .block_on(node.channel(&id))?
                .context("the channel is not on the chain")?;
            let info = ChannelInfo {
                chain_id: node.chain_id,
                channel: id,
                keys,
                me: 0,
                asset,
                opening: channel.deposits,
            };
            ChannelStore::create(&store_dir, info)?;
            match args.output {
                Output::Json => print_json(&serde_json::json!({
                    "channel": id, "height": record.height, "deposits": channel.deposits,
                })),
                Output::Text => say(format!(
                    "channel {id}\n  opened in block {} with {deposit} of asset {asset}; challenge period {challenge_blocks} blocks\n  with {}",
                    record.height.0,
                    Address::of(&peer)
                )),
            }
        }
        ChannelCommand::Listen { listen } => {
            listen_on(&listen, &store_dir, key()?, connect()?, runtime)
        }
        ChannelCommand::Pay {
            channel,
            to,
            amount,
            count,
            compare_raw,
        } => {
            let key = key()?;
            let mut store = ChannelStore::open(&store_dir, &channel)
                .with_context(|| format!("channel {channel} in {}", store_dir.display()))?;
            let raw = compare_raw.then(|| raw_sign_verify(count.clamp(1_000, 20_000)));
            let mut proposer = Proposer::connect(&to, &mut store, &key)?;
            let start = Instant::now();
            let mut version = 0;
            for _ in 0..count {
                version = proposer.pay(amount)?;
            }
            let elapsed = start.elapsed().as_secs_f64();
            proposer.sync()?;
            let rate = count as f64 / elapsed.max(1e-9);
            let balance = store.my_balance();
            match args.output {
                Output::Json => print_json(&serde_json::json!({
                    "channel": channel, "payments": count, "seconds": elapsed,
                    "payments_per_s": rate, "version": version,
                    "balance": balance.to_string(),
                    "raw_sign_verify_per_s": raw,
                })),
                Output::Text => {
                    say(format!(
                        "{count} payments in {elapsed:.2} s: {rate:.0} a second; version {version}, balance {balance}"
                    ))?;
                    if let Some(raw) = raw {
                        // Each payment is two signatures and two verifications, one of each
                        // on either side, one after the other.
                        say(format!(
                            "raw ed25519 sign + verify here: {raw:.0} a second; a payment's bound (two of each, in turn): {:.0} a second; payments reach {:.2} of it",
                            raw / 2.0,
                            rate / (raw / 2.0)
                        ))?;
                    }
                    Ok(())
                }
            }
        }
        ChannelCommand::TopUp {
            channel,
            amount,
            to,
        } => {
            let key = key()?;
            let node = connect()?;
            let call = ChannelsCall::TopUp { channel, amount };
            runtime.block_on(node.submit(&key, &call))?;
            let record = runtime
                .block_on(node.channel(&channel))?
                .context("the channel is not on the chain")?;
            let deposits = record.deposit_amounts();
            say(format!("deposits now {} and {}", deposits[0], deposits[1]))?;
            if let Some(to) = to {
                let mut store = ChannelStore::open(&store_dir, &channel)?;
                let version = Proposer::connect(&to, &mut store, &key)?.count_deposits(deposits)?;
                say(format!("counted off chain in version {version}"))?;
            }
            Ok(())
        }
        ChannelCommand::Close { channel, to, wait } => {
            let key = key()?;
            let node = connect()?;
            let mut store = ChannelStore::open(&store_dir, &channel)?;
            if let Some(to) = to {
                let signed = Proposer::connect(&to, &mut store, &key)?.finish()?;
                let call = ChannelsCall::CloseCooperative { state: signed };
                let record = runtime.block_on(node.submit(&key, &call))?;
                return report_settled(&runtime, &node, &channel, record.height.0);
            }
            let state = store.latest().signed().cloned();
            let version = store.latest().state().version;
            let record =
                runtime.block_on(node.submit(&key, &ChannelsCall::Close { channel, state }))?;
            let deadline = match runtime.block_on(node.channel(&channel))?.map(|c| c.phase) {
                Some(Phase::Closing { deadline, .. }) => deadline.0,
                other => bail!("the channel is not closing: {other:?}"),
            };
            say(format!(
                "closing on version {version} in block {}; challenges until block {deadline}",
                record.height.0
            ))?;
            if wait {
                runtime.block_on(settle_after(&node, &key, &channel, deadline))?;
                let head = runtime.block_on(node.head())?;
                return report_settled(&runtime, &node, &channel, head);
            }
            Ok(())
        }
        ChannelCommand::Watch {
            until_settled,
            interval_ms,
        } => runtime.block_on(watch(
            &connect()?,
            &key()?,
            &store_dir,
            until_settled,
            Duration::from_millis(interval_ms),
        )),
        ChannelCommand::Status { channel } => {
            let ids = match channel {
                Some(id) => vec![id],
                None => ChannelStore::list(&store_dir)?,
            };
            let node = connect()?;
            let mut out = Vec::new();
            for id in ids {
                let store = ChannelStore::open(&store_dir, &id)?;
                let on_chain = runtime.block_on(node.channel(&id))?;
                let held = store.latest().state().clone();
                if args.output == Output::Text {
                    say(format!(
                        "channel {id}\n  held: version {}, balances {} and {}{}\n  on chain: {}",
                        held.version,
                        held.balances[0].0,
                        held.balances[1].0,
                        if held.is_final { " (final)" } else { "" },
                        on_chain.as_ref().map_or("unknown".to_string(), describe)
                    ))?;
                }
                out.push(serde_json::json!({ "channel": id, "held": held, "on_chain": on_chain }));
            }
            if args.output == Output::Json {
                print_json(&out)?;
            }
            Ok(())
        }
    }
}

fn parse_hash(text: &str) -> Result<Hash, String> {
    Hash::from_hex(text).map_err(|e| format!("not a channel id (32 bytes in hex): {e}"))
}

fn describe(channel: &Channel) -> String {
    let d = channel.deposit_amounts();
    match &channel.phase {
        Phase::Open => format!("open, deposits {} and {}", d[0], d[1]),
        Phase::Closing {
            state, deadline, ..
        } => format!(
            "closing on version {} until block {}, deposits {} and {}",
            state.version, deadline.0, d[0], d[1]
        ),
        Phase::Settled { version, payouts } => format!(
            "settled on version {version}: paid {} and {}",
            payouts[0].0, payouts[1].0
        ),
    }
}

fn peer_key(keystore: &Keystore, text: &str) -> anyhow::Result<PublicKey> {
    if let Ok(key) = PublicKey::from_hex(text) {
        return Ok(key);
    }
    Ok(keystore
        .inspect(text)
        .with_context(|| format!("{text:?} is neither a public key nor a known key"))?
        .public_key)
}

fn report_settled(
    runtime: &tokio::runtime::Runtime,
    node: &Node,
    channel: &Hash,
    height: u64,
) -> anyhow::Result<()> {
    match runtime.block_on(node.channel(channel))? {
        Some(record) => say(format!("settled by block {height}: {}", describe(&record))),
        None => bail!("channel {channel} is not on the chain"),
    }
}

/// Waits for the chain to pass `deadline`, then settles (unless someone did).
async fn settle_after(
    node: &Node,
    key: &SecretKey,
    channel: &Hash,
    deadline: u64,
) -> anyhow::Result<()> {
    loop {
        if node.head().await? > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let closing = |record: Option<Channel>| {
        matches!(
            record,
            Some(Channel {
                phase: Phase::Closing { .. },
                ..
            })
        )
    };
    if closing(node.channel(channel).await?) {
        let settled = node
            .submit(key, &ChannelsCall::Settle { channel: *channel })
            .await;
        // Anyone may settle: a watchtower may have done it first.
        if let Err(e) = settled {
            if closing(node.channel(channel).await?) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Looks at every stored channel each `interval`: a close on an older state than the one
/// held is answered with it; a channel past its deadline is settled.
async fn watch(
    node: &Node,
    key: &SecretKey,
    dir: &Path,
    until_settled: bool,
    interval: Duration,
) -> anyhow::Result<()> {
    say(format!(
        "watching the channels in {} as {}",
        dir.display(),
        Address::of(&key.public_key())
    ))?;
    loop {
        let ids = ChannelStore::list(dir)?;
        let mut open = 0;
        let head = node.head().await?;
        for id in &ids {
            // The newest state on disk, read again each round (the party's processes write it).
            let store = ChannelStore::open(dir, id)?;
            let Some(record) = node.channel(id).await? else {
                open += 1;
                continue;
            };
            match &record.phase {
                Phase::Open => open += 1,
                Phase::Settled { .. } => {}
                Phase::Closing {
                    state, deadline, ..
                } => {
                    open += 1;
                    let held = store.latest();
                    if head <= deadline.0 && held.state().version > state.version {
                        if let Some(signed) = held.signed() {
                            let call = ChannelsCall::Challenge {
                                state: signed.clone(),
                            };
                            match node.submit(key, &call).await {
                                Ok(tx) => say(format!(
                                    "channel {id}: closed on version {}; answered with version {} in block {}",
                                    state.version, signed.state.version, tx.height.0
                                ))?,
                                Err(e) => say(format!("channel {id}: challenge failed: {e:#}"))?,
                            }
                        }
                    } else if head > deadline.0 {
                        match node
                            .submit(key, &ChannelsCall::Settle { channel: *id })
                            .await
                        {
                            Ok(tx) => {
                                let now = node.channel(id).await?;
                                say(format!(
                                    "channel {id}: settled in block {}: {}",
                                    tx.height.0,
                                    now.as_ref().map_or(String::new(), describe)
                                ))?;
                            }
                            Err(e) => say(format!("channel {id}: settle failed: {e:#}"))?,
                        }
                    }
                }
            }
        }
        if until_settled && open == 0 && !ids.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

/// Serves connections on `addr` until killed, each on its own thread, at most
/// [`MAX_CONNECTIONS`] at once.
fn listen_on(
    addr: &str,
    dir: &Path,
    key: SecretKey,
    node: Node,
    runtime: tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    say(format!(
        "listening on {} as {}",
        listener.local_addr()?,
        Address::of(&key.public_key())
    ))?;
    let shared = Arc::new((node, runtime, key, dir.to_path_buf()));
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                say(format!("accept: {e}"))?;
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            drop(stream);
            continue;
        }
        let shared = shared.clone();
        let active = active.clone();
        std::thread::spawn(move || {
            let (node, runtime, key, dir) = &*shared;
            let mut view = RpcView { node, runtime };
            let outcome = peer::serve(stream, dir, key, node.chain_id, &mut view);
            active.fetch_sub(1, Ordering::SeqCst);
            let line = match outcome {
                Ok(served) => format!(
                    "channel {}: {} accepted, {} refused; version {}",
                    served.channel.map_or("?".to_string(), |c| c.to_string()),
                    served.accepted,
                    served.refused,
                    served.version
                ),
                Err(e) => format!("connection: {e}"),
            };
            let _ = say(line);
        });
    }
    Ok(())
}

struct RpcView<'a> {
    node: &'a Node,
    runtime: &'a tokio::runtime::Runtime,
}

impl ChainView for RpcView<'_> {
    fn channel(&mut self, id: &Hash) -> Result<Option<Channel>, String> {
        self.runtime
            .block_on(self.node.channel(id))
            .map_err(|e| format!("{e:#}"))
    }
}

/// Signatures made and verified a second on this thread: `n` of each, timed.
fn raw_sign_verify(n: u64) -> f64 {
    let key = SecretKey::from_seed([9; 32]);
    let public = key.public_key();
    let message = [7u8; 160];
    let start = Instant::now();
    for i in 0..n {
        let mut m = message;
        m[..8].copy_from_slice(&i.to_le_bytes());
        let signature = key.sign_raw(&m);
        if public.verify_raw(&m, &signature).is_err() {
            return 0.0;
        }
    }
    n as f64 / start.elapsed().as_secs_f64().max(1e-9)
}
