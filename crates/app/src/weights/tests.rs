//! The weights are charged: before the call, by item count, and a limit that cannot pay
//! one runs nothing. (Whether they match measured cost is the `gas` benchmark's `--check`,
//! which needs an optimised build.)

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::bank::Bank;
use lamina_agreement::testing::{key, TestChain};

use super::*;
use crate::dex::{Dex, DexCall, DexGenesis};
use crate::testkit::{self, address, balance, code};

const E18: u128 = 1_000_000_000_000_000_000;

fn dex() -> TestChain {
    let mut chain = testkit::chain(
        |b| b.module(Dex::new(Bank)),
        &[1, 2, 3],
        vec![("dex", serde_json::to_value(DexGenesis::default()).unwrap())],
    );
    chain.gas_limit = 1_000_000;
    for (a, b) in [(1, 2), (2, 3)] {
        let create = DexCall::CreatePool {
            asset_a: a,
            asset_b: b,
            amount_a: 1_000 * E18,
            amount_b: 1_000 * E18,
        };
        assert_eq!(
            code(&chain.call::<Dex<Bank>>(&key(1), &create).unwrap()),
            None
        );
    }
    chain
}

fn swap(path: Vec<u32>) -> DexCall {
    DexCall::SwapExactIn {
        path,
        amount_in: E18,
        min_out: 0,
        deadline_ms: None,
    }
}

// An unmeasured table is all zeros; the benchmark's --write fills it.
const _: () = assert!(table::DEX_SWAP_EXACT_IN.per_item > 0 && table::LENDING_BORROW.base > 0);

#[test]
fn a_weight_saturates() {
    assert_eq!(
        Weight {
            base: u64::MAX,
            per_item: 1
        }
        .of(3),
        u64::MAX,
        "saturates"
    );
}

#[test]
fn a_calls_weight_is_paid_by_item_and_a_limit_short_of_it_runs_nothing() {
    let mut chain = dex();
    let one = chain.call::<Dex<Bank>>(&key(2), &swap(vec![1, 2])).unwrap();
    let two = chain
        .call::<Dex<Bank>>(&key(2), &swap(vec![1, 2, 3]))
        .unwrap();
    assert_eq!((code(&one), code(&two)), (None, None));
    assert!(one.gas_used > table::DEX_SWAP_EXACT_IN.of(1));
    // A second hop costs at least its weight more (and its own reads and writes).
    assert!(two.gas_used - one.gas_used >= table::DEX_SWAP_EXACT_IN.per_item);

    // A limit that covers the base gas but not the weight: out of gas, nothing traded.
    let before = (
        balance(&chain, 1, &address(2)),
        balance(&chain, 2, &address(2)),
    );
    chain.gas_limit = 8_000 + table::DEX_SWAP_EXACT_IN.of(1) / 2;
    let short = chain.call::<Dex<Bank>>(&key(2), &swap(vec![1, 2])).unwrap();
    assert!(code(&short).is_some(), "{:?}", short.outcome);
    assert!(short.gas_used <= chain.gas_limit);
    assert_eq!(
        (
            balance(&chain, 1, &address(2)),
            balance(&chain, 2, &address(2))
        ),
        before
    );
}
