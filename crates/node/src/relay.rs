//! `lamina relay`: carries packets, acknowledgements and timeouts between two chains that
//! compose the `interchain` module, over their JSON-RPC.
//!
//! ```text
//! link   find clients of each other registered as counterparties (or create and register
//!        them, trusting each chain's spec for its validators)
//! round  for each direction src -> dst:
//!          pending packets on src (the module keeps them until settled)
//!          each one's state on dst: received (carry its ack back), timed out by dst's
//!          clock (prove the receipt absent, time it out on src), or to deliver
//!          proofs of up to 63 paths at one state height L, then the update of the
//!          receiving side's client to a certified header naming state L (with header L
//!          itself, whose time a timeout needs), then the messages, in one batch
//! ```
//!
//! It keeps nothing that matters between rounds: what is pending is read from the chains,
//! so a relayer killed at any moment and started again resumes, and two relayers on one
//! link cause no double delivery (the slower gets `AlreadyReceived` or `NotPending`).
//! A round starts when either chain finalizes a block (a WebSocket subscription to its
//! finalized heads), when the previous round moved something, or every `--interval-ms` where
//! a subscription cannot be had (polling, the fallback).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use lamina_app::interchain::{ClientInfo, InterchainQuery, InterchainResponse};
use lamina_app::rpc::RpcClient;
use lamina_interop::block::{Header, Outcome};
use lamina_interop::codec::{self, BoundedBytes, BoundedVec, Canonical};
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::FinalityProof;
use lamina_interop::interchain::{
    ack_path, commitment_path, prefixed, receipt_path, Acknowledgement, InterchainMsg, Packet,
    LAMINA_PREFIX,
};
use lamina_interop::{ChainId, Height};
use tokio::sync::Notify;

use crate::chain::Chain;
use crate::follow::light_params;
use crate::keys::Keystore;
use crate::shell::{say, tokio_runtime};

/// Most headers one update carries (the module's limit).
const MAX_UPDATE_HEADERS: u64 = 16;
/// Most paths proven at one state height (the node's limit is 64 keys a request).
const BATCH: usize = 63;
/// Gas offered by each relayed message.
const GAS_LIMIT: u64 = 20_000_000;
/// Seconds of margin before a packet's timeout within which it is no longer delivered.
const TIMEOUT_MARGIN_S: u64 = 3;

#[derive(clap::Args)]
pub(crate) struct RelayArgs {
    /// Chain A's JSON-RPC URL.
    #[arg(long)]
    a: String,
    /// Chain A's spec (a preset or a file): its validators are what a new client of A trusts.
    #[arg(long, default_value = "dev")]
    a_chain: String,
    /// Chain B's JSON-RPC URL.
    #[arg(long)]
    b: String,
    /// Chain B's spec.
    #[arg(long, default_value = "dev")]
    b_chain: String,
    /// The key that signs the relayed messages on both chains: a keystore name or a dev
    /// account.
    #[arg(long, default_value = "charlie")]
    from: String,
    /// The keystore directory.
    #[arg(long, env = "LAMINA_KEYSTORE")]
    keystore: Option<std::path::PathBuf>,
    /// Relay until nothing is pending on either side, then exit.
    #[arg(long)]
    once: bool,
    /// Milliseconds between rounds when neither chain's finalized heads arrive (the polling
    /// fallback, and the most a round waits).
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
}

/// One chain as the relayer sees it.
struct Side {
    name: &'static str,
    rpc: RpcClient,
    chain_id: ChainId,
    module: u16,
    gas_price: u64,
    /// The spec's client parameters: what a client of this chain trusts.
    spec: crate::spec::ChainSpec,
}

/// The link: each side's client of the other.
struct Link {
    a_client: String,
    b_client: String,
}

pub(crate) fn run(args: RelayArgs, chain: &Chain) -> anyhow::Result<()> {
    let keystore = Keystore::new(
        args.keystore
            .clone()
            .unwrap_or_else(crate::shell::default_keystore),
    );
    let key = keystore.secret(&args.from)?;
    tokio_runtime()?.block_on(async {
        let a = side("a", &args.a, chain.spec(&args.a_chain)?).await?;
        let b = side("b", &args.b, chain.spec(&args.b_chain)?).await?;
        if a.chain_id == b.chain_id {
            bail!("both endpoints serve chain {}", a.chain_id.0);
        }
        let link = link(&a, &b, &key).await?;
        say(format!(
            "link: client {} on chain {} <-> client {} on chain {}",
            link.a_client, a.chain_id.0, link.b_client, b.chain_id.0
        ))?;
        let wake = Arc::new(Notify::new());
        follow_heads("a", &args.a, wake.clone());
        follow_heads("b", &args.b, wake.clone());
        loop {
            let ab = relay(&a, &b, &link.a_client, &link.b_client, &key).await?;
            let ba = relay(&b, &a, &link.b_client, &link.a_client, &key).await?;
            if ab.any() || ba.any() {
                say(format!("a->b {ab}; b->a {ba}"))?;
            }
            if args.once && ab.pending == 0 && ba.pending == 0 {
                return Ok(());
            }
            // A round that moved something is followed at once; otherwise the next finalized
            // head of either chain, or the polling interval, starts the next.
            if !(ab.any() || ba.any()) {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(args.interval_ms)) => {}
                }
            }
        }
    })
}

/// Times the relayer tries to subscribe to a chain's heads before it polls that chain.
const SUBSCRIBE_TRIES: usize = 4;

/// Wakes the relayer on each finalized head of the chain at `url`
/// (`chain_subscribeFinalizedHeads` over WebSocket, at the same address); where no
/// subscription can be made, or it ends, the relayer polls that chain every interval.
fn follow_heads(name: &'static str, url: &str, wake: Arc<Notify>) {
    let ws = url
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    tokio::spawn(async move {
        use jsonrpsee::core::client::{Subscription, SubscriptionClientT as _};
        // A connection that drops while subscribing is tried again, a few times, before the
        // relayer settles for polling this chain.
        let mut last_error = String::new();
        let mut subscribed = None;
        for attempt in 0..SUBSCRIBE_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let client = match jsonrpsee::ws_client::WsClientBuilder::default()
                .build(&ws)
                .await
            {
                Ok(client) => client,
                Err(err) => {
                    last_error = format!("no subscription at {ws} ({err})");
                    continue;
                }
            };
            let heads: Result<Subscription<serde_json::Value>, _> = client
                .subscribe(
                    "chain_subscribeFinalizedHeads",
                    jsonrpsee::rpc_params![],
                    "chain_unsubscribeFinalizedHeads",
                )
                .await;
            match heads {
                Ok(heads) => {
                    subscribed = Some((client, heads));
                    break;
                }
                Err(err) => last_error = format!("no head subscription ({err})"),
            }
        }
        let Some((_client, mut heads)) = subscribed else {
            let _ = say(format!("chain {name}: {last_error}; polling"));
            return;
        };
        while let Some(Ok(_)) = heads.next().await {
            wake.notify_one();
        }
        let _ = say(format!(
            "chain {name}: the head subscription ended; polling"
        ));
    });
}

async fn side(name: &'static str, url: &str, spec: crate::spec::ChainSpec) -> anyhow::Result<Side> {
    let rpc = RpcClient::new(url)?;
    let info = rpc
        .chain()
        .await
        .with_context(|| format!("asking chain {name} at {url} for its chain"))?;
    if info.chain_id != spec.chain_id {
        bail!(
            "chain {name} at {url} is chain {}, its spec says {}",
            info.chain_id.0,
            spec.chain_id.0
        );
    }
    let module = info
        .modules
        .iter()
        .position(|m| m == "interchain")
        .with_context(|| format!("chain {name} has no interchain module"))? as u16;
    Ok(Side {
        name,
        rpc,
        chain_id: info.chain_id,
        module,
        gas_price: info.gas_price,
        spec,
    })
}

async fn query(side: &Side, query: InterchainQuery) -> anyhow::Result<InterchainResponse> {
    let answer = side
        .rpc
        .query("interchain", serde_json::to_value(query)?)
        .await
        .with_context(|| format!("querying chain {}", side.name))?;
    Ok(serde_json::from_value(answer)?)
}

async fn client_info(side: &Side, client: &str) -> anyhow::Result<Option<ClientInfo>> {
    match query(
        side,
        InterchainQuery::Client {
            client: client.to_string(),
        },
    )
    .await?
    {
        InterchainResponse::Client(info) => Ok(info),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// Finds clients of each other registered as counterparties, or creates and registers them.
async fn link(a: &Side, b: &Side, key: &SecretKey) -> anyhow::Result<Link> {
    for n in 0.. {
        let id = format!("client-{n}");
        let Some(info) = client_info(a, &id).await? else {
            break;
        };
        let Some(counterparty) = info.counterparty.filter(|_| info.chain_id == b.chain_id) else {
            continue;
        };
        if let Some(theirs) = client_info(b, &counterparty.client).await? {
            if theirs.chain_id == a.chain_id
                && theirs.counterparty.as_ref().is_some_and(|c| c.client == id)
            {
                return Ok(Link {
                    a_client: id,
                    b_client: counterparty.client,
                });
            }
        }
    }
    let a_client = create_client(a, b, key).await?;
    let b_client = create_client(b, a, key).await?;
    for (side, ours, theirs) in [(a, &a_client, &b_client), (b, &b_client, &a_client)] {
        let msg = InterchainMsg::RegisterCounterparty {
            client: id(ours)?,
            counterparty_client: id(theirs)?,
            prefix: BoundedBytes::try_from_vec(LAMINA_PREFIX.to_vec()).unwrap_or_default(),
        };
        let outcomes = submit(side, key, vec![msg]).await?;
        check(&outcomes, "registering the counterparty")?;
    }
    Ok(Link { a_client, b_client })
}

/// Creates on `on` a client of `of`, trusting `of`'s spec for its validators as of now.
async fn create_client(on: &Side, of: &Side, key: &SecretKey) -> anyhow::Result<String> {
    let (chain_id, epoch_blocks, set) = light_params(&of.spec)?;
    let msg = InterchainMsg::CreateClient {
        chain_id,
        epoch_blocks,
        trusting_period_ms: crate::light::default_trusting_period_ms(&of.spec)?,
        checkpoint_height: Height(0),
        checkpoint_block: lamina_interop::Hash::ZERO,
        checkpoint_time: lamina_interop::Timestamp(now_ms()),
        set: BoundedBytes::try_from_vec(set.encode())
            .map_err(|_| anyhow::anyhow!("set too large"))?,
    };
    let before = next_client(on).await?;
    let outcomes = submit(on, key, vec![msg]).await?;
    check(&outcomes, "creating a client")?;
    Ok(format!("client-{before}"))
}

/// The number the next client of `side` gets.
async fn next_client(side: &Side) -> anyhow::Result<u64> {
    let mut n = 0;
    while client_info(side, &format!("client-{n}")).await?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn id(text: &str) -> anyhow::Result<lamina_interop::interchain::Id> {
    Ok(serde_json::from_value(serde_json::Value::String(
        text.to_string(),
    ))?)
}

fn check(outcomes: &[Outcome], what: &str) -> anyhow::Result<()> {
    for outcome in outcomes {
        if let Outcome::Failed { reason, .. } = outcome {
            bail!("{what}: {reason}");
        }
    }
    Ok(())
}

/// What one direction's round did.
#[derive(Default)]
struct Round {
    pending: usize,
    received: usize,
    acknowledged: usize,
    timed_out: usize,
    lost: usize,
}

impl Round {
    fn any(&self) -> bool {
        self.received + self.acknowledged + self.timed_out + self.lost > 0
    }
}

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pending: {} received, {} acknowledged, {} timed out, {} refused",
            self.pending, self.received, self.acknowledged, self.timed_out, self.lost
        )
    }
}

/// The packets pending on `src` through `client`, all of them.
async fn pending(src: &Side, client: &str) -> anyhow::Result<Vec<Packet>> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let answer = query(
            src,
            InterchainQuery::Pending {
                client: client.to_string(),
                after,
                limit: Some(256),
            },
        )
        .await?;
        let InterchainResponse::Pending {
            packets,
            scanned_to,
            next_sequence,
        } = answer
        else {
            bail!("unexpected answer to pending");
        };
        all.extend(packets);
        if scanned_to + 1 >= next_sequence || scanned_to == after {
            return Ok(all);
        }
        after = scanned_to;
    }
}

/// The finalized head's time on `side`, in seconds.
async fn head_time_s(side: &Side) -> anyhow::Result<u64> {
    let head = side.rpc.finalized_head().await?;
    let header = side
        .rpc
        .header(Some(head.height))
        .await?
        .context("no header at the finalized head")?;
    Ok(header.header.timestamp.0 / 1000)
}

/// Relays what is pending from `src` (through `src_client`) to `dst` (`dst_client`).
async fn relay(
    src: &Side,
    dst: &Side,
    src_client: &str,
    dst_client: &str,
    key: &SecretKey,
) -> anyhow::Result<Round> {
    let packets = pending(src, src_client).await?;
    let mut round = Round {
        pending: packets.len(),
        ..Round::default()
    };
    if packets.is_empty() {
        return Ok(round);
    }
    let dst_time = head_time_s(dst).await?;
    let mut deliver = Vec::new();
    let mut settle: Vec<(Packet, Option<Acknowledgement>)> = Vec::new();
    for packet in packets {
        let answer = query(
            dst,
            InterchainQuery::Packet {
                client: dst_client.to_string(),
                sequence: packet.sequence,
            },
        )
        .await?;
        let InterchainResponse::Packet {
            received,
            acknowledgement,
            ..
        } = answer
        else {
            bail!("unexpected answer to packet");
        };
        if received {
            if let Some(ack) = acknowledgement {
                settle.push((packet, Some(ack)));
            }
        } else if dst_time >= packet.timeout {
            settle.push((packet, None));
        } else if dst_time + TIMEOUT_MARGIN_S < packet.timeout {
            deliver.push(packet);
        }
    }
    for batch in deliver.chunks(BATCH) {
        let paths: Vec<Vec<u8>> = batch
            .iter()
            .map(|p| prefixed(LAMINA_PREFIX, &commitment_path(src_client, p.sequence)))
            .collect();
        let (height, proofs) = src.rpc.value_proofs(&paths).await?;
        let mut msgs = vec![update(src, dst_client, height).await?];
        for (packet, proof) in batch.iter().zip(proofs) {
            msgs.push(InterchainMsg::RecvPacket {
                packet: packet.clone(),
                proof: proof_bytes(proof.encode())?,
                proof_height: height,
            });
        }
        let outcomes = submit(dst, key, msgs).await?;
        check(&outcomes[..1], "updating the client")?;
        for outcome in &outcomes[1..] {
            match outcome {
                Outcome::Success => round.received += 1,
                Outcome::Failed { .. } => round.lost += 1,
            }
        }
    }
    for batch in settle.chunks(BATCH) {
        let paths: Vec<Vec<u8>> = batch
            .iter()
            .map(|(p, ack)| {
                let path = match ack {
                    Some(_) => ack_path(dst_client, p.sequence),
                    None => receipt_path(dst_client, p.sequence),
                };
                prefixed(LAMINA_PREFIX, &path)
            })
            .collect();
        let (height, proofs) = dst.rpc.value_proofs(&paths).await?;
        let mut msgs = vec![update(dst, src_client, height).await?];
        for ((packet, ack), proof) in batch.iter().zip(proofs) {
            let proof = proof_bytes(proof.encode())?;
            msgs.push(match ack {
                Some(ack) => InterchainMsg::Acknowledge {
                    packet: packet.clone(),
                    ack: ack.clone(),
                    proof,
                    proof_height: height,
                },
                None => InterchainMsg::Timeout {
                    packet: packet.clone(),
                    proof,
                    proof_height: height,
                },
            });
        }
        let outcomes = submit(src, key, msgs).await?;
        check(&outcomes[..1], "updating the client")?;
        for ((_, ack), outcome) in batch.iter().zip(&outcomes[1..]) {
            match (outcome, ack) {
                (Outcome::Success, Some(_)) => round.acknowledged += 1,
                (Outcome::Success, None) => round.timed_out += 1,
                (Outcome::Failed { .. }, _) => round.lost += 1,
            }
        }
    }
    Ok(round)
}

fn proof_bytes(bytes: Vec<u8>) -> anyhow::Result<lamina_interop::interchain::ProofBytes> {
    BoundedBytes::try_from_vec(bytes).map_err(|b| anyhow::anyhow!("a proof of {} bytes", b.len()))
}

/// The update of `client` (on the other side) to a certified header of `of` naming the state
/// at `state_height`, with the headers from `state_height` itself up to it when they fit.
async fn update(of: &Side, client: &str, state_height: Height) -> anyhow::Result<InterchainMsg> {
    let start = Instant::now();
    let (named, headers) = loop {
        let head = of.rpc.finalized_head().await?.height;
        let mut found = None;
        let mut headers: Vec<Header> = Vec::new();
        for h in state_height.0..=head.0.min(state_height.0 + MAX_UPDATE_HEADERS - 1) {
            let Some(view) = of.rpc.header(Some(Height(h))).await? else {
                break;
            };
            let naming = view.header.state_height == state_height;
            let past = view.header.state_height > state_height;
            headers.push(view.header);
            if naming {
                found = Some(Height(h));
                break;
            }
            if past {
                bail!(
                    "no header of chain {} names state {}",
                    of.name,
                    state_height.0
                );
            }
        }
        if let Some(named) = found {
            break (named, headers);
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!(
                "chain {} finalized no header naming state {} in 60 s",
                of.name,
                state_height.0
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let certified = of.rpc.finality_proof(named).await?.with_context(|| {
        format!(
            "no finality proof of height {} on chain {}",
            named.0, of.name
        )
    })?;
    // Headers from the state's own block to the certified one, when they fit an update.
    let mut all: Vec<Header> = headers.into_iter().filter(|h| h.height < named).collect();
    all.extend(certified.headers.iter().cloned());
    let proof = if all.len() as u64 <= MAX_UPDATE_HEADERS {
        FinalityProof {
            certificate: certified.certificate.clone(),
            headers: BoundedVec::try_from_vec(all)
                .map_err(|_| anyhow::anyhow!("too many headers"))?,
        }
    } else {
        certified
    };
    Ok(InterchainMsg::UpdateClient {
        client: id(client)?,
        proof: proof_bytes(proof.encode())?,
        next_set: None,
    })
}

/// Signs `msgs` from `key` with consecutive nonces, submits them as one batch and waits for
/// each to be final; their outcomes in order.
async fn submit(
    side: &Side,
    key: &SecretKey,
    msgs: Vec<InterchainMsg>,
) -> anyhow::Result<Vec<Outcome>> {
    let target = crate::submit::Target {
        client: &side.rpc,
        chain_id: side.chain_id,
        module: side.module,
        gas_price: side.gas_price,
        gas_limit: GAS_LIMIT,
        tip: 0,
        timeout: Duration::from_secs(60),
    };
    let calls = msgs.iter().map(codec::encode).collect();
    let records = crate::submit::submit_and_wait(&target, key, calls)
        .await
        .with_context(|| format!("chain {}", side.name))?;
    Ok(records.into_iter().map(|r| r.receipt.outcome).collect())
}
