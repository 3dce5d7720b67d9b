//! The module on a runtime over in-memory state, as on a node.

#![allow(clippy::unwrap_used)]

use lamina_agreement::testing::{key, TestChain};
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_interop::block::Outcome;
use lamina_interop::{Address, ChainId};

use super::*;

fn chain() -> TestChain {
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
        .module({{ModuleName}})
        .build()
        .unwrap();
    TestChain::funded(runtime, &[&key(1)], 10u128.pow(12)).unwrap()
}

fn value(chain: &TestChain, account: Address) -> u64 {
    match chain.query::<{{ModuleName}}>({{ModuleName}}Query::Value { account }).unwrap() {
        {{ModuleName}}Response::Value(value) => value,
    }
}

#[test]
fn add_accumulates_and_reports() {
    let mut chain = chain();
    let account = Address::of(&key(1).public_key());
    for (amount, expected) in [(5, 5), (7, 12)] {
        let receipt = chain.call::<{{ModuleName}}>(&key(1), &{{ModuleName}}Call::Add { amount }).unwrap();
        assert_eq!(receipt.outcome, Outcome::Success);
        assert_eq!(
            chain.events::<{{ModuleName}}>(&receipt),
            vec![{{ModuleName}}Event::Added { account, amount, value: expected }]
        );
    }
    assert_eq!(value(&chain, account), 12);
}

#[test]
fn overflow_fails_and_changes_nothing() {
    let mut chain = chain();
    let account = Address::of(&key(1).public_key());
    chain.call::<{{ModuleName}}>(&key(1), &{{ModuleName}}Call::Add { amount: u64::MAX }).unwrap();
    let receipt = chain.call::<{{ModuleName}}>(&key(1), &{{ModuleName}}Call::Add { amount: 1 }).unwrap();
    assert!(matches!(receipt.outcome, Outcome::Failed { code: 1, .. }));
    assert_eq!(value(&chain, account), u64::MAX);
}
