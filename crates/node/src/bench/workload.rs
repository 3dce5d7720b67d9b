//! The benchmark's workload: `accounts` funded accounts and `txs` signed transactions, drawn
//! from the population by a seeded generator, so that two processes given the same figures
//! build byte-identical transactions. `transfers` (the default): each sender and receiver
//! uniform; `swaps` and `defi`: see [`super::defi`].

use lamina_agreement::modules::bank::{BankCall, NATIVE};
use lamina_agreement::UnsignedTx;
use lamina_interop::block::RawTx;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::{Address, ChainId, Hash};
use rayon::prelude::*;
use serde::Serialize;

use super::defi::{self, Action, Zipf};

/// Gas limit of a benchmark transfer (a transfer uses well under half of it).
pub(crate) const GAS_LIMIT: u64 = 50_000;
/// Native units each benchmark transfer moves.
pub(crate) const AMOUNT: u128 = 1;

/// Which transactions the benchmark sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Workload {
    /// Native transfers between uniformly drawn accounts (senders from the first
    /// `--senders` of them).
    Transfers,
    /// Of every 20 transactions: 9 swaps, 3 two-hop swaps, 2 loans (supply, borrow, repay:
    /// 6 transactions), 2 transfers; and the oracle's prices once a block.
    Defi,
    /// Swaps only.
    Swaps,
}

impl Workload {
    /// The mix, for the report.
    pub(crate) fn mix(self) -> &'static str {
        match self {
            Workload::Transfers => "native transfers, sender and receiver uniform",
            Workload::Defi => {
                "45% swaps, 15% two-hop swaps, 30% lending (supply, borrow, repay), \
                 10% transfers; oracle prices once a block"
            }
            Workload::Swaps => "swaps only",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Funded accounts.
    pub(crate) accounts: u32,
    /// The transfers workload's senders: the first `senders` accounts (receivers are drawn
    /// from all of them).
    pub(crate) senders: u32,
    /// Transactions.
    pub(crate) txs: u32,
    /// Which.
    pub(crate) workload: Workload,
    /// The DeFi workloads' pools and markets.
    pub(crate) defi: defi::Params,
    /// Transactions between two of the oracle's reports (a block's worth).
    pub(crate) report_every: u32,
    /// Seed of the sender and receiver draws.
    pub(crate) seed: u64,
    /// The chain the transfers are signed for.
    pub(crate) chain_id: ChainId,
    /// The chain's price of gas.
    pub(crate) gas_price: u128,
}

/// Key `i` of a population: seeded by `SHA-256("lamina/bench/" | population LE | i LE)`.
/// Each seed of the draws has its own population, so a run against a chain that an earlier
/// run used can start from fresh accounts.
pub(crate) fn account_key(population: u64, i: u64) -> SecretKey {
    let mut seed = b"lamina/bench/".to_vec();
    seed.extend_from_slice(&population.to_le_bytes());
    seed.extend_from_slice(&i.to_le_bytes());
    SecretKey::from_seed(Hash::of(&seed).0)
}

/// The keys of the `accounts` accounts of population `population`, derived on all cores.
pub(crate) fn keys(population: u64, accounts: u32) -> Vec<SecretKey> {
    (0..accounts)
        .into_par_iter()
        .map(|i| account_key(population, u64::from(i)))
        .collect()
}

/// SplitMix64: small, fast and identical everywhere.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        // Multiply-shift: uniform enough for populations far below 2^32.
        (((self.next() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One transaction: who sends it, with which nonce, and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) sender: u32,
    pub(crate) nonce: u32,
    pub(crate) action: Action,
}

/// The transactions in submission order. A sender's nonces rise in that order, so any
/// prefix of the sequence can execute.
pub(crate) fn plan(shape: &Shape) -> Vec<Plan> {
    let mut draw = Draw(shape.seed);
    let mut nonces = vec![0u32; shape.accounts as usize];
    let mut plan = Vec::with_capacity(shape.txs as usize);
    let mut push = |plan: &mut Vec<Plan>, sender: u32, action: Action| {
        let nonce = nonces[sender as usize];
        nonces[sender as usize] += 1;
        plan.push(Plan {
            sender,
            nonce,
            action,
        });
    };
    let transfer = |draw: &mut Draw| {
        let sender = draw.below(shape.senders.clamp(1, shape.accounts));
        let mut receiver = draw.below(shape.accounts);
        if receiver == sender {
            receiver = (receiver + 1) % shape.accounts;
        }
        (sender, Action::Transfer { receiver })
    };
    if shape.workload == Workload::Transfers {
        while plan.len() < shape.txs as usize {
            let (sender, action) = transfer(&mut draw);
            push(&mut plan, sender, action);
        }
        return plan;
    }
    let params = &shape.defi;
    let pools = Zipf::new(params.pools, params.zipf);
    let others = Zipf::new(params.pools.saturating_sub(1).max(1), params.zipf);
    let traders = shape.accounts - defi::FIRST_TRADER;
    let trader = |draw: &mut Draw| defi::FIRST_TRADER + draw.below(traders);
    let reports = shape.workload == Workload::Defi && params.markets > 1;
    if shape.workload == Workload::Defi {
        for market in 1..params.markets {
            push(&mut plan, defi::PROVIDER, Action::Seed { market });
        }
    }
    let mut since_report = 0;
    while plan.len() < shape.txs as usize {
        if reports && since_report >= shape.report_every {
            push(&mut plan, defi::FEEDER, Action::Report);
            since_report = 0;
        }
        let before = plan.len();
        let swap = |draw: &mut Draw| Action::Swap {
            pool: pools.rank(draw.unit()),
        };
        match shape.workload {
            Workload::Swaps => {
                let sender = trader(&mut draw);
                let action = swap(&mut draw);
                push(&mut plan, sender, action);
            }
            _ => match draw.below(16) {
                0..=8 => {
                    let sender = trader(&mut draw);
                    let action = swap(&mut draw);
                    push(&mut plan, sender, action);
                }
                9..=11 if params.pools > 1 => {
                    let sender = trader(&mut draw);
                    let pool = 1 + others.rank(draw.unit());
                    push(&mut plan, sender, Action::TwoHop { pool });
                }
                9..=11 => {
                    let sender = trader(&mut draw);
                    let action = swap(&mut draw);
                    push(&mut plan, sender, action);
                }
                12..=13 => {
                    let sender = trader(&mut draw);
                    let market = if params.markets > 1 {
                        1 + draw.below(params.markets - 1)
                    } else {
                        0
                    };
                    push(&mut plan, sender, Action::Supply);
                    push(&mut plan, sender, Action::Borrow { market });
                    push(&mut plan, sender, Action::Repay { market });
                }
                _ => {
                    // 14 and 15.
                    let (sender, action) = transfer(&mut draw);
                    push(&mut plan, sender, action);
                }
            },
        }
        since_report += (plan.len() - before) as u32;
    }
    plan.truncate(shape.txs as usize);
    plan
}

/// Signs the planned transfers on all cores; `progress` is called with each finished count.
pub(crate) fn sign(
    shape: &Shape,
    keys: &[SecretKey],
    addresses: &[Address],
    plan: &[Plan],
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<RawTx> {
    plan.par_chunks(4096)
        .flat_map_iter(|chunk| {
            let signed: Vec<RawTx> = chunk
                .iter()
                .map(|p| match p.action {
                    Action::Transfer { receiver } => transfer(
                        shape,
                        &keys[p.sender as usize],
                        u64::from(p.nonce),
                        addresses[receiver as usize],
                    ),
                    action => {
                        let (module, call, gas_limit) = defi::call(action, &shape.defi, addresses);
                        signed(
                            shape,
                            &keys[p.sender as usize],
                            u64::from(p.nonce),
                            module,
                            call,
                            gas_limit,
                        )
                    }
                })
                .collect();
            progress(signed.len() as u64);
            signed
        })
        .collect()
}

/// The most a benchmark transfer can cost its sender in fees.
pub(crate) fn max_fee(gas_price: u128) -> u128 {
    u128::from(GAS_LIMIT) * gas_price
}

fn transfer(shape: &Shape, from: &SecretKey, nonce: u64, to: Address) -> RawTx {
    native_transfer(shape.chain_id, shape.gas_price, from, nonce, to, AMOUNT)
}

/// A signed call, at most its gas limit's worth in fees and no tip.
fn signed(
    shape: &Shape,
    from: &SecretKey,
    nonce: u64,
    module: u16,
    call: Vec<u8>,
    gas_limit: u64,
) -> RawTx {
    UnsignedTx {
        chain_id: shape.chain_id,
        sender: from.public_key(),
        nonce,
        max_fee: u128::from(gas_limit) * shape.gas_price,
        tip: 0,
        gas_limit,
        module,
        call: BoundedBytes::try_from_vec(call)
            .unwrap_or_else(|_| unreachable!("a workload call is at most a few hundred bytes")),
    }
    .sign(from)
    .to_raw()
}

/// A signed transfer of `amount` native units, at most [`max_fee`] in fees and no tip.
pub(crate) fn native_transfer(
    chain_id: ChainId,
    gas_price: u128,
    from: &SecretKey,
    nonce: u64,
    to: Address,
    amount: u128,
) -> RawTx {
    let call = codec::encode(&BankCall::Transfer {
        to,
        asset: NATIVE,
        amount,
    });
    UnsignedTx {
        chain_id,
        sender: from.public_key(),
        nonce,
        max_fee: max_fee(gas_price),
        tip: 0,
        gas_limit: GAS_LIMIT,
        module: 1,
        call: BoundedBytes::try_from_vec(call)
            .unwrap_or_else(|_| unreachable!("a transfer call is a few dozen bytes")),
    }
    .sign(from)
    .to_raw()
}

/// Finds which planned transfer a transaction in a block is, from its sender and nonce (bytes
/// 8..40 and 40..48 of the format), without decoding or hashing it.
pub(crate) struct Index {
    by_key: hashbrown::HashMap<[u8; 32], u32>,
    /// Transfer indices of account `a` by nonce: `txs[starts[a] .. starts[a + 1]]`.
    starts: Vec<u32>,
    txs: Vec<u32>,
}

impl Index {
    pub(crate) fn new(public_keys: &[PublicKey], plan: &[Plan]) -> Index {
        let by_key = public_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.0, i as u32))
            .collect();
        let mut starts = vec![0u32; public_keys.len() + 1];
        for p in plan {
            starts[p.sender as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut txs = vec![0u32; plan.len()];
        for (i, p) in plan.iter().enumerate() {
            txs[(starts[p.sender as usize] + p.nonce) as usize] = i as u32;
        }
        Index {
            by_key,
            starts,
            txs,
        }
    }

    /// The planned transfer `raw` is, if it is one.
    pub(crate) fn find(&self, raw: &[u8]) -> Option<u32> {
        let key: [u8; 32] = raw.get(8..40)?.try_into().ok()?;
        let nonce = u64::from_le_bytes(raw.get(40..48)?.try_into().ok()?);
        let account = *self.by_key.get(&key)? as usize;
        let (start, end) = (self.starts[account], self.starts[account + 1]);
        let slot = u64::from(start).checked_add(nonce)?;
        if slot >= u64::from(end) {
            return None;
        }
        self.txs.get(slot as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            accounts: 50,
            senders: 50,
            txs: 400,
            workload: Workload::Transfers,
            defi: defi::Params {
                pools: 1,
                zipf: 0.0,
                markets: 1,
            },
            report_every: u32::MAX,
            seed: 7,
            chain_id: ChainId(9),
            gas_price: 1,
        }
    }

    #[test]
    fn the_plan_is_seeded_uniform_and_nonces_rise_per_sender() {
        let shape = shape();
        let plan = plan(&shape);
        assert_eq!(plan, super::plan(&shape), "same seed, same plan");
        assert_ne!(plan, super::plan(&Shape { seed: 8, ..shape }));
        let mut next = [0u32; 50];
        let mut senders = std::collections::HashSet::new();
        for p in &plan {
            let Action::Transfer { receiver } = p.action else {
                panic!("a transfer workload sends transfers");
            };
            assert_ne!(p.sender, receiver);
            assert_eq!(p.nonce, next[p.sender as usize]);
            next[p.sender as usize] += 1;
            senders.insert(p.sender);
        }
        assert!(
            senders.len() > 45,
            "uniform draws reach most of 50 accounts"
        );
    }

    #[test]
    fn each_seed_has_its_own_accounts() {
        let one = keys(1, 3);
        let two = keys(2, 3);
        assert_eq!(one[0].public_key(), account_key(1, 0).public_key());
        assert_ne!(one[0].public_key(), one[1].public_key());
        assert!(one
            .iter()
            .all(|a| two.iter().all(|b| a.public_key() != b.public_key())));
    }

    #[test]
    fn the_index_finds_each_signed_transfer() {
        let shape = shape();
        let keys = keys(shape.seed, shape.accounts);
        let public: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let addresses: Vec<Address> = public.iter().map(Address::of).collect();
        let plan = plan(&shape);
        let txs = sign(&shape, &keys, &addresses, &plan, &|_| {});
        let index = Index::new(&public, &plan);
        for (i, tx) in txs.iter().enumerate() {
            assert_eq!(index.find(tx.as_ref()), Some(i as u32));
            let decoded = lamina_agreement::SignedTx::decode_raw(tx.as_ref()).unwrap();
            assert_eq!(decoded.body.nonce, u64::from(plan[i].nonce));
        }
        assert_eq!(index.find(&[0u8; 20]), None, "too short");
        let first: &[u8] = txs[0].as_ref();
        let mut unknown = first.to_vec();
        unknown[8] ^= 1;
        assert_eq!(index.find(&unknown), None, "unknown sender");
    }
}
