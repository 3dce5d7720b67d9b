//! The module's checks that need no counterparty proofs. Packets with real proofs, between
//! two chains with QMDB state and certified headers, are tested in
//! `crates/simulation/tests/interchain.rs`.

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::bank::Bank;
use lamina_agreement::testing::{key, TestChain};
use lamina_interop::codec::{BoundedBytes, Canonical};
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::ValidatorSet;
use lamina_interop::interchain::{InterchainMsg, LAMINA_PREFIX};
use lamina_interop::module::Amount;
use lamina_interop::{ChainId, Hash, Height, Timestamp};

use super::{Interchain, InterchainEvent, InterchainGenesis};
use crate::testkit::{self, address, code};

fn chain() -> TestChain {
    testkit::chain(
        |b| b.module(Interchain::new(Bank)),
        &[1],
        vec![(
            "interchain",
            serde_json::to_value(InterchainGenesis {
                authority: Some(address(1)),
                ..InterchainGenesis::default()
            })
            .unwrap(),
        )],
    )
}

fn create(checkpoint_time: u64, set: Vec<u8>) -> InterchainMsg {
    InterchainMsg::CreateClient {
        chain_id: ChainId(9),
        epoch_blocks: None,
        trusting_period_ms: 60_000,
        checkpoint_height: Height(0),
        checkpoint_block: Hash::ZERO,
        checkpoint_time: Timestamp(checkpoint_time),
        set: BoundedBytes::try_from_vec(set).unwrap(),
    }
}

fn set() -> Vec<u8> {
    ValidatorSet::new(0, vec![SecretKey::from_seed([3; 32]).public_key()])
        .unwrap()
        .encode()
}

fn id(text: &str) -> lamina_interop::interchain::Id {
    serde_json::from_value(serde_json::json!(text)).unwrap()
}

/// A client of chain 9 made by account 2; its id.
fn client(chain: &mut TestChain) -> String {
    let receipt = chain
        .call::<Interchain<Bank>>(&key(2), &create(0, set()))
        .unwrap();
    assert_eq!(code(&receipt), None, "{:?}", receipt.outcome);
    chain
        .events::<Interchain<Bank>>(&receipt)
        .into_iter()
        .find_map(|e| match e {
            InterchainEvent::ClientCreated { client, .. } => Some(client),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_client_needs_a_fresh_checkpoint_and_a_well_formed_set() {
    let mut chain = chain();
    let fresh = chain
        .call::<Interchain<Bank>>(&key(2), &create(0, set()))
        .unwrap();
    // The test chain's block 1 is at 1 s: a checkpoint at 0 is within the minute.
    assert_eq!(code(&fresh), None);
    for _ in 0..61 {
        chain.block(&[]).unwrap();
    }
    let expired = chain
        .call::<Interchain<Bank>>(&key(2), &create(0, set()))
        .unwrap();
    assert_eq!(code(&expired), Some(4));
    let garbage = chain
        .call::<Interchain<Bank>>(&key(2), &create(62_000, vec![1, 2, 3]))
        .unwrap();
    assert_eq!(code(&garbage), Some(5));
}

#[test]
fn only_the_creator_registers_a_counterparty_and_only_once() {
    let mut chain = chain();
    let client = client(&mut chain);
    let register = InterchainMsg::RegisterCounterparty {
        client: id(&client),
        counterparty_client: id("client-7"),
        prefix: BoundedBytes::try_from_vec(LAMINA_PREFIX.to_vec()).unwrap(),
    };
    let intruder = chain.call::<Interchain<Bank>>(&key(3), &register).unwrap();
    assert_eq!(code(&intruder), Some(9));
    let first = chain.call::<Interchain<Bank>>(&key(2), &register).unwrap();
    assert_eq!(code(&first), None);
    let second = chain.call::<Interchain<Bank>>(&key(2), &register).unwrap();
    assert_eq!(code(&second), Some(8));
}

#[test]
fn a_transfer_needs_a_counterparty_an_amount_and_a_timeout_within_bounds() {
    let mut chain = chain();
    let client = client(&mut chain);
    let transfer = |amount: u128, timeout_after_s: u64| InterchainMsg::Transfer {
        client: id(&client),
        receiver: serde_json::from_value(serde_json::json!(address(3).to_string())).unwrap(),
        asset: 1,
        amount: Amount(amount),
        timeout_after_s,
        memo: Default::default(),
    };
    let no_counterparty = chain
        .call::<Interchain<Bank>>(&key(1), &transfer(5, 60))
        .unwrap();
    assert_eq!(code(&no_counterparty), Some(7));
    let register = InterchainMsg::RegisterCounterparty {
        client: id(&client),
        counterparty_client: id("client-7"),
        prefix: BoundedBytes::try_from_vec(LAMINA_PREFIX.to_vec()).unwrap(),
    };
    chain.call::<Interchain<Bank>>(&key(2), &register).unwrap();
    let zero = chain
        .call::<Interchain<Bank>>(&key(1), &transfer(0, 60))
        .unwrap();
    assert_eq!(code(&zero), Some(25));
    let far = chain
        .call::<Interchain<Bank>>(&key(1), &transfer(5, 86_401))
        .unwrap();
    assert_eq!(code(&far), Some(19));
    let now = chain
        .call::<Interchain<Bank>>(&key(1), &transfer(5, 0))
        .unwrap();
    assert_eq!(code(&now), Some(19));
    let ok = chain
        .call::<Interchain<Bank>>(&key(1), &transfer(5, 60))
        .unwrap();
    assert_eq!(code(&ok), None, "{:?}", ok.outcome);
}

#[test]
fn genesis_refuses_a_zero_timeout_bound() {
    let runtime =
        lamina_agreement::Runtime::builder(lamina_agreement::RuntimeConfig::new(ChainId(7)))
            .module(Interchain::new(Bank))
            .build()
            .unwrap();
    let sections = std::collections::BTreeMap::from([(
        "interchain".to_string(),
        serde_json::json!({"max_timeout_s": 0}),
    )]);
    assert!(TestChain::new(runtime, &sections).is_err());
}
