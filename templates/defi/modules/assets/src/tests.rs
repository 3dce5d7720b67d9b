//! The module with the bank, on a runtime over in-memory state.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use lamina_agreement::modules::bank::{self, AssetGenesis, AssetInfo, Bank, BankGenesis};
use lamina_agreement::testing::{key, TestChain};
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_interop::block::Outcome;
use lamina_interop::module::Amount;
use lamina_interop::{Address, ChainId};

use super::*;

const USD: u32 = 1;

fn chain() -> TestChain {
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
        .module(Assets::new(Bank))
        .build()
        .unwrap();
    let (issuer, holder) = (
        Address::of(&key(1).public_key()),
        Address::of(&key(2).public_key()),
    );
    let mut bank = BankGenesis::native([(issuer, 10u128.pow(12)), (holder, 10u128.pow(12))]);
    bank.assets.push(AssetGenesis {
        id: USD,
        info: AssetInfo {
            symbol: "USD".into(),
            decimals: 6,
        },
        balances: vec![(holder, Amount(500))],
        minters: vec!["assets".into()],
    });
    let assets = AssetsGenesis {
        issued: vec![IssuedAsset {
            asset: USD,
            admin: issuer,
            cap: Amount(1_000),
        }],
    };
    let sections = BTreeMap::from([
        ("bank".to_string(), bank.to_section()),
        ("assets".to_string(), serde_json::to_value(assets).unwrap()),
    ]);
    TestChain::new(runtime, &sections).unwrap()
}

fn usd(chain: &TestChain, who: u64) -> u128 {
    bank::committed_balance(chain.state(), USD, &Address::of(&key(who).public_key())).unwrap()
}

fn code(outcome: &Outcome) -> Option<u32> {
    match outcome {
        Outcome::Success => None,
        Outcome::Failed { code, .. } => Some(*code),
    }
}

#[test]
fn the_issuer_mints_up_to_the_cap_and_holders_burn() {
    let mut chain = chain();
    let holder = Address::of(&key(2).public_key());
    let mint = |amount| AssetsCall::Mint {
        asset: USD,
        to: holder,
        amount,
    };
    assert_eq!(
        chain
            .call::<Assets<Bank>>(&key(1), &mint(600))
            .unwrap()
            .outcome,
        Outcome::Success
    );
    assert_eq!(usd(&chain, 2), 1_100);
    // Past the cap, and by anyone but the issuer: refused, nothing changes.
    assert_eq!(
        code(
            &chain
                .call::<Assets<Bank>>(&key(1), &mint(401))
                .unwrap()
                .outcome
        ),
        Some(3)
    );
    assert_eq!(
        code(
            &chain
                .call::<Assets<Bank>>(&key(2), &mint(1))
                .unwrap()
                .outcome
        ),
        Some(2)
    );
    assert_eq!(usd(&chain, 2), 1_100);
    // Burning makes room under the cap.
    let burn = AssetsCall::Burn {
        asset: USD,
        amount: 300,
    };
    assert_eq!(
        chain.call::<Assets<Bank>>(&key(2), &burn).unwrap().outcome,
        Outcome::Success
    );
    assert_eq!(
        chain
            .call::<Assets<Bank>>(&key(1), &mint(400))
            .unwrap()
            .outcome,
        Outcome::Success
    );
    assert_eq!(usd(&chain, 2), 1_200);
    // A holder cannot burn more than it holds.
    let too_much = AssetsCall::Burn {
        asset: USD,
        amount: 1_201,
    };
    assert_eq!(
        code(
            &chain
                .call::<Assets<Bank>>(&key(2), &too_much)
                .unwrap()
                .outcome
        ),
        Some(4)
    );
}

#[test]
fn the_issuer_role_moves_and_unmanaged_assets_are_refused() {
    let mut chain = chain();
    let new_admin = Address::of(&key(2).public_key());
    let hand_on = AssetsCall::SetAdmin {
        asset: USD,
        admin: new_admin,
    };
    assert_eq!(
        chain
            .call::<Assets<Bank>>(&key(1), &hand_on)
            .unwrap()
            .outcome,
        Outcome::Success
    );
    let issuer = match chain
        .query::<Assets<Bank>>(AssetsQuery::Issuer { asset: USD })
        .unwrap()
    {
        AssetsResponse::Issuer(issuer) => issuer.unwrap(),
    };
    assert_eq!(issuer.admin, new_admin);
    let native = AssetsCall::Mint {
        asset: 0,
        to: new_admin,
        amount: 1,
    };
    assert_eq!(
        code(
            &chain
                .call::<Assets<Bank>>(&key(2), &native)
                .unwrap()
                .outcome
        ),
        Some(1)
    );
}
