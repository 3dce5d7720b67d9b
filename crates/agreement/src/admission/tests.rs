//! Every verdict admission can give, in submission order, across batches.

use lamina_interop::{Address, ChainId};

use super::*;
use crate::modules::bank::NATIVE;
use crate::pool::PoolConfig;
use crate::runtime::RuntimeConfig;
use crate::testing::{funded_state, key, transfer};

const CHAIN: ChainId = ChainId(3);

fn setup(accounts: u64) -> (Runtime, hashbrown::HashMap<Vec<u8>, Vec<u8>>) {
    let runtime = Runtime::builder(RuntimeConfig::new(CHAIN)).build().unwrap();
    let addresses: Vec<Address> = (0..accounts)
        .map(|i| Address::of(&key(i).public_key()))
        .collect();
    let state = funded_state(&runtime, &addresses, 1_000_000, &[]).unwrap();
    (runtime, state)
}

fn reason(verdict: &Admission) -> Option<&Rejection> {
    match verdict {
        Admission::Accepted { .. } => None,
        Admission::Rejected { reason, .. } => Some(reason),
    }
}

#[test]
fn each_rejection_has_its_reason() {
    let (runtime, state) = setup(2);
    let pool = Mutex::new(Mempool::new(PoolConfig {
        max_nonce_gap: 4,
        ..PoolConfig::default()
    }));
    let to = Address([9; 32]);
    let good = transfer(&runtime, &key(0), 0, to, NATIVE, 1, 1);
    let mut bad_sig = transfer(&runtime, &key(0), 1, to, NATIVE, 1, 1);
    bad_sig.signature.0[0] ^= 1;
    let mut wrong_chain = transfer(&runtime, &key(0), 1, to, NATIVE, 1, 1).body;
    wrong_chain.chain_id = ChainId(4);
    let wrong_chain = wrong_chain.sign(&key(0));
    let mut cheap = transfer(&runtime, &key(0), 1, to, NATIVE, 1, 1).body;
    cheap.max_fee -= 1;
    let cheap = cheap.sign(&key(0));
    let mut rich = transfer(&runtime, &key(0), 1, to, NATIVE, 1, 1).body;
    rich.max_fee = 2_000_000;
    let rich = rich.sign(&key(0));
    let gap = transfer(&runtime, &key(0), 9, to, NATIVE, 1, 1);
    let unfunded = transfer(&runtime, &key(7), 0, to, NATIVE, 1, 1);
    let other_sender = transfer(&runtime, &key(1), 0, to, NATIVE, 1, 1);
    let mut nowhere = transfer(&runtime, &key(0), 1, to, NATIVE, 1, 1).body;
    nowhere.module = 7;
    let nowhere = nowhere.sign(&key(0));
    let mut greedy = transfer(&runtime, &key(0), 1, to, NATIVE, 1, 1).body;
    greedy.tip = u128::MAX;
    let greedy = greedy.sign(&key(0));

    let raw = vec![
        good.to_raw(),
        good.to_raw(),
        bad_sig.to_raw(),
        wrong_chain.to_raw(),
        cheap.to_raw(),
        rich.to_raw(),
        gap.to_raw(),
        unfunded.to_raw(),
        RawTx::try_from_vec(vec![1, 2, 3]).unwrap(),
        other_sender.to_raw(),
        nowhere.to_raw(),
        greedy.to_raw(),
    ];
    let verdicts = admit(
        &runtime,
        &pool,
        &SignatureBatches::new(),
        &state,
        Height(0),
        &raw,
    );
    assert_eq!(verdicts.len(), raw.len());
    assert_eq!(
        verdicts[0],
        Admission::Accepted {
            id: Hash::of(raw[0].as_ref())
        }
    );
    assert_eq!(reason(&verdicts[1]), Some(&Rejection::Duplicate));
    assert_eq!(reason(&verdicts[2]), Some(&Rejection::BadSignature));
    assert_eq!(
        reason(&verdicts[3]),
        Some(&Rejection::WrongChain {
            expected: 3,
            got: 4
        })
    );
    assert!(matches!(
        reason(&verdicts[4]),
        Some(Rejection::FeeTooLow { .. })
    ));
    assert!(matches!(
        reason(&verdicts[5]),
        Some(Rejection::InsufficientBalance {
            balance: 1_000_000,
            needed: 2_000_000
        })
    ));
    assert!(matches!(
        reason(&verdicts[6]),
        // Nonce 0 is pooled, so the ready run ends at 1.
        Some(Rejection::NonceGap {
            expected: 1,
            got: 9,
            max_gap: 4
        })
    ));
    assert!(matches!(
        reason(&verdicts[7]),
        Some(Rejection::InsufficientBalance { balance: 0, .. })
    ));
    assert!(matches!(
        reason(&verdicts[8]),
        Some(Rejection::Malformed { .. })
    ));
    assert_eq!(reason(&verdicts[9]), None);
    // A call for a module the chain lacks is refused, not admitted and charged.
    assert_eq!(
        reason(&verdicts[10]),
        Some(&Rejection::UnknownModule { module: 7, last: 1 })
    );
    // A tip no fee can cover is named as such.
    match reason(&verdicts[11]) {
        Some(Rejection::Malformed { detail }) => assert!(
            detail.starts_with(&format!("the tip {} plus", u128::MAX)),
            "{detail}"
        ),
        other => panic!("a maximal tip got {other:?}"),
    }
    for (verdict, raw) in verdicts.iter().zip(&raw) {
        let id = match verdict {
            Admission::Accepted { id } | Admission::Rejected { id, .. } => *id,
        };
        assert_eq!(
            id,
            Hash::of(raw.as_ref()),
            "verdicts stay in submission order"
        );
    }
    assert_eq!(pool.lock().len(), 2);
}

#[test]
fn nonce_too_low_and_a_full_pool() {
    let (runtime, mut state) = setup(3);
    // Account 0 has used nonces 0..5.
    let sender = Address::of(&key(0).public_key());
    let record = accounts::Account {
        nonce: 5,
        ..accounts::committed(&state, &sender).unwrap()
    };
    state.insert(
        accounts::account_key(&sender),
        lamina_interop::codec::encode(&record),
    );
    let pool = Mutex::new(Mempool::new(PoolConfig {
        max_txs: 1,
        ..PoolConfig::default()
    }));
    let to = Address([9; 32]);
    let raw = vec![
        transfer(&runtime, &key(0), 4, to, NATIVE, 1, 1).to_raw(),
        transfer(&runtime, &key(1), 0, to, NATIVE, 1, 5).to_raw(),
        transfer(&runtime, &key(2), 0, to, NATIVE, 1, 1).to_raw(),
    ];
    let verdicts = admit(
        &runtime,
        &pool,
        &SignatureBatches::new(),
        &state,
        Height(0),
        &raw,
    );
    assert_eq!(
        reason(&verdicts[0]),
        Some(&Rejection::NonceTooLow {
            expected: 5,
            got: 4
        })
    );
    assert_eq!(reason(&verdicts[1]), None);
    assert_eq!(reason(&verdicts[2]), Some(&Rejection::PoolFull));
}

#[test]
fn one_bad_signature_in_a_large_batch_fails_only_itself() {
    let (runtime, state) = setup(300);
    let pool = Mutex::new(Mempool::new(PoolConfig::default()));
    let to = Address([9; 32]);
    let raw: Vec<RawTx> = (0..300)
        .map(|i| {
            let mut tx = transfer(&runtime, &key(i), 0, to, NATIVE, 1, 1);
            if i == 200 {
                tx.signature.0[5] ^= 0x40;
            }
            tx.to_raw()
        })
        .collect();
    let batches = SignatureBatches::new();
    let verdicts = admit(&runtime, &pool, &batches, &state, Height(0), &raw);
    let rejected: Vec<usize> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| reason(v).is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rejected, vec![200]);
    assert_eq!(reason(&verdicts[200]), Some(&Rejection::BadSignature));
    assert_eq!(pool.lock().len(), 299);
    assert!(
        batches.limit() < SignatureBatches::MAX,
        "a failed batch shrinks the next ones"
    );
}

#[test]
fn batches_shrink_when_they_fail_and_grow_back_while_they_verify() {
    let batches = SignatureBatches::new();
    batches.record(false);
    assert_eq!(batches.limit(), SignatureBatches::MAX / 4);
    for _ in 0..10 {
        batches.record(false);
    }
    assert_eq!(
        batches.limit(),
        SignatureBatches::MIN,
        "never below the minimum"
    );
    batches.record(true);
    assert_eq!(batches.limit(), SignatureBatches::MIN * 2);
    for _ in 0..10 {
        batches.record(true);
    }
    assert_eq!(
        batches.limit(),
        SignatureBatches::MAX,
        "never above the maximum"
    );
}

#[test]
fn chunks_keep_every_thread_busy_within_the_limit() {
    let max = SignatureBatches::MAX;
    // Two threads, a submission of 4,096: four chunks of the largest size.
    assert_eq!(chunk_len(4_096, 2, max), 1_024);
    // Sixteen threads: one chunk each.
    assert_eq!(chunk_len(4_096, 16, max), 256);
    // Uneven: 3,000 on two threads in four chunks of 750, not 1,024 + 1,024 + 952.
    assert_eq!(chunk_len(3_000, 2, max), 750);
    // A lowered limit splits further, down to the minimum.
    assert_eq!(chunk_len(4_096, 2, 256), 256);
    assert_eq!(chunk_len(4_096, 2, 1), SignatureBatches::MIN);
    // Small submissions stay whole rather than spread in slivers.
    assert_eq!(chunk_len(10, 16, max), SignatureBatches::MIN);
    assert_eq!(chunk_len(0, 0, 0), SignatureBatches::MIN);
    for (len, threads) in [(1, 1), (999, 3), (10_000, 2), (65_536, 16), (100_000, 7)] {
        for limit in [32, 100, 1_024] {
            let chunk = chunk_len(len, threads, limit);
            assert!(
                (SignatureBatches::MIN..=max.min(limit.max(SignatureBatches::MIN)))
                    .contains(&chunk)
            );
            let chunks = len.div_ceil(chunk);
            assert!(
                chunks >= threads.min(len.div_ceil(SignatureBatches::MIN)),
                "{len} over {threads} threads at {limit}: {chunks} chunks"
            );
        }
    }
}
