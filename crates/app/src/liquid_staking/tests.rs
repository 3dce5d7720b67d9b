//! The module with the bank and a stand-in staking module (a fake: the real one lives in
//! another layer and is tested with it in `lamina-incentive` and in the node): staking,
//! rewards, slashing, redemption through the unbonding period, the first-depositor attack;
//! and property tests over random sequences.

#![allow(clippy::unwrap_used)]

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_agreement::modules::bank::{self, Bank, BankCall};
use lamina_agreement::testing::{key, TestChain};
use lamina_interop::module::{
    module_account, AccessSet, Context, Delegation, Ledger, LedgerError, Module, ModuleError,
    StateError, StateMap, StateValue, StateView, WorkingSet,
};
use lamina_interop::{Address, Height};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::testkit::{self, address, balance, code, ACCOUNTS, FUNDS};

const SHARE: u32 = 5;
const E18: u128 = 1_000_000_000_000_000_000;
const UNBONDING: u64 = 5;

/// A stand-in for the staking module: validators set by a call, a pool per validator,
/// rewards and slashes by call, unbonding after `UNBONDING` blocks.
#[derive(Debug, Clone, Copy, Default)]
struct MockStaking;

#[derive(Debug, Clone, Copy, Default, BorshSerialize, BorshDeserialize)]
struct MockPool {
    stake: u128,
    shares: u128,
}

const VALIDATORS: StateValue<Vec<Address>> = StateValue::new(b"mock/validators");
const POOLS: StateMap<Address, MockPool> = StateMap::new(b"mock/pool/");
const SHARES: StateMap<(Address, Address), u128> = StateMap::new(b"mock/shares/");
const UNBONDINGS: StateMap<Address, Vec<(u64, u128)>> = StateMap::new(b"mock/unbonding/");

fn mock_account() -> Address {
    module_account("mock-staking")
}

fn worth(pool: &MockPool, shares: u128) -> u128 {
    if pool.shares == 0 {
        0
    } else {
        crate::math::mul_div(pool.stake, shares, pool.shares).unwrap()
    }
}

impl Delegation for MockStaking {
    fn validators(&self, state: &mut WorkingSet<'_>) -> Result<Vec<Address>, LedgerError> {
        Ok(VALIDATORS.get(state)?.unwrap_or_default())
    }

    fn delegate(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
        operator: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        let mut pool = POOLS.get(state, operator)?.unwrap_or_default();
        let shares = if pool.shares == 0 {
            amount
        } else {
            crate::math::mul_div(amount, pool.shares, pool.stake.max(1)).unwrap()
        };
        Bank.transfer(state, 0, delegator, &mock_account(), amount)?;
        pool.stake += amount;
        pool.shares += shares;
        let held = SHARES.get(state, &(*operator, *delegator))?.unwrap_or(0);
        SHARES.set(state, &(*operator, *delegator), &(held + shares))?;
        POOLS.set(state, operator, &pool)?;
        Ok(())
    }

    fn undelegate(
        &self,
        state: &mut WorkingSet<'_>,
        now: Height,
        delegator: &Address,
        operator: &Address,
        amount: u128,
    ) -> Result<u128, LedgerError> {
        let mut pool = POOLS.get(state, operator)?.unwrap_or_default();
        let held = SHARES.get(state, &(*operator, *delegator))?.unwrap_or(0);
        let amount = amount.min(worth(&pool, held));
        if amount == 0 {
            return Ok(0);
        }
        let mut burned = crate::math::mul_div(amount, pool.shares, pool.stake)
            .unwrap()
            .min(held);
        if burned < held && worth(&pool, burned) < amount {
            burned += 1;
        }
        if amount == worth(&pool, held) {
            burned = held;
        }
        pool.stake -= amount;
        pool.shares -= burned;
        SHARES.set(state, &(*operator, *delegator), &(held - burned))?;
        POOLS.set(state, operator, &pool)?;
        let mut list = UNBONDINGS.get(state, delegator)?.unwrap_or_default();
        list.push((now.0 + UNBONDING, amount));
        UNBONDINGS.set(state, delegator, &list)?;
        Ok(amount)
    }

    fn withdraw_unbonded(
        &self,
        state: &mut WorkingSet<'_>,
        now: Height,
        delegator: &Address,
    ) -> Result<u128, LedgerError> {
        let list = UNBONDINGS.get(state, delegator)?.unwrap_or_default();
        let (done, left): (Vec<_>, Vec<_>) = list.into_iter().partition(|(at, _)| *at <= now.0);
        let amount: u128 = done.iter().map(|(_, a)| a).sum();
        if amount > 0 {
            Bank.transfer(state, 0, &mock_account(), delegator, amount)?;
            UNBONDINGS.set(state, delegator, &left)?;
        }
        Ok(amount)
    }

    fn delegated(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
        operator: &Address,
    ) -> Result<u128, LedgerError> {
        let pool = POOLS.get(state, operator)?.unwrap_or_default();
        Ok(worth(
            &pool,
            SHARES.get(state, &(*operator, *delegator))?.unwrap_or(0),
        ))
    }

    fn unbonding(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
    ) -> Result<u128, LedgerError> {
        Ok(UNBONDINGS
            .get(state, delegator)?
            .unwrap_or_default()
            .iter()
            .map(|(_, a)| a)
            .sum())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MockCall {
    SetValidators(Vec<Address>),
    Reward(Address, u128),
    Slash(Address, u16),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct MockError(String);

impl From<StateError> for MockError {
    fn from(e: StateError) -> Self {
        MockError(e.to_string())
    }
}

impl ModuleError for MockError {
    fn code(&self) -> u32 {
        1
    }
}

impl Module for MockStaking {
    const NAME: &'static str = "mock-staking";
    type Call = MockCall;
    type Event = ();
    type Genesis = ();
    type Query = ();
    type QueryResponse = ();
    type Error = MockError;

    fn init_genesis(&self, _: &(), _: &mut Context<'_, '_, Self>) -> Result<(), MockError> {
        Ok(())
    }

    fn access(&self, _: &MockCall, _: &Address) -> AccessSet {
        AccessSet::everything()
    }

    fn call(&self, call: MockCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), MockError> {
        let e = |e: LedgerError| MockError(e.to_string());
        match call {
            MockCall::SetValidators(v) => VALIDATORS.set(ctx.state(), &v)?,
            MockCall::Reward(op, amount) => {
                let mut pool = POOLS.get(ctx.state(), &op)?.unwrap_or_default();
                Bank.mint(ctx.state(), "mock-staking", 0, &mock_account(), amount)
                    .map_err(e)?;
                pool.stake += amount;
                POOLS.set(ctx.state(), &op, &pool)?;
            }
            MockCall::Slash(op, per_mille) => {
                let mut pool = POOLS.get(ctx.state(), &op)?.unwrap_or_default();
                let cut = pool.stake / 1000 * u128::from(per_mille);
                Bank.burn(ctx.state(), "mock-staking", 0, &mock_account(), cut)
                    .map_err(e)?;
                pool.stake -= cut;
                POOLS.set(ctx.state(), &op, &pool)?;
            }
        }
        Ok(())
    }

    fn query(&self, _: (), _: &dyn StateView) -> Result<(), MockError> {
        Ok(())
    }
}

type M = LiquidStaking<Bank, MockStaking>;

fn chain() -> TestChain {
    let genesis = LiquidStakingGenesis {
        params: Some(Params {
            min_stake: 1_000,
            unbonding_blocks: UNBONDING,
        }),
    };
    let mut chain = testkit::chain_with_minters(
        |b| {
            b.module(MockStaking)
                .module(LiquidStaking::new(Bank, MockStaking, SHARE))
        },
        &[SHARE],
        &[(0, "mock-staking"), (SHARE, "liquid-staking")],
        vec![("liquid-staking", serde_json::to_value(genesis).unwrap())],
    );
    let set = MockCall::SetValidators(vec![Address([1; 32]), Address([2; 32])]);
    assert_eq!(
        code(&chain.call::<MockStaking>(&key(6), &set).unwrap()),
        None
    );
    chain
}

fn call(chain: &mut TestChain, who: u64, call: LiquidStakingCall) -> Option<u32> {
    code(&chain.call::<M>(&key(who), &call).unwrap())
}

fn mock(chain: &mut TestChain, call: MockCall) {
    assert_eq!(
        code(&chain.call::<MockStaking>(&key(6), &call).unwrap()),
        None
    );
}

fn pool(chain: &TestChain) -> Pool {
    match chain.query::<M>(LiquidStakingQuery::Pool).unwrap() {
        LiquidStakingResponse::Pool { pool, .. } => pool,
        other => panic!("{other:?}"),
    }
}

fn shares_of(chain: &TestChain, who: u64) -> u128 {
    balance(chain, SHARE, &address(who)) - FUNDS
}

/// The module's account holds its buffer and reserve; the share supply is its shares.
fn check(chain: &TestChain) {
    let p = pool(chain);
    assert_eq!(
        balance(chain, 0, &staking_account()),
        p.buffer + p.reserve,
        "{p:?}"
    );
    let supply = bank::SUPPLY
        .get_committed(chain.state(), &SHARE)
        .unwrap()
        .unwrap();
    assert_eq!(supply - FUNDS * u128::from(ACCOUNTS), p.shares);
}

#[test]
fn stake_earn_redeem_and_claim_after_unbonding() {
    let mut chain = chain();
    assert_eq!(
        call(
            &mut chain,
            1,
            LiquidStakingCall::Stake { amount: 100 * E18 }
        ),
        None
    );
    let minted = shares_of(&chain, 1);
    assert_eq!(minted, 100 * E18, "one share token per unit to start");
    // The block hook delegated the buffer evenly.
    let p = pool(&chain);
    assert_eq!(
        (p.buffer, p.delegated, p.validators.len()),
        (0, 100 * E18, 2)
    );
    check(&chain);
    // A reward raises the rate.
    let rate = pool(&chain).rate_wad();
    mock(&mut chain, MockCall::Reward(Address([1; 32]), 10 * E18));
    chain.block(&[]).unwrap();
    assert!(pool(&chain).rate_wad() > rate);
    assert_eq!(pool(&chain).pooled, 110 * E18);
    // Redeem half: a request for half the pool, ready after the unbonding period.
    let request = LiquidStakingCall::Redeem {
        shares: minted / 2,
        request: 1,
    };
    assert_eq!(call(&mut chain, 1, request), None);
    let owed = pool(&chain).owed;
    assert!(owed <= 55 * E18 && owed + 2 >= 55 * E18, "{owed}");
    assert_eq!(
        call(&mut chain, 1, LiquidStakingCall::Claim { request: 1 }),
        Some(4),
        "not ready"
    );
    for _ in 0..UNBONDING {
        chain.block(&[]).unwrap();
    }
    let native = balance(&chain, 0, &address(1));
    let receipt = chain
        .call::<M>(&key(1), &LiquidStakingCall::Claim { request: 1 })
        .unwrap();
    assert_eq!(code(&receipt), None);
    let fee = receipt.fee_paid;
    assert_eq!(balance(&chain, 0, &address(1)) + fee, native + owed);
    assert_eq!(
        call(&mut chain, 1, LiquidStakingCall::Claim { request: 1 }),
        Some(3),
        "paid once"
    );
    check(&chain);
}

#[test]
fn a_slash_lowers_the_rate_and_never_raises_a_claim() {
    let mut chain = chain();
    assert_eq!(
        call(
            &mut chain,
            1,
            LiquidStakingCall::Stake { amount: 100 * E18 }
        ),
        None
    );
    assert_eq!(
        call(
            &mut chain,
            2,
            LiquidStakingCall::Stake { amount: 100 * E18 }
        ),
        None
    );
    let request = LiquidStakingCall::Redeem {
        shares: shares_of(&chain, 2),
        request: 9,
    };
    assert_eq!(call(&mut chain, 2, request), None);
    let owed = pool(&chain).owed;
    let value = |chain: &TestChain| match chain
        .query::<M>(LiquidStakingQuery::Value {
            shares: shares_of(chain, 1),
        })
        .unwrap()
    {
        LiquidStakingResponse::Value(v) => v,
        other => panic!("{other:?}"),
    };
    let before = value(&chain);
    // The request was funded by undelegating from one validator; slash one still delegated to.
    let still = pool(&chain).validators[0];
    mock(&mut chain, MockCall::Slash(still, 100));
    chain.block(&[]).unwrap();
    assert!(value(&chain) < before, "the holder bears the slash");
    assert_eq!(
        pool(&chain).owed,
        owed,
        "a request made before keeps its amount"
    );
    check(&chain);
}

#[test]
fn bad_input_gets_typed_errors() {
    let mut chain = chain();
    assert_eq!(
        call(&mut chain, 1, LiquidStakingCall::Stake { amount: 999 }),
        Some(1)
    );
    assert_eq!(
        call(
            &mut chain,
            1,
            LiquidStakingCall::Stake { amount: FUNDS * 2 }
        ),
        Some(7)
    );
    assert_eq!(
        call(&mut chain, 1, LiquidStakingCall::Claim { request: 4 }),
        Some(3)
    );
    assert_eq!(
        call(&mut chain, 1, LiquidStakingCall::Stake { amount: 10 * E18 }),
        None
    );
    assert_eq!(
        call(
            &mut chain,
            1,
            LiquidStakingCall::Redeem {
                shares: 0,
                request: 1
            }
        ),
        Some(1)
    );
    assert_eq!(
        call(
            &mut chain,
            1,
            LiquidStakingCall::Redeem {
                shares: E18,
                request: 1
            }
        ),
        None
    );
    assert_eq!(
        call(
            &mut chain,
            1,
            LiquidStakingCall::Redeem {
                shares: E18,
                request: 1
            }
        ),
        Some(2)
    );
    assert_eq!(
        call(
            &mut chain,
            3,
            LiquidStakingCall::Redeem {
                shares: FUNDS + 1,
                request: 1
            }
        ),
        Some(7),
        "more than held"
    );
}

/// The first-depositor attack: stake the least, donate to the module's account, hope the
/// next staker's shares round to nothing. The pooled amount is the module's own record and
/// shares carry an offset: the victim is not diluted and the donation is lost.
#[test]
fn first_depositor_attack_leaves_the_attacker_poorer() {
    let mut chain = chain();
    let start = balance(&chain, 0, &address(4));
    assert_eq!(
        call(&mut chain, 4, LiquidStakingCall::Stake { amount: 1_000 }),
        None
    );
    let donate = BankCall::Transfer {
        to: staking_account(),
        asset: 0,
        amount: 1_000 * E18,
    };
    chain.call::<Bank>(&key(4), &donate).unwrap();
    assert_eq!(
        call(
            &mut chain,
            5,
            LiquidStakingCall::Stake { amount: 100 * E18 }
        ),
        None
    );
    let victim = match chain
        .query::<M>(LiquidStakingQuery::Value {
            shares: shares_of(&chain, 5),
        })
        .unwrap()
    {
        LiquidStakingResponse::Value(v) => v,
        other => panic!("{other:?}"),
    };
    assert!(victim + 1 >= 100 * E18, "{victim}");
    assert!(balance(&chain, 0, &address(4)) < start - 1_000 * E18);
}

#[test]
fn a_rate_beyond_a_u128_reads_as_the_most_not_zero() {
    let pool = Pool {
        pooled: u128::MAX / 1_000,
        ..Pool::default()
    };
    assert_eq!(pool.rate_wad(), u128::MAX);
    assert_eq!(Pool::default().rate_wad(), 1_000_000_000_000_000_000);
}

#[derive(Debug, Clone)]
enum Op {
    Stake(u64, u128),
    Redeem(u64, u128, u64),
    Claim(u64, u64),
    Reward(bool, u128),
    Slash(bool, u16),
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 1..=5u64;
    prop_oneof![
        3 => (who.clone(), 1_000u128..1 << 80).prop_map(|(w, a)| Op::Stake(w, a)),
        2 => (who.clone(), 1u128..1 << 90, 0u64..3).prop_map(|(w, s, r)| Op::Redeem(w, s, r)),
        2 => (who, 0u64..3).prop_map(|(w, r)| Op::Claim(w, r)),
        1 => (any::<bool>(), 1u128..1 << 70).prop_map(|(v, a)| Op::Reward(v, a)),
        1 => (any::<bool>(), 1u16..500).prop_map(|(v, p)| Op::Slash(v, p)),
        1 => (1u8..8).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Over random stakes, redemptions, claims, rewards, slashes and waits: the account
    /// holds the buffer and reserve, the share supply is the pool's shares, a holder's claim
    /// never rises on a slash, and every request is eventually paid exactly.
    #[test]
    fn the_pool_stays_whole(ops in proptest::collection::vec(op(), 1..30)) {
        let mut chain = chain();
        for op in ops {
            match op {
                Op::Stake(w, a) => { call(&mut chain, w, LiquidStakingCall::Stake { amount: a }); }
                Op::Redeem(w, s, r) => { let shares = s.min(shares_of(&chain, w)); call(&mut chain, w, LiquidStakingCall::Redeem { shares, request: r }); }
                Op::Claim(w, r) => { call(&mut chain, w, LiquidStakingCall::Claim { request: r }); }
                Op::Reward(v, a) => mock(&mut chain, MockCall::Reward(Address([1 + u8::from(v); 32]), a)),
                Op::Slash(v, p) => {
                    let rate = pool(&chain).rate_wad();
                    mock(&mut chain, MockCall::Slash(Address([1 + u8::from(v); 32]), p));
                    chain.block(&[]).unwrap();
                    prop_assert!(pool(&chain).rate_wad() <= rate, "a slash raised the rate");
                }
                Op::Wait(n) => for _ in 0..n { chain.block(&[]).unwrap(); },
            }
            check(&chain);
        }
        // Every request is paid exactly once its unbonding passes.
        for _ in 0..=UNBONDING + 1 {
            chain.block(&[]).unwrap();
        }
        for w in 1..=5u64 {
            for r in 0..3u64 {
                let request = match chain.query::<M>(LiquidStakingQuery::Request { owner: address(w), request: r }).unwrap() {
                    LiquidStakingResponse::Request(q) => q,
                    other => panic!("{other:?}"),
                };
                if let Some(request) = request {
                    let native = balance(&chain, 0, &address(w));
                    let receipt = chain.call::<M>(&key(w), &LiquidStakingCall::Claim { request: r }).unwrap();
                    prop_assert_eq!(code(&receipt), None);
                    prop_assert_eq!(balance(&chain, 0, &address(w)) + receipt.fee_paid, native + request.amount);
                }
            }
        }
        check(&chain);
        prop_assert_eq!(pool(&chain).owed, 0);
    }
}
