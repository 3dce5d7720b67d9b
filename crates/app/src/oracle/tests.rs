//! The module on a runtime over in-memory state: reports, medians, staleness, the move limit.

#![allow(clippy::unwrap_used)]

use lamina_agreement::testing::{key, TestChain};
use lamina_interop::module::Amount;
use proptest::prelude::*;

use super::*;
use crate::testkit::{self, address, code};

const ASSET: u32 = 1;
const QUOTE: u32 = 2;

fn genesis(min_reports: u32, max_move_bps: u32) -> OracleGenesis {
    OracleGenesis {
        params: Params {
            max_report_age_blocks: 3,
            min_reports,
            max_move_bps,
        },
        feeders: (1..=5).map(address).collect(),
        feeds: vec![
            FeedGenesis {
                asset: ASSET,
                price: Some(100 * ONE),
                fixed: false,
            },
            FeedGenesis {
                asset: QUOTE,
                price: Some(ONE),
                fixed: true,
            },
        ],
    }
}

fn chain(genesis: OracleGenesis) -> TestChain {
    testkit::chain(
        |b| b.module(Oracle),
        &[ASSET, QUOTE],
        vec![("oracle", serde_json::to_value(genesis).unwrap())],
    )
}

fn report(chain: &mut TestChain, feeder: u64, asset: u32, value: u128) -> Option<u32> {
    let call = OracleCall::Report {
        prices: vec![(asset, Amount(value))],
    };
    code(&chain.call::<Oracle>(&key(feeder), &call).unwrap())
}

/// Several feeders' reports in one block.
fn round(chain: &mut TestChain, values: &[(u64, u128)]) {
    let index = chain.runtime().module_index("oracle").unwrap();
    let txs: Vec<_> = values
        .iter()
        .map(|(feeder, value)| {
            let nonce = lamina_agreement::modules::accounts::committed_nonce(
                chain.state(),
                &address(*feeder),
            )
            .unwrap();
            let call = OracleCall::Report {
                prices: vec![(ASSET, Amount(*value))],
            };
            lamina_agreement::tx::UnsignedTx {
                chain_id: chain.runtime().config().chain_id,
                sender: key(*feeder).public_key(),
                nonce,
                max_fee: chain.runtime().required_fee(chain.gas_limit, 0).unwrap(),
                tip: 0,
                gas_limit: chain.gas_limit,
                module: index,
                call: lamina_interop::codec::BoundedBytes::try_from_vec(
                    lamina_interop::codec::encode(&call),
                )
                .unwrap(),
            }
            .sign(&key(*feeder))
        })
        .collect();
    for receipt in chain.block(&txs).unwrap() {
        assert_eq!(code(&receipt), None);
    }
}

fn price(chain: &TestChain, asset: u32) -> Option<Price> {
    match chain.query::<Oracle>(OracleQuery::Price { asset }).unwrap() {
        OracleResponse::Price(price) => price,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_median_of_fresh_reports_sets_the_price_with_its_block() {
    let mut chain = chain(genesis(3, 0));
    round(&mut chain, &[(1, 101 * ONE), (2, 99 * ONE), (3, 500 * ONE)]);
    let p = price(&chain, ASSET).unwrap();
    assert_eq!(p.value, 101 * ONE, "the outlier does not move the median");
    assert_eq!(p.height.0, chain.height());
    assert_eq!(p.timestamp.0, chain.height() * 1_000);
}

#[test]
fn too_few_fresh_reports_leave_the_price_to_age() {
    let mut chain = chain(genesis(3, 0));
    round(&mut chain, &[(1, 110 * ONE), (2, 110 * ONE)]);
    assert_eq!(price(&chain, ASSET).unwrap().value, 100 * ONE);
    assert_eq!(price(&chain, ASSET).unwrap().height.0, 0);
    // Four blocks on, the first two reports are stale: a third alone makes no price.
    for _ in 0..3 {
        chain.block(&[]).unwrap();
    }
    round(&mut chain, &[(3, 120 * ONE)]);
    assert_eq!(price(&chain, ASSET).unwrap().height.0, 0);
    round(&mut chain, &[(4, 130 * ONE), (5, 140 * ONE)]);
    assert_eq!(price(&chain, ASSET).unwrap().value, 130 * ONE);
}

#[test]
fn a_price_moves_at_most_the_limit_in_one_block() {
    let mut chain = chain(genesis(1, 1_000));
    round(&mut chain, &[(1, 1_000 * ONE)]);
    assert_eq!(price(&chain, ASSET).unwrap().value, 110 * ONE);
    round(&mut chain, &[(1, 1_000 * ONE)]);
    assert_eq!(price(&chain, ASSET).unwrap().value, 121 * ONE);
    round(&mut chain, &[(1, 1)]);
    assert_eq!(price(&chain, ASSET).unwrap().value, 1089 * ONE / 10);
}

#[test]
fn bad_reports_get_typed_errors() {
    let mut chain = chain(genesis(1, 0));
    assert_eq!(report(&mut chain, 6, ASSET, ONE), Some(1), "not a feeder");
    assert_eq!(report(&mut chain, 1, 9, ONE), Some(2), "no feed");
    assert_eq!(report(&mut chain, 1, QUOTE, 2 * ONE), Some(3), "fixed");
    assert_eq!(report(&mut chain, 1, ASSET, 0), Some(4));
    let twice = OracleCall::Report {
        prices: vec![(ASSET, Amount(1)), (ASSET, Amount(2))],
    };
    assert_eq!(
        code(&chain.call::<Oracle>(&key(1), &twice).unwrap()),
        Some(5)
    );
    let none = OracleCall::Report { prices: vec![] };
    assert_eq!(
        code(&chain.call::<Oracle>(&key(1), &none).unwrap()),
        Some(5)
    );
    assert_eq!(price(&chain, QUOTE).unwrap().value, ONE);
}

#[test]
fn the_price_feed_seam_declares_what_it_reads() {
    let access = Oracle.price_access(AccessSet::new(), ASSET);
    assert!(access.allows_read(&PRICES.key(&ASSET)));
    assert!(!access.allows_read(&PRICES.key(&QUOTE)));
    let chain = chain(genesis(1, 0));
    assert_eq!(
        Oracle
            .committed_price(chain.state(), ASSET)
            .unwrap()
            .unwrap()
            .value,
        100 * ONE
    );
}

#[test]
fn medians() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [5]), Some(5));
    assert_eq!(median(&mut [9, 1, 5]), Some(5));
    assert_eq!(median(&mut [1, 4]), Some(2));
    assert_eq!(median(&mut [u128::MAX, u128::MAX]), Some(u128::MAX));
    assert_eq!(clamp_move(100, 1_000, 1_000), 110);
    assert_eq!(clamp_move(100, 1, 1_000), 90);
    assert_eq!(clamp_move(100, 1_000, 0), 1_000);
    assert_eq!(clamp_move(1, 0, 10_000), 1, "never zero");
}

proptest! {
    /// The median lies between the smallest and largest report, and fewer than half the
    /// reports cannot move it outside the range of the rest.
    #[test]
    fn the_median_resists_a_minority(honest in proptest::collection::vec(1u128..1 << 100, 3..9), liars in 0usize..4) {
        let liars = liars.min((honest.len() - 1) / 2);
        let low = *honest.iter().min().unwrap();
        let high = *honest.iter().max().unwrap();
        let mut all = honest.clone();
        all.extend(std::iter::repeat_n(u128::MAX / 2, liars));
        let m = median(&mut all).unwrap();
        prop_assert!(m >= low && m <= high, "{} outside [{}, {}]", m, low, high);
    }

    /// Whatever is reported, a price moves at most the limit per block.
    #[test]
    fn a_price_never_jumps(values in proptest::collection::vec(1u128..1 << 90, 1..12)) {
        let mut chain = chain(genesis(1, 500));
        let mut previous = price(&chain, ASSET).unwrap().value;
        for value in values {
            round(&mut chain, &[(1, value)]);
            let now = price(&chain, ASSET).unwrap().value;
            prop_assert!(now.abs_diff(previous) <= previous / 20 + 1);
            previous = now;
        }
    }
}
