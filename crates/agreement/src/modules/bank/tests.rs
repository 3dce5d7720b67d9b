//! The bank's rules: genesis and supply, transfers, minting rights, overflow, queries.

use std::collections::BTreeMap;

use lamina_interop::codec;
use lamina_interop::module::{Env, WorkingSet};
use lamina_interop::{ChainId, Height, Timestamp};

use super::*;

const ALICE: Address = Address([1; 32]);
const BOB: Address = Address([2; 32]);

fn env() -> Env {
    Env {
        chain_id: ChainId(1),
        height: Height(0),
        timestamp: Timestamp(0),
        proposer: Address([0; 32]),
    }
}

fn genesis() -> BankGenesis {
    BankGenesis {
        assets: vec![
            AssetGenesis {
                id: NATIVE,
                info: AssetInfo {
                    symbol: "LAM".into(),
                    decimals: 9,
                },
                balances: vec![(ALICE, Amount(1_000)), (BOB, Amount(500))],
                minters: vec![],
            },
            AssetGenesis {
                id: 7,
                info: AssetInfo {
                    symbol: "USD".into(),
                    decimals: 6,
                },
                balances: vec![(ALICE, Amount(u128::MAX - 10))],
                minters: vec!["amm".into()],
            },
        ],
    }
}

/// Genesis applied, as committed state.
fn state() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let empty = BTreeMap::new();
    let mut ws = WorkingSet::new(&empty);
    let env = env();
    let mut ctx = Context::<Bank>::new(&env, None, 1, &mut ws);
    Bank.init_genesis(&genesis(), &mut ctx).unwrap();
    ws.finish()
        .changes
        .into_iter()
        .filter_map(|c| c.value.map(|v| (c.key, v)))
        .collect()
}

fn supply(state: &dyn StateView, asset: AssetId) -> u128 {
    match Bank.query(BankQuery::Asset { asset }, state).unwrap() {
        BankResponse::Asset { supply, .. } => supply,
        other => panic!("{other:?}"),
    }
}

fn balance(state: &dyn StateView, account: Address, asset: AssetId) -> u128 {
    match Bank
        .query(BankQuery::Balance { account, asset }, state)
        .unwrap()
    {
        BankResponse::Balance { amount } => amount,
        other => panic!("{other:?}"),
    }
}

fn commit(base: &BTreeMap<Vec<u8>, Vec<u8>>, ws: WorkingSet<'_>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut next = base.clone();
    for change in ws.finish().changes {
        match change.value {
            Some(v) => next.insert(change.key, v),
            None => next.remove(&change.key),
        };
    }
    next
}

#[test]
fn amounts_in_json_are_strings_and_numbers_are_accepted() {
    let text = serde_json::to_string(&genesis()).unwrap();
    assert!(text.contains(&format!("\"{}\"", u128::MAX - 10)));
    let back: BankGenesis = serde_json::from_str(&text).unwrap();
    assert_eq!(back, genesis());
    let number: Amount = serde_json::from_str("42").unwrap();
    assert_eq!(number, Amount(42));
    assert!(serde_json::from_str::<Amount>("\"-1\"").is_err());
}

#[test]
fn assets_lists_genesis_assets_in_order_with_their_supply_and_genesis_is_bounded() {
    let state = state();
    match Bank.query(BankQuery::Assets, &state).unwrap() {
        BankResponse::Assets(listed) => assert_eq!(
            listed
                .iter()
                .map(|a| (a.id, a.info.symbol.as_str(), a.supply))
                .collect::<Vec<_>>(),
            vec![(NATIVE, "LAM", 1_500), (7, "USD", u128::MAX - 10)]
        ),
        other => panic!("{other:?}"),
    }
    let mut many = genesis();
    many.assets = (0..=MAX_ASSETS as u32)
        .map(|id| AssetGenesis {
            id,
            info: AssetInfo {
                symbol: "X".into(),
                decimals: 0,
            },
            balances: vec![],
            minters: vec![],
        })
        .collect();
    let empty = BTreeMap::new();
    let mut ws = WorkingSet::new(&empty);
    let env = env();
    let mut ctx = Context::<Bank>::new(&env, None, 1, &mut ws);
    assert!(matches!(
        Bank.init_genesis(&many, &mut ctx),
        Err(BankError::Genesis(reason)) if reason.contains("at most 4096")
    ));
}

#[test]
fn genesis_sets_balances_and_supply() {
    let state = state();
    assert_eq!(supply(&state, NATIVE), 1_500);
    assert_eq!(balance(&state, ALICE, NATIVE), 1_000);
    assert_eq!(balance(&state, BOB, 7), 0);
    assert!(Bank.query(BankQuery::Asset { asset: 99 }, &state).is_err());
    let mut twice = genesis();
    twice.assets.push(twice.assets[0].clone());
    let empty = BTreeMap::new();
    let mut ws = WorkingSet::new(&empty);
    let env = env();
    let mut ctx = Context::<Bank>::new(&env, None, 1, &mut ws);
    assert!(matches!(
        Bank.init_genesis(&twice, &mut ctx),
        Err(BankError::Genesis(_))
    ));
}

#[test]
fn a_transfer_moves_value_and_checks_the_access_it_declared() {
    let state = state();
    let call = BankCall::Transfer {
        to: BOB,
        asset: NATIVE,
        amount: 300,
    };
    let mut ws = WorkingSet::new(&state).with_access(Bank.access(&call, &ALICE));
    let env = env();
    let mut ctx = Context::<Bank>::new(&env, Some(ALICE), 1, &mut ws);
    Bank.call(call, &mut ctx).unwrap();
    assert_eq!(ws.events().len(), 1);
    let after = commit(&state, ws);
    assert_eq!(balance(&after, ALICE, NATIVE), 700);
    assert_eq!(balance(&after, BOB, NATIVE), 800);
    assert_eq!(supply(&after, NATIVE), 1_500);
}

#[test]
fn overdrafts_and_overflows_fail() {
    let state = state();
    let mut ws = WorkingSet::new(&state);
    assert!(matches!(
        transfer(&mut ws, NATIVE, &BOB, &ALICE, 501),
        Err(BankError::InsufficientBalance {
            balance: 500,
            needed: 501,
            ..
        })
    ));
    // Asset 7's supply is u128::MAX - 10: minting 100 more overflows, and so does crediting
    // Alice, who holds all of it, with 11.
    let mut ws = WorkingSet::new(&state);
    assert!(matches!(
        mint(&mut ws, "amm", 7, &BOB, 100),
        Err(BankError::Overflow)
    ));
    let mut ws = WorkingSet::new(&state);
    assert!(matches!(
        credit(&mut ws, 7, &ALICE, 11, true),
        Err(BankError::Overflow)
    ));
}

#[test]
fn only_granted_modules_mint_and_burn_and_supply_follows() {
    let state = state();
    let mut ws = WorkingSet::new(&state);
    assert!(matches!(
        mint(&mut ws, "rogue", 7, &BOB, 5),
        Err(BankError::NotMinter { asset: 7, .. })
    ));
    assert!(matches!(
        mint(&mut ws, "amm", NATIVE, &BOB, 5),
        Err(BankError::NotMinter { asset: NATIVE, .. })
    ));
    burn(&mut ws, "amm", 7, &ALICE, 90).unwrap();
    mint(&mut ws, "amm", 7, &BOB, 40).unwrap();
    let after = commit(&state, ws);
    assert_eq!(supply(&after, 7), u128::MAX - 10 - 90 + 40);
    assert_eq!(
        balance(&after, ALICE, 7) + balance(&after, BOB, 7),
        supply(&after, 7)
    );
    let mut ws = WorkingSet::new(&after);
    assert!(matches!(
        burn(&mut ws, "amm", 7, &BOB, 41),
        Err(BankError::InsufficientBalance { .. })
    ));
}

#[test]
fn balances_are_stored_as_documented() {
    let state = state();
    let mut key = b"bank/balance/".to_vec();
    key.extend_from_slice(&7u32.to_le_bytes());
    key.extend_from_slice(&ALICE.0);
    assert_eq!(balance_key(7, &ALICE), key);
    assert_eq!(state.get(&key), Some(&codec::encode(&(u128::MAX - 10))));

    // The native balance is in the account's record, beside its nonce; the bank's own
    // balance keys hold none.
    let mut key = b"accounts/".to_vec();
    key.extend_from_slice(&ALICE.0);
    assert_eq!(balance_key(NATIVE, &ALICE), key);
    let record = accounts::Account {
        nonce: 0,
        native: 1_000,
    };
    assert_eq!(state.get(&key), Some(&codec::encode(&record)));
    assert_eq!(codec::encode(&record).len(), accounts::Account::ENCODED_LEN);
    assert!(!state
        .keys()
        .any(|k| k.starts_with(&BALANCES.key(&(NATIVE, ALICE))[..17])));
}
