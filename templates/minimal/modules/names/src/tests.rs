//! The module on a runtime over in-memory state: signed calls, gas, fees and reverts as on a
//! node.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use lamina_agreement::modules::bank::BankGenesis;
use lamina_agreement::testing::{key, TestChain};
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_interop::block::Outcome;
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::Module as _;
use lamina_interop::{Address, ChainId};

use super::*;

fn address(key: &SecretKey) -> Address {
    Address::of(&key.public_key())
}

/// A chain with the module, `alice` and `bob` funded, and "genesis" owned by alice.
fn chain() -> (TestChain, SecretKey, SecretKey) {
    let (alice, bob) = (key(1), key(2));
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
        .module(Names)
        .build()
        .unwrap();
    let names = NamesGenesis {
        claimed: vec![("genesis".into(), address(&alice))],
    };
    let bank = BankGenesis::native([
        (address(&alice), 10u128.pow(12)),
        (address(&bob), 10u128.pow(12)),
    ]);
    let sections = BTreeMap::from([
        ("bank".to_string(), bank.to_section()),
        (
            Names::NAME.to_string(),
            serde_json::to_value(names).unwrap(),
        ),
    ]);
    (TestChain::new(runtime, &sections).unwrap(), alice, bob)
}

fn owner(chain: &TestChain, name: &str) -> Option<Address> {
    match chain
        .query::<Names>(NamesQuery::Owner { name: name.into() })
        .unwrap()
    {
        NamesResponse::Owner(owner) => owner,
    }
}

fn failure_code(outcome: &Outcome) -> Option<u32> {
    match outcome {
        Outcome::Success => None,
        Outcome::Failed { code, .. } => Some(*code),
    }
}

#[test]
fn genesis_names_are_owned() {
    let (chain, alice, _) = chain();
    assert_eq!(owner(&chain, "genesis"), Some(address(&alice)));
    assert_eq!(owner(&chain, "free"), None);
}

// ANCHOR: claim
#[test]
fn claim_transfer_release() {
    let (mut chain, alice, bob) = chain();
    let claim = NamesCall::Claim {
        name: "lamina".into(),
    };
    let receipt = chain.call::<Names>(&alice, &claim).unwrap();
    assert_eq!(receipt.outcome, Outcome::Success);
    assert_eq!(
        chain.events::<Names>(&receipt),
        vec![NamesEvent::Claimed {
            name: "lamina".into(),
            owner: address(&alice)
        }]
    );
    assert_eq!(owner(&chain, "lamina"), Some(address(&alice)));
    // ANCHOR_END: claim

    // Bob cannot claim it, transfer it or release it.
    let taken = chain.call::<Names>(&bob, &claim).unwrap();
    assert_eq!(failure_code(&taken.outcome), Some(2));
    assert!(taken.fee_paid > 0, "a failed call still pays its fee");
    let release = NamesCall::Release {
        name: "lamina".into(),
    };
    assert_eq!(
        failure_code(&chain.call::<Names>(&bob, &release).unwrap().outcome),
        Some(4)
    );

    // Alice gives it to bob, who releases it.
    let give = NamesCall::Transfer {
        name: "lamina".into(),
        to: address(&bob),
    };
    assert_eq!(
        chain.call::<Names>(&alice, &give).unwrap().outcome,
        Outcome::Success
    );
    assert_eq!(owner(&chain, "lamina"), Some(address(&bob)));
    assert_eq!(
        chain.call::<Names>(&bob, &release).unwrap().outcome,
        Outcome::Success
    );
    assert_eq!(owner(&chain, "lamina"), None);
    assert_eq!(
        failure_code(&chain.call::<Names>(&bob, &release).unwrap().outcome),
        Some(3)
    );
}

#[test]
fn invalid_names_are_refused_and_change_nothing() {
    let (mut chain, alice, _) = chain();
    for name in ["ab", "UPPER", "with space", &"x".repeat(MAX_LEN + 1)] {
        let receipt = chain
            .call::<Names>(
                &alice,
                &NamesCall::Claim {
                    name: name.to_string(),
                },
            )
            .unwrap();
        assert_eq!(failure_code(&receipt.outcome), Some(1), "{name:?}");
        assert!(chain.events::<Names>(&receipt).is_empty());
    }
    assert!(chain
        .query::<Names>(NamesQuery::Owner { name: "ab".into() })
        .is_err());
}

#[test]
fn undecodable_call_bytes_are_refused_without_panic() {
    for bytes in [
        &[][..],
        &[0xff; 8][..],
        &[0, 200, 0, 0, 0][..],
        &[9; 200][..],
    ] {
        assert!(Names::decode_call(bytes).is_err(), "{bytes:?}");
    }
}

#[test]
fn genesis_with_a_name_twice_is_refused() {
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
        .module(Names)
        .build()
        .unwrap();
    let twice = NamesGenesis {
        claimed: vec![
            ("same".into(), Address([1; 32])),
            ("same".into(), Address([2; 32])),
        ],
    };
    let sections = BTreeMap::from([(
        Names::NAME.to_string(),
        serde_json::to_value(twice).unwrap(),
    )]);
    assert!(TestChain::new(runtime, &sections).is_err());
}
