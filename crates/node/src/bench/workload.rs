//! The benchmark's workload: `accounts` funded accounts and `txs` signed transfers between
//! them, each sender and receiver drawn uniformly from the population by a seeded generator,
//! so that two processes given the same figures build byte-identical transactions.

use lamina_agreement::modules::bank::{BankCall, NATIVE};
use lamina_agreement::UnsignedTx;
use lamina_interop::block::RawTx;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::{Address, ChainId, Hash};
use rayon::prelude::*;

/// Gas limit of a benchmark transfer (a transfer uses well under half of it).
pub(crate) const GAS_LIMIT: u64 = 50_000;
/// Native units each benchmark transfer moves.
pub(crate) const AMOUNT: u128 = 1;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Funded accounts.
    pub(crate) accounts: u32,
    /// Transfers.
    pub(crate) txs: u32,
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
}

/// One transfer: who sends, with which nonce, to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) sender: u32,
    pub(crate) nonce: u32,
    pub(crate) receiver: u32,
}

/// The transfers in submission order. A sender's nonces rise in that order, so any prefix of
/// the sequence can execute.
pub(crate) fn plan(shape: &Shape) -> Vec<Plan> {
    let mut draw = Draw(shape.seed);
    let mut nonces = vec![0u32; shape.accounts as usize];
    (0..shape.txs)
        .map(|_| {
            let sender = draw.below(shape.accounts);
            let mut receiver = draw.below(shape.accounts);
            if receiver == sender {
                receiver = (receiver + 1) % shape.accounts;
            }
            let nonce = nonces[sender as usize];
            nonces[sender as usize] += 1;
            Plan {
                sender,
                nonce,
                receiver,
            }
        })
        .collect()
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
                .map(|p| {
                    transfer(
                        shape,
                        &keys[p.sender as usize],
                        u64::from(p.nonce),
                        addresses[p.receiver as usize],
                    )
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
            txs: 400,
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
            assert_ne!(p.sender, p.receiver);
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
