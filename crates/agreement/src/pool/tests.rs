//! The mempool's rules, one by one, and its invariants under random traffic.

use lamina_interop::codec::BoundedBytes;
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::ChainId;
use proptest::prelude::*;

use super::*;
use crate::tx::{SignedTx, UnsignedTx};

fn sender(i: u8) -> PublicKey {
    PublicKey([i; 32])
}

/// A pooled transaction of sender `s` (execution and the pool never check signatures).
fn tx(s: u8, nonce: u64, tip: u128, max_fee: u128, padding: usize) -> Arc<VerifiedTx> {
    Arc::new(VerifiedTx::assume_verified(SignedTx {
        body: UnsignedTx {
            chain_id: ChainId(1),
            sender: sender(s),
            nonce,
            max_fee,
            tip,
            gas_limit: 10_000,
            module: 1,
            call: BoundedBytes::try_from_vec(vec![0; padding]).unwrap(),
        },
        signature: Signature([0; 64]),
    }))
}

fn simple(s: u8, nonce: u64, tip: u128) -> Arc<VerifiedTx> {
    tx(s, nonce, tip, 1_000_000, 0)
}

fn unlimited() -> BlockLimits {
    BlockLimits {
        max_gas: u64::MAX,
        max_bytes: usize::MAX,
        max_txs: usize::MAX,
    }
}

fn order(pool: &Mempool, limits: BlockLimits) -> Vec<(u8, u64)> {
    pool.select(limits)
        .iter()
        .map(|t| (t.tx.body.sender.0[0], t.tx.body.nonce))
        .collect()
}

#[test]
fn best_tip_first_then_arrival_with_each_senders_nonces_in_order() {
    let mut pool = Mempool::new(PoolConfig::default());
    pool.insert(simple(1, 0, 5), 0).unwrap();
    pool.insert(simple(2, 0, 9), 0).unwrap();
    pool.insert(simple(3, 0, 5), 0).unwrap();
    pool.insert(simple(1, 1, 50), 0).unwrap();
    pool.insert(simple(2, 2, 100), 0).unwrap(); // waits for nonce 1
    assert_eq!(
        order(&pool, unlimited()),
        vec![(2, 0), (1, 0), (1, 1), (3, 0)]
    );
    pool.insert(simple(2, 1, 1), 0).unwrap();
    assert_eq!(
        order(&pool, unlimited()),
        vec![(2, 0), (1, 0), (1, 1), (3, 0), (2, 1), (2, 2)]
    );
}

#[test]
fn nonce_rules_and_duplicates() {
    let config = PoolConfig {
        max_nonce_gap: 3,
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    let first = simple(1, 5, 1);
    pool.insert(first.clone(), 5).unwrap();
    assert_eq!(pool.insert(first, 5), Err(Rejection::Duplicate));
    assert_eq!(
        pool.insert(simple(1, 4, 1), 5),
        Err(Rejection::NonceTooLow {
            expected: 5,
            got: 4
        })
    );
    assert_eq!(
        pool.insert(simple(1, 9, 1), 5),
        Err(Rejection::NonceGap {
            expected: 5,
            got: 9,
            max_gap: 3
        })
    );
    pool.insert(simple(1, 8, 1), 5).unwrap();
    assert_eq!(pool.len(), 2);
}

#[test]
fn replacement_needs_a_higher_tip_and_keeps_the_original_otherwise() {
    let mut pool = Mempool::new(PoolConfig::default());
    pool.insert(simple(1, 0, 100), 0).unwrap();
    assert_eq!(
        pool.insert(simple(1, 0, 109), 0),
        Err(Rejection::FeeTooLow {
            min: 110,
            offered: 109
        })
    );
    assert_eq!(
        pool.insert(tx(1, 0, 200, 10, 0), 0),
        Err(Rejection::FeeTooLow {
            min: 110,
            offered: 200
        }),
        "a lower maximum fee does not replace"
    );
    let better = simple(1, 0, 110);
    pool.insert(better.clone(), 0).unwrap();
    assert_eq!(pool.len(), 1);
    assert!(pool.contains(&better.id));
    assert_eq!(pool.select(unlimited())[0].tx.body.tip, 110);
}

#[test]
fn per_sender_limit() {
    let config = PoolConfig {
        max_per_sender: 2,
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    pool.insert(simple(1, 0, 1), 0).unwrap();
    pool.insert(simple(1, 1, 1), 0).unwrap();
    assert_eq!(pool.insert(simple(1, 2, 1), 0), Err(Rejection::PoolFull));
    pool.insert(simple(2, 0, 1), 0).unwrap();
}

#[test]
fn a_full_pool_evicts_the_lowest_tip_and_its_later_nonces() {
    let config = PoolConfig {
        max_txs: 4,
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    pool.insert(simple(1, 0, 1), 0).unwrap();
    pool.insert(simple(1, 1, 50), 0).unwrap();
    pool.insert(simple(2, 0, 20), 0).unwrap();
    pool.insert(simple(3, 0, 30), 0).unwrap();
    assert_eq!(
        pool.insert(simple(4, 0, 1), 0),
        Err(Rejection::PoolFull),
        "tips no more than the lowest"
    );
    pool.insert(simple(4, 0, 25), 0).unwrap();
    // Sender 1's nonce 0 went, and its nonce 1 with it.
    assert_eq!(order(&pool, unlimited()), vec![(3, 0), (4, 0), (2, 0)]);
    assert_eq!(pool.len(), 3);
}

#[test]
fn the_byte_limit_counts_too() {
    let config = PoolConfig {
        max_bytes: 3 * (crate::tx::TX_OVERHEAD + 100),
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    for s in 0..3 {
        pool.insert(tx(s, 0, 10, 1_000_000, 100), 0).unwrap();
    }
    assert_eq!(
        pool.insert(tx(9, 0, 5, 1_000_000, 1), 0),
        Err(Rejection::PoolFull)
    );
    pool.insert(tx(9, 0, 11, 1_000_000, 100), 0).unwrap();
    assert_eq!(pool.bytes(), 3 * (crate::tx::TX_OVERHEAD + 100));
}

#[test]
fn selection_stays_within_block_limits() {
    let mut pool = Mempool::new(PoolConfig::default());
    for s in 0..10 {
        pool.insert(simple(s, 0, s as u128), 0).unwrap();
    }
    let by_gas = BlockLimits {
        max_gas: 35_000,
        ..unlimited()
    };
    assert_eq!(order(&pool, by_gas), vec![(9, 0), (8, 0), (7, 0)]);
    let by_count = BlockLimits {
        max_txs: 2,
        ..unlimited()
    };
    assert_eq!(order(&pool, by_count).len(), 2);
    // A body entry is the encoding and its length prefix: exactly two fit, one byte less
    // fits one.
    let entry = crate::tx::TX_OVERHEAD + super::BODY_ENTRY_OVERHEAD;
    let by_bytes = BlockLimits {
        max_bytes: 2 * entry,
        ..unlimited()
    };
    assert_eq!(order(&pool, by_bytes).len(), 2);
    let short = BlockLimits {
        max_bytes: 2 * entry - 1,
        ..unlimited()
    };
    assert_eq!(order(&pool, short).len(), 1);
}

#[test]
fn revalidation_drops_used_nonces_and_unaffordable_fees() {
    let mut pool = Mempool::new(PoolConfig::default());
    for nonce in 0..4 {
        pool.insert(tx(1, nonce, 1, 100 * (nonce as u128 + 1), 0), 0)
            .unwrap();
    }
    pool.insert(simple(2, 0, 1), 0).unwrap();
    let one = Address::of(&sender(1));
    // Nonces 0 and 1 executed; the balance pays 300 but not nonce 3's 400.
    let removed = pool
        .revalidate(Height(1), [one], |_| Ok::<_, ()>((2, 300)))
        .unwrap();
    assert_eq!(removed, 3);
    assert_eq!(order(&pool, unlimited()), vec![(1, 2), (2, 0)]);
    assert_eq!(
        pool.insert(simple(1, 1, 5), 0),
        Err(Rejection::NonceTooLow {
            expected: 2,
            got: 1
        }),
        "the pool remembers the sender's next nonce"
    );
}

#[test]
fn included_transactions_leave_and_pending_blocks_are_skipped() {
    let mut pool = Mempool::new(PoolConfig::default());
    for nonce in 0..3 {
        pool.insert(simple(1, nonce, 5), 0).unwrap();
    }
    pool.insert(simple(2, 0, 1), 0).unwrap();
    let one = Address::of(&sender(1));
    // A block holding sender 1's nonces 0 and 1 is proposed but not executed yet.
    let pending = HashMap::from([(one, 2)]);
    assert_eq!(
        pool.select_after(unlimited(), &pending)
            .iter()
            .map(|t| (t.tx.body.sender.0[0], t.tx.body.nonce))
            .collect::<Vec<_>>(),
        vec![(1, 2), (2, 0)]
    );
    assert_eq!(pool.remove_included(Height(1), [(one, 1)]), 2);
    assert_eq!(order(&pool, unlimited()), vec![(1, 2), (2, 0)]);
}

#[test]
fn a_late_copy_of_an_included_transaction_is_refused() {
    let mut pool = Mempool::new(PoolConfig::default());
    let one = Address::of(&sender(1));
    // Block 1 included sender 1's nonces 0 and 1; this pool never held them, and committed
    // state still says nonce 0 is next when a peer's copy of nonce 1 arrives.
    pool.remove_included(Height(1), [(one, 0), (one, 1)]);
    assert!(pool.admits_as_of(Height(0)));
    assert_eq!(
        pool.insert(simple(1, 1, 5), 0),
        Err(Rejection::NonceTooLow {
            expected: 2,
            got: 1
        })
    );
    pool.insert(simple(1, 2, 5), 0).unwrap();
    // Once committed state has moved FLOOR_BLOCKS past block 1, the pool forgets it, and
    // state read before block 1 may no longer be admitted against.
    pool.revalidate(Height(1 + FLOOR_BLOCKS), [one], |_| {
        Ok::<_, ()>((2, 1_000_000))
    })
    .unwrap();
    assert!(!pool.admits_as_of(Height(0)));
    assert!(pool.admits_as_of(Height(1)));
    assert!(pool.admits_as_of(Height(1 + FLOOR_BLOCKS)));
}

#[derive(Debug, Clone)]
enum PoolOp {
    Insert {
        sender: u8,
        nonce: u64,
        tip: u16,
        padding: u8,
    },
    Executed {
        sender: u8,
        next: u64,
        balance: u32,
    },
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    prop_oneof![
        8 => (0u8..8, 0u64..12, 0u16..50, 0u8..200).prop_map(|(sender, nonce, tip, padding)| {
            PoolOp::Insert { sender, nonce, tip, padding }
        }),
        1 => (0u8..8, 0u64..12, 0u32..3_000_000).prop_map(|(sender, next, balance)| {
            PoolOp::Executed { sender, next, balance }
        }),
    ]
}

proptest! {
    /// Whatever arrives, the pool stays within its limits, its indexes agree, and a block's
    /// selection holds each sender's nonces consecutively from its next nonce.
    #[test]
    fn invariants_hold_under_random_traffic(ops in proptest::collection::vec(pool_op(), 1..200)) {
        let config = PoolConfig {
            max_txs: 20,
            max_bytes: 20 * (crate::tx::TX_OVERHEAD + 120),
            max_per_sender: 5,
            max_nonce_gap: 6,
            replace_bump_percent: 10,
        };
        let mut pool = Mempool::new(config);
        let mut next = [0u64; 8];
        for op in ops {
            match op {
                PoolOp::Insert { sender, nonce, tip, padding } => {
                    let _ = pool.insert(tx(sender, nonce, tip as u128, 2_000_000, padding as usize), next[sender as usize]);
                }
                PoolOp::Executed { sender, next: n, balance } => {
                    next[sender as usize] = next[sender as usize].max(n);
                    let at = next[sender as usize];
                    pool.revalidate(Height(0), [Address::of(&super::tests::sender(sender))], |_| Ok::<_, ()>((at, balance as u128))).unwrap();
                }
            }
            prop_assert!(pool.len() <= config.max_txs);
            prop_assert!(pool.bytes() <= config.max_bytes);
            prop_assert_eq!(pool.by_id.len(), pool.by_tip.len());
            let counted: usize = pool.senders.values().map(|s| s.txs.len()).sum();
            prop_assert_eq!(counted, pool.len());
            let bytes: usize = pool.senders.values().flat_map(|s| s.txs.values()).map(|p| p.tx.encoded_len()).sum();
            prop_assert_eq!(bytes, pool.bytes());
            for sender in pool.senders.values() {
                prop_assert!(sender.txs.len() <= config.max_per_sender);
                prop_assert!(sender.txs.keys().all(|n| *n >= sender.next_nonce));
            }
            let mut expected: HashMap<Address, u64> = HashMap::new();
            for tx in pool.select(unlimited()) {
                let want = expected.entry(tx.sender).or_insert(pool.senders[&tx.sender].next_nonce);
                prop_assert_eq!(tx.tx.body.nonce, *want);
                *want += 1;
            }
        }
    }
}

/// The selection rule written the obvious way: a heap of every sender's next ready
/// transaction, the best popped and its successor pushed.
fn reference_select(
    pool: &Mempool,
    limits: BlockLimits,
    pending: &HashMap<Address, u64>,
) -> Vec<(Address, u64)> {
    let mut heads: BinaryHeap<TipKey> = pool
        .senders
        .iter()
        .filter_map(|(address, sender)| {
            let next = pending
                .get(address)
                .map_or(sender.next_nonce, |p| (*p).max(sender.next_nonce));
            let pooled = sender.txs.get(&next)?;
            Some((
                pooled.tx.tx.body.tip,
                Reverse(pooled.arrival),
                *address,
                next,
            ))
        })
        .collect();
    let (mut gas, mut bytes) = (0u64, 0usize);
    let mut out = Vec::new();
    while let Some((_, _, address, nonce)) = heads.pop() {
        if out.len() >= limits.max_txs {
            break;
        }
        let sender = &pool.senders[&address];
        let tx = &sender.txs[&nonce].tx;
        let next_gas = gas.saturating_add(tx.tx.body.gas_limit);
        let size = tx.encoded_len() + super::BODY_ENTRY_OVERHEAD;
        if next_gas > limits.max_gas || bytes + size > limits.max_bytes {
            continue;
        }
        gas = next_gas;
        bytes += size;
        out.push((address, nonce));
        if let Some(pooled) = sender.txs.get(&(nonce + 1)) {
            heads.push((
                pooled.tx.tx.body.tip,
                Reverse(pooled.arrival),
                address,
                nonce + 1,
            ));
        }
    }
    out
}

proptest! {
    /// Selection walks the tip index rather than every sender, and chooses exactly what the
    /// obvious rule chooses, under block limits and with transactions pending in blocks.
    #[test]
    fn selection_equals_the_obvious_rule(
        txs in proptest::collection::vec((0u8..12, 0u64..6, 0u16..4, 0u8..100), 1..80),
        pending in proptest::collection::vec((0u8..12, 0u64..4), 0..6),
        max_txs in 1usize..40,
        max_gas in 10_000u64..300_000,
    ) {
        let mut pool = Mempool::new(PoolConfig::default());
        for (sender, nonce, tip, padding) in txs {
            let _ = pool.insert(tx(sender, nonce, tip as u128, 2_000_000, padding as usize), 0);
        }
        let pending: HashMap<Address, u64> = pending
            .into_iter()
            .map(|(s, n)| (Address::of(&super::tests::sender(s)), n))
            .collect();
        for limits in [
            unlimited(),
            BlockLimits { max_txs, ..unlimited() },
            BlockLimits { max_gas, ..unlimited() },
            BlockLimits { max_bytes: 2_000, max_txs, max_gas },
        ] {
            let chosen: Vec<(Address, u64)> = pool
                .select_after(limits, &pending)
                .iter()
                .map(|t| (t.sender, t.tx.body.nonce))
                .collect();
            prop_assert_eq!(chosen, reference_select(&pool, limits, &pending));
        }
    }
}
