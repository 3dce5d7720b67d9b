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
    pool.insert(simple(1, 0, 5), 0, u128::MAX).unwrap();
    pool.insert(simple(2, 0, 9), 0, u128::MAX).unwrap();
    pool.insert(simple(3, 0, 5), 0, u128::MAX).unwrap();
    pool.insert(simple(1, 1, 50), 0, u128::MAX).unwrap();
    pool.insert(simple(2, 2, 100), 0, u128::MAX).unwrap(); // waits for nonce 1
    assert_eq!(
        order(&pool, unlimited()),
        vec![(2, 0), (1, 0), (1, 1), (3, 0)]
    );
    pool.insert(simple(2, 1, 1), 0, u128::MAX).unwrap();
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
    pool.insert(first.clone(), 5, u128::MAX).unwrap();
    assert_eq!(pool.insert(first, 5, u128::MAX), Err(Rejection::Duplicate));
    assert_eq!(
        pool.insert(simple(1, 4, 1), 5, u128::MAX),
        Err(Rejection::NonceTooLow {
            expected: 5,
            got: 4
        })
    );
    // The ready run is 5; the gap counts from its end, 6.
    assert_eq!(
        pool.insert(simple(1, 10, 1), 5, u128::MAX),
        Err(Rejection::NonceGap {
            expected: 6,
            got: 10,
            max_gap: 3
        })
    );
    pool.insert(simple(1, 9, 1), 5, u128::MAX).unwrap();
    assert_eq!(pool.len(), 2);
}

#[test]
fn the_gap_counts_from_the_end_of_the_ready_run() {
    let config = PoolConfig {
        max_nonce_gap: 2,
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    for nonce in 0..100 {
        pool.insert(simple(1, nonce, 1), 0, u128::MAX).unwrap();
    }
    // Nonces 0..100 are ready; 102 waits within the gap, 103 is too far.
    pool.insert(simple(1, 102, 1), 0, u128::MAX).unwrap();
    assert_eq!(
        pool.insert(simple(1, 103, 1), 0, u128::MAX),
        Err(Rejection::NonceGap {
            expected: 100,
            got: 103,
            max_gap: 2
        })
    );
    // Filling 100 joins 102 to the run (101 still missing), so the gap now counts from 101.
    pool.insert(simple(1, 100, 1), 0, u128::MAX).unwrap();
    pool.insert(simple(1, 103, 1), 0, u128::MAX).unwrap();
    assert_eq!(
        order(&pool, unlimited()).len(),
        101,
        "102 and 103 wait for 101"
    );
    pool.insert(simple(1, 101, 1), 0, u128::MAX).unwrap();
    assert_eq!(order(&pool, unlimited()).len(), 104);
    // The balance falls to pay for only 50: the tail leaves, and the run ends at 50 again.
    let one = Address::of(&sender(1));
    pool.revalidate(Height(1), [one], |_| Ok::<_, ()>((0, 50 * 1_000_000)))
        .unwrap();
    assert_eq!(pool.len(), 50, "only 50 maximum fees are payable");
    assert_eq!(
        pool.insert(simple(1, 53, 1), 0, u128::MAX),
        Err(Rejection::NonceGap {
            expected: 50,
            got: 53,
            max_gap: 2
        })
    );
}

#[test]
fn one_sender_keeps_thousands_of_nonces_in_flight_as_its_balance_allows() {
    let mut pool = Mempool::new(PoolConfig::default());
    let fee = 1_000_000;
    let balance = 10_000 * fee;
    for nonce in 0..10_000 {
        pool.insert(simple(1, nonce, 1), 0, balance).unwrap();
    }
    // The balance pays exactly 10,000 maximum fees: the next one is refused.
    assert_eq!(
        pool.insert(simple(1, 10_000, 1), 0, balance),
        Err(Rejection::InsufficientBalance {
            balance,
            needed: 10_001 * fee
        })
    );
    // A replacement counts out the fee it replaces.
    pool.insert(tx(1, 9_999, 2, fee, 0), 0, balance).unwrap();
    assert_eq!(
        pool.insert(tx(1, 9_999, 3, fee + 1, 0), 0, balance),
        Err(Rejection::InsufficientBalance {
            balance,
            needed: 10_000 * fee + 1
        })
    );
    let chosen = order(&pool, unlimited());
    assert_eq!(chosen.len(), 10_000);
    assert!(chosen.iter().zip(0..).all(|(t, n)| *t == (1, n)));
    // A block includes the first 6,000; the rest stay ready behind them.
    let one = Address::of(&sender(1));
    assert_eq!(
        pool.remove_included(Height(1), (0..6_000).map(|n| (one, n))),
        6_000
    );
    pool.insert(simple(1, 10_000, 1), 0, balance).unwrap();
    assert_eq!(order(&pool, unlimited()).len(), 4_001);
}

#[test]
fn replacement_needs_a_higher_tip_and_keeps_the_original_otherwise() {
    let mut pool = Mempool::new(PoolConfig::default());
    pool.insert(simple(1, 0, 100), 0, u128::MAX).unwrap();
    assert_eq!(
        pool.insert(simple(1, 0, 109), 0, u128::MAX),
        Err(Rejection::FeeTooLow {
            min: 110,
            offered: 109
        })
    );
    assert_eq!(
        pool.insert(tx(1, 0, 200, 10, 0), 0, u128::MAX),
        Err(Rejection::FeeTooLow {
            min: 110,
            offered: 200
        }),
        "a lower maximum fee does not replace"
    );
    let better = simple(1, 0, 110);
    pool.insert(better.clone(), 0, u128::MAX).unwrap();
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
    pool.insert(simple(1, 0, 1), 0, u128::MAX).unwrap();
    pool.insert(simple(1, 1, 1), 0, u128::MAX).unwrap();
    let full = Rejection::SenderFull {
        max_txs: 2,
        max_bytes: config.max_sender_bytes as u64,
    };
    assert_eq!(
        pool.insert(simple(1, 2, 1), 0, u128::MAX),
        Err(full.clone())
    );
    // A replacement keeps the count, so it is allowed.
    pool.insert(simple(1, 1, 5), 0, u128::MAX).unwrap();
    pool.insert(simple(2, 0, 1), 0, u128::MAX).unwrap();

    let by_bytes = PoolConfig {
        max_sender_bytes: 2 * (crate::tx::TX_OVERHEAD + 100),
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(by_bytes);
    pool.insert(tx(1, 0, 1, 1, 100), 0, u128::MAX).unwrap();
    pool.insert(tx(1, 1, 1, 1, 100), 0, u128::MAX).unwrap();
    assert!(matches!(
        pool.insert(tx(1, 2, 1, 1, 1), 0, u128::MAX),
        Err(Rejection::SenderFull { .. })
    ));
}

#[test]
fn a_busy_sender_cannot_crowd_out_the_others() {
    let config = PoolConfig {
        max_txs: 100,
        max_per_sender: 30,
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    // The busy sender submits as fast as it can, at the same tip as everyone else.
    let mut busy = 0;
    while pool.insert(simple(1, busy, 1), 0, u128::MAX).is_ok() {
        busy += 1;
    }
    assert_eq!(busy, 30, "held to its share of the pool");
    for other in 2..=10 {
        pool.insert(simple(other, 0, 1), 0, u128::MAX).unwrap();
    }
    // A block of 35 holds every other sender, after the busy one's earlier arrivals.
    let block = order(
        &pool,
        BlockLimits {
            max_txs: 35,
            ..unlimited()
        },
    );
    assert_eq!(block.iter().filter(|(s, _)| *s != 1).count(), 5);
    let block = order(
        &pool,
        BlockLimits {
            max_txs: 39,
            ..unlimited()
        },
    );
    assert_eq!(block.iter().filter(|(s, _)| *s != 1).count(), 9);
}

#[test]
fn a_full_pool_evicts_the_lowest_tip_and_its_later_nonces() {
    let config = PoolConfig {
        max_txs: 4,
        ..PoolConfig::default()
    };
    let mut pool = Mempool::new(config);
    pool.insert(simple(1, 0, 1), 0, u128::MAX).unwrap();
    pool.insert(simple(1, 1, 50), 0, u128::MAX).unwrap();
    pool.insert(simple(2, 0, 20), 0, u128::MAX).unwrap();
    pool.insert(simple(3, 0, 30), 0, u128::MAX).unwrap();
    assert_eq!(
        pool.insert(simple(4, 0, 1), 0, u128::MAX),
        Err(Rejection::PoolFull),
        "tips no more than the lowest"
    );
    pool.insert(simple(4, 0, 25), 0, u128::MAX).unwrap();
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
        pool.insert(tx(s, 0, 10, 1_000_000, 100), 0, u128::MAX)
            .unwrap();
    }
    assert_eq!(
        pool.insert(tx(9, 0, 5, 1_000_000, 1), 0, u128::MAX),
        Err(Rejection::PoolFull)
    );
    pool.insert(tx(9, 0, 11, 1_000_000, 100), 0, u128::MAX)
        .unwrap();
    assert_eq!(pool.bytes(), 3 * (crate::tx::TX_OVERHEAD + 100));
}

#[test]
fn selection_stays_within_block_limits() {
    let mut pool = Mempool::new(PoolConfig::default());
    for s in 0..10 {
        pool.insert(simple(s, 0, s as u128), 0, u128::MAX).unwrap();
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
        pool.insert(tx(1, nonce, 1, 100 * (nonce as u128 + 1), 0), 0, u128::MAX)
            .unwrap();
    }
    pool.insert(simple(2, 0, 1), 0, u128::MAX).unwrap();
    let one = Address::of(&sender(1));
    // Nonces 0 and 1 executed; the balance pays 300 but not nonce 3's 400.
    let removed = pool
        .revalidate(Height(1), [one], |_| Ok::<_, ()>((2, 300)))
        .unwrap();
    assert_eq!(removed, 3);
    assert_eq!(order(&pool, unlimited()), vec![(1, 2), (2, 0)]);
    assert_eq!(
        pool.insert(simple(1, 1, 5), 0, u128::MAX),
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
        pool.insert(simple(1, nonce, 5), 0, u128::MAX).unwrap();
    }
    pool.insert(simple(2, 0, 1), 0, u128::MAX).unwrap();
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
        pool.insert(simple(1, 1, 5), 0, u128::MAX),
        Err(Rejection::NonceTooLow {
            expected: 2,
            got: 1
        })
    );
    pool.insert(simple(1, 2, 5), 0, u128::MAX).unwrap();
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
        max_fee: u32,
    },
    Executed {
        sender: u8,
        next: u64,
        balance: u32,
    },
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    prop_oneof![
        8 => (0u8..8, 0u64..12, 0u16..50, 0u8..200, 1u32..3_000_000).prop_map(|(sender, nonce, tip, padding, max_fee)| {
            PoolOp::Insert { sender, nonce, tip, padding, max_fee }
        }),
        1 => (0u8..8, 0u64..12, 0u32..8_000_000).prop_map(|(sender, next, balance)| {
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
            max_sender_bytes: 4 * (crate::tx::TX_OVERHEAD + 120),
            max_nonce_gap: 3,
            replace_bump_percent: 10,
        };
        let mut pool = Mempool::new(config);
        let mut next = [0u64; 8];
        let mut balances = [6_000_000u128; 8];
        for op in ops {
            match op {
                PoolOp::Insert { sender, nonce, tip, padding, max_fee } => {
                    let s = sender as usize;
                    let _ = pool.insert(tx(sender, nonce, tip as u128, max_fee as u128, padding as usize), next[s], balances[s]);
                }
                PoolOp::Executed { sender, next: n, balance } => {
                    let s = sender as usize;
                    next[s] = next[s].max(n);
                    balances[s] = balance as u128;
                    let at = next[s];
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
            for (address, sender) in &pool.senders {
                prop_assert!(sender.txs.len() <= config.max_per_sender);
                prop_assert!(sender.txs.keys().all(|n| *n >= sender.next_nonce));
                let bytes: usize = sender.txs.values().map(|p| p.tx.encoded_len()).sum();
                prop_assert_eq!(bytes, sender.bytes);
                prop_assert!(sender.bytes <= config.max_sender_bytes);
                let reserved: u128 = sender.txs.values().map(|p| p.tx.tx.body.max_fee).sum();
                prop_assert_eq!(reserved, sender.reserved);
                // Every sender can pay the maximum fees of all it holds.
                let s = (0u8..8).find(|i| Address::of(&super::tests::sender(*i)) == *address).unwrap();
                prop_assert!(sender.reserved <= balances[s as usize]);
                // The ready run ends at the first nonce missing from the next one on, and no
                // more than the gap lies beyond it.
                let mut end = sender.next_nonce;
                while sender.txs.contains_key(&end) {
                    end += 1;
                }
                prop_assert_eq!(sender.ready_end, end);
                prop_assert!(sender.txs.keys().all(|n| *n <= end + config.max_nonce_gap + config.max_per_sender as u64));
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
            let _ = pool.insert(tx(sender, nonce, tip as u128, 2_000_000, padding as usize), 0, u128::MAX);
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
