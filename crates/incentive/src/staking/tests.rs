//! Staking over a ledger of the tests' own (the bank lives in another layer): genesis, the
//! bond lifecycle, rewards, epochs, and slashing with real simplex evidence.

use std::collections::BTreeMap;

use borsh::BorshDeserialize as _;
use commonware_codec::Encode as _;
use commonware_consensus::simplex::types::{ConflictingNotarize, Notarize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::{sha256, Hasher as _, Sha256};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::{Env, LedgerError, StateValue, WorkingSet};
use lamina_interop::{ChainId, Height, Timestamp};

use super::*;
use crate::simplex::{signing_scheme, SimplexConfig};

const CHAIN: ChainId = ChainId(9);

/// Balances and a supply in state; only `staking` may mint and burn.
#[derive(Debug, Clone, Copy, Default)]
struct TestLedger;

const BALANCES: StateMap<Address, u128> = StateMap::new(b"test/balance/");
const SUPPLY: StateValue<u128> = StateValue::new(b"test/supply");

impl Ledger for TestLedger {
    fn balance(
        &self,
        state: &mut WorkingSet<'_>,
        _asset: u32,
        account: &Address,
    ) -> Result<u128, LedgerError> {
        Ok(BALANCES.get(state, account)?.unwrap_or(0))
    }

    fn transfer(
        &self,
        state: &mut WorkingSet<'_>,
        asset: u32,
        from: &Address,
        to: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        let balance = self.balance(state, asset, from)?;
        let rest = balance
            .checked_sub(amount)
            .ok_or(LedgerError::Insufficient {
                asset,
                balance,
                needed: amount,
            })?;
        BALANCES.set(state, from, &rest)?;
        let to_balance = self.balance(state, asset, to)?;
        BALANCES.set(state, to, &(to_balance + amount))?;
        Ok(())
    }

    fn mint(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        to: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        if module != "staking" {
            return Err(LedgerError::Refused("not a minter".into()));
        }
        let balance = self.balance(state, asset, to)?;
        BALANCES.set(state, to, &(balance + amount))?;
        let supply = SUPPLY.get(state)?.unwrap_or(0);
        SUPPLY.set(state, &(supply + amount))?;
        Ok(())
    }

    fn burn(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        from: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        if module != "staking" {
            return Err(LedgerError::Refused("not a minter".into()));
        }
        let balance = self.balance(state, asset, from)?;
        BALANCES.set(state, from, &(balance - amount))?;
        let supply = SUPPLY.get(state)?.unwrap_or(0);
        SUPPLY.set(state, &(supply - amount))?;
        Ok(())
    }

    fn balance_access(&self, access: AccessSet, _asset: u32, account: &Address) -> AccessSet {
        access.write(BALANCES.key(account))
    }

    fn supply_access(&self, access: AccessSet, _module: &str, _asset: u32) -> AccessSet {
        access.write(SUPPLY.key())
    }
}

type Chain = BTreeMap<Vec<u8>, Vec<u8>>;

fn validator_key(i: u8) -> SecretKey {
    SecretKey::from_seed([i + 1; 32])
}

fn operator(i: u8) -> Address {
    Address([0x10 + i; 32])
}

fn env(height: u64) -> Env {
    Env {
        chain_id: CHAIN,
        height: Height(height),
        timestamp: Timestamp(height),
        proposer: operator(0),
    }
}

fn params() -> Params {
    Params {
        max_validators: 3,
        min_bond: 1_000,
        unbonding_blocks: 10,
        epoch_blocks: 5,
        slash_per_mille: 100,
        reward_per_block: 1_001,
    }
}

/// Genesis: operators 0..4 funded with 1,000,000 each (supply 4,000,000), 0..3 bonded
/// 10,000 / 20,000 / 30,000 / 40,000.
fn genesis() -> Chain {
    let mut chain = Chain::new();
    let mut ws = WorkingSet::new(&chain);
    for i in 0..4 {
        BALANCES.set(&mut ws, &operator(i), &1_000_000).unwrap();
    }
    SUPPLY.set(&mut ws, &4_000_000).unwrap();
    let genesis = StakingGenesis {
        params: Some(params()),
        validators: (0..4)
            .map(|i| GenesisValidator {
                operator: operator(i),
                key: validator_key(i).public_key(),
                bond: lamina_interop::module::Amount(10_000 * (u128::from(i) + 1)),
            })
            .collect(),
    };
    let env = env(0);
    let mut ctx = Context::new(&env, None, 2, &mut ws);
    Staking::new(TestLedger)
        .init_genesis(&genesis, &mut ctx)
        .unwrap();
    let changes = ws.finish().changes;
    apply(&mut chain, changes);
    chain
}

fn apply(chain: &mut Chain, changes: Vec<lamina_interop::block::StateChange>) {
    for change in changes {
        match change.value {
            Some(value) => chain.insert(change.key, value),
            None => chain.remove(&change.key),
        };
    }
}

/// Runs `call` from `sender` at `height` within its declared access set; commits on success.
fn call(
    chain: &mut Chain,
    sender: Address,
    height: u64,
    call: StakingCall,
) -> Result<Vec<StakingEvent>, StakingError> {
    let staking = Staking::new(TestLedger);
    let access = staking.access(&call, &sender);
    let snapshot = chain.clone();
    let mut ws = WorkingSet::new(&snapshot).with_access(access);
    let env = env(height);
    let mut ctx = Context::new(&env, Some(sender), 2, &mut ws);
    staking.call(call, &mut ctx)?;
    let events = decode_events(&ws);
    let changes = ws.finish().changes;
    apply(chain, changes);
    Ok(events)
}

fn end_block(chain: &mut Chain, height: u64) -> Vec<StakingEvent> {
    end_block_announcing(chain, height).0
}

/// The end-block hook's events, and the validator set it announced to consensus.
fn end_block_announcing(
    chain: &mut Chain,
    height: u64,
) -> (Vec<StakingEvent>, Option<ValidatorSet>) {
    let snapshot = chain.clone();
    let mut ws = WorkingSet::new(&snapshot);
    let env = env(height);
    let mut ctx = Context::new(&env, None, 2, &mut ws);
    Staking::new(TestLedger).end_block(&mut ctx).unwrap();
    let events = decode_events(&ws);
    let effects = ws.finish();
    apply(chain, effects.changes);
    (events, effects.validators)
}

fn decode_events(ws: &WorkingSet<'_>) -> Vec<StakingEvent> {
    ws.events()
        .iter()
        .map(|e| StakingEvent::try_from_slice(e.data.as_ref()).unwrap())
        .collect()
}

fn balance(chain: &Chain, account: &Address) -> u128 {
    let mut ws = WorkingSet::new(chain);
    BALANCES.get(&mut ws, account).unwrap().unwrap_or(0)
}

fn supply(chain: &Chain) -> u128 {
    let mut ws = WorkingSet::new(chain);
    SUPPLY.get(&mut ws).unwrap().unwrap_or(0)
}

fn active(chain: &Chain) -> ActiveSet {
    let mut ws = WorkingSet::new(chain);
    ACTIVE.get(&mut ws).unwrap().unwrap()
}

fn validator(chain: &Chain, i: u8) -> Validator {
    let mut ws = WorkingSet::new(chain);
    VALIDATORS.get(&mut ws, &operator(i)).unwrap().unwrap()
}

/// Everything held: liquid balances plus the staking account equals the supply.
fn assert_conserved(chain: &Chain) {
    let mut held =
        balance(chain, &Staking::<TestLedger>::account()) + balance(chain, &reward_pool());
    for i in 0..8 {
        held += balance(chain, &operator(i));
    }
    held += balance(chain, &Address([0xee; 32]));
    assert_eq!(held, supply(chain), "balances and supply disagree");
}

#[test]
fn genesis_bonds_and_picks_the_largest() {
    let chain = genesis();
    let set = active(&chain);
    assert_eq!(set.epoch, 0);
    let operators: Vec<Address> = set.members.iter().map(|m| m.operator).collect();
    assert_eq!(operators, vec![operator(3), operator(2), operator(1)]);
    assert_eq!(balance(&chain, &operator(0)), 990_000);
    assert_eq!(balance(&chain, &Staking::<TestLedger>::account()), 100_000);
    assert_conserved(&chain);
}

#[test]
fn bond_unbond_and_withdraw_after_the_unbonding_period() {
    let mut chain = genesis();
    // A newcomer below the minimum is refused; at the minimum, accepted.
    let newcomer = operator(4);
    let mut ws = WorkingSet::new(&chain);
    BALANCES.set(&mut ws, &newcomer, &50_000).unwrap();
    SUPPLY.set(&mut ws, &4_050_000).unwrap();
    let changes = ws.finish().changes;
    apply(&mut chain, changes);
    let key = validator_key(4).public_key();
    assert!(matches!(
        call(
            &mut chain,
            newcomer,
            1,
            StakingCall::Register { key, bond: 999 }
        ),
        Err(StakingError::BondTooSmall { .. })
    ));
    call(
        &mut chain,
        newcomer,
        1,
        StakingCall::Register { key, bond: 5_000 },
    )
    .unwrap();
    assert!(matches!(
        call(
            &mut chain,
            operator(5),
            1,
            StakingCall::Register { key, bond: 5_000 }
        ),
        Err(StakingError::AlreadyRegistered(_))
    ));
    call(
        &mut chain,
        newcomer,
        2,
        StakingCall::Bond { amount: 45_000 },
    )
    .unwrap();
    assert_eq!(validator(&chain, 4).bonded, 50_000);
    assert_eq!(balance(&chain, &newcomer), 0);
    assert!(matches!(
        call(
            &mut chain,
            newcomer,
            3,
            StakingCall::Unbond { amount: 60_000 }
        ),
        Err(StakingError::InsufficientBond { .. })
    ));
    let events = call(
        &mut chain,
        newcomer,
        3,
        StakingCall::Unbond { amount: 20_000 },
    )
    .unwrap();
    assert_eq!(
        events,
        vec![StakingEvent::Unbonded {
            operator: newcomer,
            amount: 20_000,
            release: 13
        }]
    );
    assert!(matches!(
        call(&mut chain, newcomer, 12, StakingCall::Withdraw),
        Err(StakingError::NothingToWithdraw)
    ));
    call(&mut chain, newcomer, 13, StakingCall::Withdraw).unwrap();
    assert_eq!(balance(&chain, &newcomer), 20_000);
    assert_eq!(validator(&chain, 4).bonded, 30_000);
    assert_conserved(&chain);
}

#[test]
fn base_fees_go_to_the_pool_and_are_paid_out_with_the_reward() {
    let split = FeesToValidators.split(FeeTotals { base: 900, tips: 7 });
    assert_eq!(
        split,
        FeeSplit {
            producer: 7,
            pool: 900,
            burned: 0
        }
    );
    let mut chain = genesis();
    // The runtime credits the pool with the block's base fees before the end-block hooks;
    // here operator 0 pays them.
    let snapshot = chain.clone();
    let mut ws = WorkingSet::new(&snapshot);
    TestLedger
        .transfer(&mut ws, NATIVE, &operator(0), &reward_pool(), 900)
        .unwrap();
    apply(&mut chain, ws.finish().changes);
    let start: Vec<u128> = (0..4).map(|i| balance(&chain, &operator(i))).collect();
    let events = end_block(&mut chain, 1);
    assert!(events.contains(&StakingEvent::Rewarded {
        epoch: 0,
        minted: 1_001,
        fees: 900
    }));
    // 900 over bonds 40k / 30k / 20k: 400, 300, 200; plus the minted 446 / 333 / 222.
    let paid: Vec<u128> = (0..4)
        .map(|i| balance(&chain, &operator(i)) - start[i as usize])
        .collect();
    assert_eq!(paid, vec![0, 422, 633, 846]);
    assert_eq!(balance(&chain, &reward_pool()), 0);
    assert_conserved(&chain);
}

#[test]
fn rewards_are_pro_rata_and_epochs_rotate_the_set() {
    let mut chain = genesis();
    let before = supply(&chain);
    let liquid = |chain: &Chain, i| balance(chain, &operator(i));
    let start: Vec<u128> = (0..4).map(|i| liquid(&chain, i)).collect();
    end_block(&mut chain, 1);
    // 1,001 over bonds 40k / 30k / 20k (90k): 444 (+1 remainder), 333, 222; operator 0 is
    // not in the set.
    let paid: Vec<u128> = (0..4)
        .map(|i| liquid(&chain, i) - start[i as usize])
        .collect();
    assert_eq!(paid, vec![0, 222, 333, 446]);
    assert_eq!(supply(&chain), before + 1_001);
    assert_conserved(&chain);

    // Operator 0 bonds enough to lead; at the next epoch boundary (height 5) it enters and
    // the smallest member leaves.
    call(
        &mut chain,
        operator(0),
        2,
        StakingCall::Bond { amount: 50_000 },
    )
    .unwrap();
    let (events, announced) = end_block_announcing(&mut chain, 4);
    assert!(!events
        .iter()
        .any(|e| matches!(e, StakingEvent::ValidatorSetChanged { .. })));
    assert_eq!(announced, None, "no announcement inside an epoch");
    let (events, announced) = end_block_announcing(&mut chain, 5);
    let set = active(&chain);
    // Consensus learns the new set, sorted by key, with bonds as power.
    let mut expected: Vec<SetMember> = set
        .members
        .iter()
        .map(|m| SetMember {
            key: m.key,
            power: m.bond as u64,
        })
        .collect();
    expected.sort_by_key(|v| v.key);
    assert_eq!(
        announced,
        Some(ValidatorSet {
            epoch: 1,
            validators: expected
        })
    );
    assert_eq!(set.epoch, 1);
    let operators: Vec<Address> = set.members.iter().map(|m| m.operator).collect();
    assert_eq!(operators, vec![operator(0), operator(3), operator(2)]);
    assert!(events.contains(&StakingEvent::ValidatorSetChanged {
        epoch: 1,
        validators: set.members.iter().map(|m| (m.key, m.bond)).collect(),
    }));
    assert_conserved(&chain);
}

#[test]
fn the_next_set_is_decided_half_an_epoch_ahead_and_readable_by_light_clients() {
    use lamina_interop::finality::ValidatorSet as LightSet;
    let mut chain = genesis();
    // Epochs of 5 blocks: the set of epoch 1 is decided at the end of block 3.
    end_block(&mut chain, 2);
    let mut ws = WorkingSet::new(&chain);
    assert_eq!(NEXT_SET.get(&mut ws).unwrap(), None, "nothing decided yet");
    end_block(&mut chain, 3);
    let mut ws = WorkingSet::new(&chain);
    let decided = NEXT_SET.get(&mut ws).unwrap().unwrap();
    let top: Vec<PublicKey> = (1..4).map(|i| validator_key(i).public_key()).collect();
    assert_eq!(decided, LightSet::new(1, top.clone()).unwrap());
    // Operator 0 bonds enough to lead, after the decision: it waits for epoch 2.
    call(
        &mut chain,
        operator(0),
        4,
        StakingCall::Bond { amount: 50_000 },
    )
    .unwrap();
    end_block(&mut chain, 4);
    let (_, announced) = end_block_announcing(&mut chain, 5);
    let announced = announced.unwrap();
    assert_eq!(announced.epoch, 1);
    let mut keys: Vec<PublicKey> = announced.validators.iter().map(|v| v.key).collect();
    keys.sort();
    assert_eq!(
        keys,
        decided.keys.to_vec(),
        "the boundary announces the decided set"
    );
    assert_eq!(active(&chain).epoch, 1);
    // Decided at block 8 for epoch 2, with operator 0 in it.
    for height in 6..=8 {
        end_block(&mut chain, height);
    }
    let mut ws = WorkingSet::new(&chain);
    let next = NEXT_SET.get(&mut ws).unwrap().unwrap();
    assert_eq!(next.epoch, 2);
    assert!(next.keys.contains(&validator_key(0).public_key()));
    assert_conserved(&chain);
}

/// Two notarize votes of validator `signer` for different blocks in one view.
fn equivocation(signer: u8, set: &[PublicKey], view: u64) -> Vec<u8> {
    equivocation_in(0, signer, set, view)
}

/// [`equivocation`] in `epoch`.
fn equivocation_in(epoch: u64, signer: u8, set: &[PublicKey], view: u64) -> Vec<u8> {
    let mut config = SimplexConfig::new(CHAIN, set.to_vec());
    config.validators = set.to_vec();
    let scheme = signing_scheme(&config, &validator_key(signer)).unwrap();
    let round = Round::new(Epoch::new(epoch), View::new(view));
    let digest = |n: u8| -> sha256::Digest { Sha256::hash(&[&[n]]) };
    let a = Notarize::sign(
        &scheme,
        Proposal::new(round, View::new(view - 1), digest(1)),
    )
    .unwrap();
    let b = Notarize::sign(
        &scheme,
        Proposal::new(round, View::new(view - 1), digest(2)),
    )
    .unwrap();
    ConflictingNotarize::new(a, b).encode().to_vec()
}

#[test]
fn an_offence_of_the_previous_epoch_is_slashed_an_older_one_is_not() {
    let mut chain = genesis();
    let set: Vec<PublicKey> = active(&chain).keys.clone();
    let in_epoch_0 = equivocation_in(0, 2, &set, 7);
    let other_in_epoch_0 = equivocation_in(0, 1, &set, 8);
    // Epoch 1 begins (same candidates, same set).
    end_block(&mut chain, 5);
    assert_eq!(active(&chain).epoch, 1);
    assert!(call(
        &mut chain,
        operator(0),
        6,
        StakingCall::ReportEquivocation {
            evidence: in_epoch_0
        }
    )
    .is_ok());
    assert!(validator(&chain, 2).jailed);
    // Two epochs on, epoch 0's set is forgotten: its evidence proves nothing.
    end_block(&mut chain, 10);
    assert_eq!(active(&chain).epoch, 2);
    assert!(matches!(
        call(
            &mut chain,
            operator(0),
            11,
            StakingCall::ReportEquivocation {
                evidence: other_in_epoch_0
            }
        ),
        Err(StakingError::Evidence(_))
    ));
    assert!(!validator(&chain, 1).jailed);
}

#[test]
fn equivocation_is_slashed_once_and_removes_the_offender() {
    let mut chain = genesis();
    let set: Vec<PublicKey> = active(&chain).members.iter().map(|m| m.key).collect();
    let before = supply(&chain);
    let evidence = equivocation(2, &set, 7);

    // Tampered evidence proves nothing.
    let mut tampered = evidence.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        call(
            &mut chain,
            operator(0),
            3,
            StakingCall::ReportEquivocation { evidence: tampered }
        ),
        Err(StakingError::Evidence(_))
    ));
    // Garbage neither.
    assert!(matches!(
        call(
            &mut chain,
            operator(0),
            3,
            StakingCall::ReportEquivocation {
                evidence: vec![1, 2, 3]
            }
        ),
        Err(StakingError::Evidence(_))
    ));

    let events = call(
        &mut chain,
        operator(0),
        3,
        StakingCall::ReportEquivocation {
            evidence: evidence.clone(),
        },
    )
    .unwrap();
    // 10% of 30,000 burned; jailed; out of the set at once.
    assert!(events.contains(&StakingEvent::Slashed {
        operator: operator(2),
        key: validator_key(2).public_key(),
        amount: 3_000,
        view: 7,
    }));
    let offender = validator(&chain, 2);
    assert_eq!((offender.bonded, offender.jailed), (27_000, true));
    assert_eq!(supply(&chain), before - 3_000);
    assert!(active(&chain)
        .members
        .iter()
        .all(|m| m.operator != operator(2)));
    assert_conserved(&chain);

    // The same offence again is refused; a jailed validator cannot bond its way back.
    assert!(matches!(
        call(
            &mut chain,
            operator(0),
            4,
            StakingCall::ReportEquivocation { evidence }
        ),
        Err(StakingError::AlreadySlashed(_))
    ));
    assert!(matches!(
        call(&mut chain, operator(2), 4, StakingCall::Bond { amount: 1 }),
        Err(StakingError::Jailed(_))
    ));
    // Another offence of the jailed validator in the same epoch adds nothing.
    let again = equivocation(2, &set, 8);
    assert!(matches!(
        call(
            &mut chain,
            operator(1),
            4,
            StakingCall::ReportEquivocation { evidence: again }
        ),
        Err(StakingError::Jailed(_))
    ));
    // Nor does the next epoch bring it back.
    end_block(&mut chain, 5);
    assert!(active(&chain)
        .members
        .iter()
        .all(|m| m.operator != operator(2)));

    // Evidence against a key outside the active set is refused.
    let outsider = equivocation(0, &[validator_key(0).public_key()], 9);
    assert!(matches!(
        call(
            &mut chain,
            operator(1),
            6,
            StakingCall::ReportEquivocation { evidence: outsider }
        ),
        Err(StakingError::Evidence(_))
    ));
}

#[test]
fn pro_rata_shares_add_up() {
    let member = |bond| Member {
        operator: operator(0),
        key: validator_key(0).public_key(),
        bond,
    };
    for (total, bonds) in [
        (1_001u128, vec![40_000u128, 30_000, 20_000]),
        (u128::MAX / 2, vec![u128::MAX / 3, 7, 1]),
        (5, vec![1, 1, 1, 1, 1, 1, 1]),
        (0, vec![3, 4]),
    ] {
        let members: Vec<Member> = bonds.into_iter().map(member).collect();
        let shares = pro_rata(total, &members);
        assert_eq!(shares.iter().sum::<u128>(), total);
    }
}

/// Runs `f` with the delegation seam on `chain` (as a block hook would), then commits.
fn with_delegation<T>(
    chain: &mut Chain,
    f: impl FnOnce(&Staking<TestLedger>, &mut WorkingSet<'_>) -> T,
) -> T {
    let snapshot = chain.clone();
    let mut ws = WorkingSet::new(&snapshot);
    let out = f(&Staking::new(TestLedger), &mut ws);
    let changes = ws.finish().changes;
    apply(chain, changes);
    out
}

#[test]
fn delegated_stake_earns_rewards_is_slashed_with_its_validator_and_unbonds() {
    use lamina_interop::module::Delegation as _;
    let mut chain = genesis();
    let delegator = operator(7);
    let other = operator(6);
    with_delegation(&mut chain, |_, ws| {
        BALANCES.set(ws, &delegator, &100_000).unwrap();
        BALANCES.set(ws, &other, &100_000).unwrap();
        let supply = SUPPLY.get(ws).unwrap().unwrap();
        SUPPLY.set(ws, &(supply + 200_000)).unwrap();
    });
    // Operator 0 (bond 10,000) is outside the set of three; 25,000 delegated lifts it in.
    with_delegation(&mut chain, |s, ws| {
        s.delegate(ws, &delegator, &operator(0), 25_000).unwrap();
        s.delegate(ws, &other, &operator(2), 30_000).unwrap();
        assert!(
            s.delegate(ws, &delegator, &Address([0xee; 32]), 1).is_err(),
            "not a validator"
        );
    });
    end_block(&mut chain, 5);
    let operators: Vec<Address> = active(&chain).members.iter().map(|m| m.operator).collect();
    assert_eq!(operators, vec![operator(2), operator(3), operator(0)]);
    // Bond plus delegation, with the pool's share of the block's reward.
    let bond = active(&chain).members[0].bond;
    assert!((60_000..60_500).contains(&bond), "{bond}");
    // Rewards: operator 2's pool holds half its validator's stake and earns half its reward.
    let before = with_delegation(&mut chain, |s, ws| {
        s.delegated(ws, &other, &operator(2)).unwrap()
    });
    let operator_before = balance(&chain, &operator(2));
    end_block(&mut chain, 6);
    let after = with_delegation(&mut chain, |s, ws| {
        s.delegated(ws, &other, &operator(2)).unwrap()
    });
    let operator_gain = balance(&chain, &operator(2)) - operator_before;
    assert!(after > before, "rewards raise the delegation's worth");
    assert!(
        (after - before).abs_diff(operator_gain) <= 1,
        "{} vs {operator_gain}",
        after - before
    );
    assert_conserved(&chain);
    // Slashing operator 2 takes 10% of its pool too.
    let set: Vec<PublicKey> = active(&chain).keys.clone();
    let evidence = equivocation_in(1, 2, &set, 7);
    let worth = with_delegation(&mut chain, |s, ws| {
        s.delegated(ws, &other, &operator(2)).unwrap()
    });
    call(
        &mut chain,
        operator(1),
        7,
        StakingCall::ReportEquivocation { evidence },
    )
    .unwrap();
    let slashed = with_delegation(&mut chain, |s, ws| {
        s.delegated(ws, &other, &operator(2)).unwrap()
    });
    assert!(
        slashed <= worth - worth / 10 + 1 && slashed >= worth - worth / 10 - 1,
        "{worth} -> {slashed}"
    );
    assert!(
        with_delegation(&mut chain, |s, ws| s.delegate(ws, &other, &operator(2), 1)).is_err(),
        "jailed"
    );
    // Undelegating starts an unbonding released after 10 blocks.
    let out = with_delegation(&mut chain, |s, ws| {
        s.undelegate(ws, Height(8), &other, &operator(2), u128::MAX)
            .unwrap()
    });
    assert_eq!(out, slashed);
    assert_eq!(
        with_delegation(&mut chain, |s, ws| s.unbonding(ws, &other).unwrap()),
        slashed
    );
    assert_eq!(
        with_delegation(&mut chain, |s, ws| s
            .withdraw_unbonded(ws, Height(17), &other)
            .unwrap()),
        0
    );
    let liquid = balance(&chain, &other);
    assert_eq!(
        with_delegation(&mut chain, |s, ws| s
            .withdraw_unbonded(ws, Height(18), &other)
            .unwrap()),
        slashed
    );
    assert_eq!(balance(&chain, &other), liquid + slashed);
    assert_eq!(
        with_delegation(&mut chain, |s, ws| s
            .delegated(ws, &other, &operator(2))
            .unwrap()),
        0
    );
    assert_conserved(&chain);
}
