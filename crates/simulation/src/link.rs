//! Two chains and an unreliable relayer, seeded: chain A (one validator) and chain B (four
//! validators, epochs of 16 blocks, one validator replaced at its first boundary) exchange
//! transfers both ways while the relayer loses, reorders, duplicates and delays messages,
//! crashes (forgetting what it had not submitted), and leaves packets to time out.
//!
//! Each chain's own token travels to the other and back. Checked at every block of either
//! chain, for each chain's token (the conservation of the bridge, for every denomination):
//!
//! ```text
//! escrow_home(client, token) == supply_away(voucher of it)
//!                             + home->away packets of the token not yet accepted away
//!                             + away->home packets of the voucher not yet accepted home
//! sum of home's balances of the token + escrow == what genesis gave
//! ```
//!
//! (A packet "accepted" was received with a success acknowledgement.) After the last step
//! an honest relayer settles everything, and escrow equals the vouchers exactly.

use anyhow::{anyhow, Result};
use commonware_runtime::deterministic;
use commonware_runtime::Runner as _;
use lamina_agreement::SignedTx;
use lamina_app::interchain::{ACKS, ESCROW, SENT, VOUCHERS};
use lamina_interop::interchain::{InterchainMsg, Packet, TokenData};
use lamina_interop::ChainId;

use crate::interchain::{
    account, ack_msg, address, code, connect, recv_msg, timeout_msg, Chain, Relay, BLOCK_MS, FUNDS,
    TOKEN,
};

/// Blocks per epoch on chain B.
const EPOCH: u64 = 16;

/// What one seed did.
#[derive(Debug, Default, Clone)]
pub struct LinkReport {
    /// Transfers sent, both ways.
    pub transfers: u64,
    /// Packets delivered (first delivery).
    pub received: u64,
    /// Packets acknowledged.
    pub acknowledged: u64,
    /// Packets timed out.
    pub timed_out: u64,
    /// Messages the relayer lost.
    pub lost: u64,
    /// Messages it sent twice (the second refused).
    pub duplicated: u64,
    /// Relayer crashes.
    pub crashes: u64,
    /// Blocks of both chains, each checked.
    pub blocks: u64,
    /// Set changes chain B's client on A followed.
    pub set_changes: u64,
}

/// A tiny deterministic generator (xorshift), for the simulations' random sequences.
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed` (any seed, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Plays seed `seed` for `steps` steps on a deterministic executor.
pub fn run_link(seed: u64, steps: usize) -> Result<LinkReport, String> {
    let config = deterministic::Config::new().with_seed(seed);
    deterministic::Runner::new(config).start(|ctx| async move {
        simulate(&ctx, seed, steps)
            .await
            .map_err(|e| format!("seed {seed}: {e:#}"))
    })
}

struct World {
    a: Chain,
    b: Chain,
    relay: Relay,
    report: LinkReport,
    /// Messages the relayer holds, not yet submitted: (to A?, message).
    held: Vec<(bool, InterchainMsg)>,
}

async fn simulate(ctx: &deterministic::Context, seed: u64, steps: usize) -> Result<LinkReport> {
    let mut rng = Rng::new(seed);
    let mut a = Chain::new(ctx, ChainId(11), 1).await?;
    let mut b = Chain::new(ctx, ChainId(22), 4).await?;
    b.epoch_blocks = Some(EPOCH);
    let relay = connect(&mut a, &mut b).await?;
    let mut w = World {
        a,
        b,
        relay,
        report: LinkReport::default(),
        held: Vec::new(),
    };
    // One of B's validators is replaced at its first epoch boundary.
    let rotated: Vec<_> = (0..4u8)
        .map(|i| {
            lamina_interop::crypto::SecretKey::from_seed([
                22,
                i + if i == 3 { 9 } else { 1 },
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                7,
            ])
        })
        .collect();
    w.b.rotate(rotated);
    for _ in 0..steps {
        match rng.below(10) {
            0..=3 => {
                let (from_a, home) = (rng.chance(50), rng.chance(30));
                send(&mut w, &mut rng, from_a, home).await?
            }
            4..=6 => gather(&mut w, &mut rng).await?,
            7 => deliver(&mut w, &mut rng, false).await?,
            8 => {
                // Time passes on one side, sometimes enough to time packets out.
                let blocks = if rng.chance(20) { 12 } else { 1 + rng.below(3) };
                for _ in 0..blocks {
                    if rng.chance(50) {
                        w.a.block(&[]).await?;
                    } else {
                        w.b.block(&[]).await?;
                    }
                    check(&mut w)?;
                }
            }
            _ => {
                w.report.crashes += 1;
                w.held.clear();
            }
        }
    }
    // An honest relayer settles everything.
    w.held.clear();
    for _ in 0..64 {
        if pending(&w.a, &w.relay.a_client)?.is_empty()
            && pending(&w.b, &w.relay.b_client)?.is_empty()
        {
            break;
        }
        gather_all(&mut w).await?;
        while !w.held.is_empty() {
            deliver(&mut w, &mut rng, true).await?;
        }
        w.a.block(&[]).await?;
        w.b.block(&[]).await?;
        check(&mut w)?;
    }
    for (home, home_client, away, away_client) in [
        (&w.a, &w.relay.a_client, &w.b, &w.relay.b_client),
        (&w.b, &w.relay.b_client, &w.a, &w.relay.a_client),
    ] {
        let escrow = escrowed(home, home_client);
        let out = vouchers(away, &format!("transfer/{away_client}/asset-{TOKEN}"));
        if escrow != out || !pending(home, home_client)?.is_empty() {
            return Err(anyhow!(
                "settled: chain {} escrows {escrow}, vouchers of it {out}",
                home.chain_id.0
            ));
        }
    }
    w.report.set_changes = crate::interchain::known_epoch(&w.a, &w.relay.a_client)?;
    Ok(w.report)
}

fn pending(chain: &Chain, client: &str) -> Result<Vec<Packet>> {
    let next = lamina_app::interchain::NEXT_SEQUENCE
        .get_committed(chain.state(), &client.to_string())?
        .unwrap_or(1);
    let mut out = Vec::new();
    for seq in 1..next {
        if let Some(p) = SENT.get_committed(chain.state(), &(client.to_string(), seq))? {
            out.push(p);
        }
    }
    Ok(out)
}

fn escrowed(chain: &Chain, client: &str) -> u128 {
    ESCROW
        .get_committed(chain.state(), &(client.to_string(), TOKEN))
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn vouchers(chain: &Chain, denom: &str) -> u128 {
    VOUCHERS
        .get_committed(chain.state(), &denom.to_string())
        .ok()
        .flatten()
        .map_or(0, |v| chain.supply(v))
}

fn amount(packet: &Packet) -> Result<u128> {
    let data = TokenData::decode(packet.payloads[0].value.as_ref()).map_err(|e| anyhow!("{e}"))?;
    data.amount().map_err(|e| anyhow!("{e}"))
}

/// Whether `dst` accepted `packet` (received it with a success acknowledgement).
fn accepted(dst: &Chain, client: &str, packet: &Packet) -> Result<bool> {
    Ok(ACKS
        .get_committed(dst.state(), &(client.to_string(), packet.sequence))?
        .is_some_and(|ack| !ack.is_error()))
}

fn denom(packet: &Packet) -> Result<String> {
    let data = TokenData::decode(packet.payloads[0].value.as_ref()).map_err(|e| anyhow!("{e}"))?;
    Ok(data.denom)
}

/// The conservation of `home`'s token across the link; see the module docs.
fn conserve(home: &Chain, home_client: &str, away: &Chain, away_client: &str) -> Result<()> {
    let native = format!("asset-{TOKEN}");
    let voucher = format!("transfer/{away_client}/asset-{TOKEN}");
    let escrow = escrowed(home, home_client);
    let mut expected = vouchers(away, &voucher);
    for p in pending(home, home_client)? {
        if denom(&p)? == native && !accepted(away, away_client, &p)? {
            expected += amount(&p)?;
        }
    }
    for p in pending(away, away_client)? {
        if denom(&p)? == voucher && !accepted(home, home_client, &p)? {
            expected += amount(&p)?;
        }
    }
    if escrow != expected {
        return Err(anyhow!(
            "chain {}'s token at its height {} (the other chain at {}): escrow {escrow}, vouchers and packets in flight {expected}",
            home.chain_id.0,
            home.height(),
            away.height()
        ));
    }
    let total: u128 = (0..6)
        .map(|i| home.balance(TOKEN, &address(i)))
        .sum::<u128>()
        + escrow;
    if total != 6 * FUNDS {
        return Err(anyhow!(
            "chain {}'s token adds up to {total}",
            home.chain_id.0
        ));
    }
    Ok(())
}

/// Both chains' tokens conserved; see the module docs.
fn check(w: &mut World) -> Result<()> {
    w.report.blocks += 1;
    conserve(&w.a, &w.relay.a_client, &w.b, &w.relay.b_client)?;
    conserve(&w.b, &w.relay.b_client, &w.a, &w.relay.a_client)
}

async fn run_block(
    chain_a: bool,
    w: &mut World,
    txs: &[SignedTx],
) -> Result<Vec<lamina_interop::block::Receipt>> {
    let receipts = if chain_a {
        w.a.block(txs).await?
    } else {
        w.b.block(txs).await?
    };
    check(w)?;
    Ok(receipts)
}

/// A user of chain A (`from_a`) or B sends the chain's own token to the other chain, or
/// (`home`) sends back a voucher of the other chain's token that it holds.
async fn send(w: &mut World, rng: &mut Rng, from_a: bool, home: bool) -> Result<()> {
    let from = 1 + rng.below(4);
    let to = 1 + rng.below(4);
    let relay = if from_a {
        Relay {
            a_client: w.relay.a_client.clone(),
            b_client: w.relay.b_client.clone(),
        }
    } else {
        w.relay.reversed()
    };
    let chain = if from_a { &w.a } else { &w.b };
    let (asset, most, ttl) = if home {
        // Vouchers on this chain are named after this chain's client of the other.
        let denom = format!("transfer/{}/asset-{TOKEN}", relay.a_client);
        let Some(v) = VOUCHERS.get_committed(chain.state(), &denom)? else {
            return Ok(());
        };
        let held = chain.balance(v, &address(from));
        if held == 0 {
            return Ok(());
        }
        (v, held.min(5_000), 600)
    } else {
        let ttl = if rng.chance(25) { 4 } else { 600 };
        (TOKEN, 5_000, ttl)
    };
    let msg = relay.transfer(to, asset, 1 + u128::from(rng.below(most as u64)), ttl);
    let tx = chain.sign(&account(from), &msg, 0)?;
    let receipts = run_block(from_a, w, &[tx]).await?;
    if code(&receipts[0]).is_none() {
        w.report.transfers += 1;
    }
    Ok(())
}

/// The relayer looks at one direction and prepares messages for what is pending there
/// (updating the receiving client first, as it goes).
async fn gather(w: &mut World, rng: &mut Rng) -> Result<()> {
    let from_a = rng.chance(50);
    gather_direction(w, from_a).await
}

async fn gather_all(w: &mut World) -> Result<()> {
    gather_direction(w, true).await?;
    gather_direction(w, false).await
}

async fn gather_direction(w: &mut World, from_a: bool) -> Result<()> {
    let (src_client, dst_client) = if from_a {
        (w.relay.a_client.clone(), w.relay.b_client.clone())
    } else {
        (w.relay.b_client.clone(), w.relay.a_client.clone())
    };
    let packets = {
        let src = if from_a { &w.a } else { &w.b };
        pending(src, &src_client)?
    };
    for p in packets {
        let (src, dst) = if from_a { (&w.a, &w.b) } else { (&w.b, &w.a) };
        let received = ACKS.get_committed(dst.state(), &(dst_client.clone(), p.sequence))?;
        let dst_time_s = dst.header(dst.height()).map_or(0, |h| h.timestamp.0 / 1000);
        match received {
            Some(ack) => {
                // The ack is proven on dst, so src's client of dst must reach dst's latest.
                let msg = ack_msg(dst, &p, &ack).await?;
                w.held.push((from_a, msg));
            }
            None if dst_time_s >= p.timeout => {
                let msg = timeout_msg(dst, &p).await?;
                w.held.push((from_a, msg));
            }
            None if (dst.time_ms + 2 * BLOCK_MS) / 1000 < p.timeout => {
                let msg = recv_msg(src, &p).await?;
                w.held.push((!from_a, msg));
            }
            None => {}
        }
    }
    Ok(())
}

/// The proof height a relayed message names.
fn proof_height(msg: &InterchainMsg) -> Option<u64> {
    match msg {
        InterchainMsg::RecvPacket { proof_height, .. }
        | InterchainMsg::Acknowledge { proof_height, .. }
        | InterchainMsg::Timeout { proof_height, .. } => Some(proof_height.0),
        _ => None,
    }
}

/// The relayer submits some of what it holds: lost, reordered or sent twice at random, in
/// one block after the updates of the receiving side's client to each proof's height (and
/// the set changes it has not seen). A proof whose header the client can no longer take is
/// refused, and the packet is gathered again later.
async fn deliver(w: &mut World, rng: &mut Rng, honest: bool) -> Result<()> {
    if w.held.is_empty() {
        return Ok(());
    }
    let to_a = w.held[rng.below(w.held.len() as u64) as usize].0;
    let mut batch: Vec<InterchainMsg> = Vec::new();
    let mut kept = Vec::new();
    for (side, msg) in w.held.drain(..) {
        if side == to_a && batch.len() < 8 {
            batch.push(msg);
        } else {
            kept.push((side, msg));
        }
    }
    w.held = kept;
    for i in (1..batch.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        batch.swap(i, j);
    }
    let mut msgs = Vec::new();
    for msg in batch {
        if !honest && rng.chance(10) {
            w.report.lost += 1;
            continue;
        }
        if !honest && rng.chance(10) {
            w.report.duplicated += 1;
            msgs.push(msg.clone());
        }
        msgs.push(msg);
    }
    if msgs.is_empty() {
        return Ok(());
    }
    let (receiving, of, client) = if to_a {
        (&w.a, &w.b, w.relay.a_client.clone())
    } else {
        (&w.b, &w.a, w.relay.b_client.clone())
    };
    let known = crate::interchain::known_epoch(receiving, &client)?;
    let mut updates = of.set_change_updates(&client, known).unwrap_or_default();
    let heights: std::collections::BTreeSet<u64> = msgs.iter().filter_map(proof_height).collect();
    for h in heights {
        updates.push(of.update_at(&client, h)?);
    }
    let first = updates.len();
    let all: Vec<InterchainMsg> = updates.into_iter().chain(msgs).collect();
    let txs: Vec<SignedTx> = all
        .iter()
        .enumerate()
        .map(|(i, m)| receiving.sign(&account(5), m, i as u64))
        .collect::<Result<_>>()?;
    let receipts = run_block(to_a, w, &txs).await?;
    for (msg, receipt) in all[first..].iter().zip(&receipts[first..]) {
        if code(receipt).is_some() {
            continue;
        }
        match msg {
            InterchainMsg::RecvPacket { .. } => w.report.received += 1,
            InterchainMsg::Acknowledge { .. } => w.report.acknowledged += 1,
            InterchainMsg::Timeout { .. } => w.report.timed_out += 1,
            _ => {}
        }
    }
    Ok(())
}
