//! The module with the bank on a runtime over in-memory state: every typed refusal, the
//! known attacks on channels as named tests, and property tests over random sequences of
//! payments, top-ups, closes and challenges.

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::bank::Bank;
use lamina_agreement::testing::{key, TestChain};
use lamina_interop::channel::{channel_id, ChannelState, SignedState};
use lamina_interop::crypto::{SecretKey, Signature};
use lamina_interop::ChainId;
use proptest::prelude::*;

use super::*;
use crate::testkit::{self, address, balance, code};

const USD: u32 = 1;
const CHALLENGE: u64 = 5;
/// The test chain's id (testkit's).
const CHAIN: ChainId = ChainId(7);

type M = Channels<Bank>;

fn chain() -> TestChain {
    testkit::chain(
        |b| b.module(Channels::new(Bank)),
        &[USD],
        vec![(
            "channels",
            serde_json::to_value(ChannelsGenesis::default()).unwrap(),
        )],
    )
}

fn call(chain: &mut TestChain, who: u64, call: ChannelsCall) -> Option<u32> {
    code(&chain.call::<M>(&key(who), &call).unwrap())
}

fn keys(a: u64, b: u64) -> [lamina_interop::crypto::PublicKey; 2] {
    [key(a).public_key(), key(b).public_key()]
}

/// Opens a channel from account 1 to account 2 with `deposit`; its id.
fn open(chain: &mut TestChain, nonce: u64, deposit: u128) -> Hash {
    let open = ChannelsCall::Open {
        nonce,
        keys: keys(1, 2),
        asset: USD,
        deposit,
        challenge_blocks: CHALLENGE,
    };
    assert_eq!(call(chain, 1, open), None);
    channel_id(&keys(1, 2), nonce)
}

fn sign(state: &ChannelState, signers: [&SecretKey; 2]) -> SignedState {
    SignedState {
        signatures: [state.sign(signers[0]), state.sign(signers[1])],
        state: state.clone(),
    }
}

fn both(state: &ChannelState) -> SignedState {
    sign(state, [&key(1), &key(2)])
}

fn record(chain: &TestChain, id: &Hash) -> Channel {
    match chain
        .query::<M>(ChannelsQuery::Channel { channel: *id })
        .unwrap()
    {
        ChannelsResponse::Channel(Some(view)) => view.channel,
        other => panic!("no channel: {other:?}"),
    }
}

fn wait(chain: &mut TestChain, blocks: u64) {
    for _ in 0..blocks {
        chain.block(&[]).unwrap();
    }
}

fn settle(chain: &mut TestChain, id: Hash) -> Option<u32> {
    call(chain, 3, ChannelsCall::Settle { channel: id })
}

#[test]
fn pays_out_the_newest_state_after_the_challenge_period() {
    let mut chain = chain();
    let start = [
        balance(&chain, USD, &address(1)),
        balance(&chain, USD, &address(2)),
    ];
    let id = open(&mut chain, 1, 1_000);
    assert_eq!(balance(&chain, USD, &escrow_account()), 1_000);
    let v1 = ChannelState::opening(CHAIN, id, [1_000, 0])
        .pay(0, 300)
        .unwrap();
    let v2 = v1.pay(0, 200).unwrap();
    let close = ChannelsCall::Close {
        channel: id,
        state: Some(both(&v2)),
    };
    assert_eq!(call(&mut chain, 2, close), None);
    assert_eq!(settle(&mut chain, id), Some(12), "not before the deadline");
    wait(&mut chain, CHALLENGE);
    assert_eq!(settle(&mut chain, id), None);
    assert_eq!(balance(&chain, USD, &address(1)), start[0] - 500);
    assert_eq!(balance(&chain, USD, &address(2)), start[1] + 500);
    assert_eq!(balance(&chain, USD, &escrow_account()), 0);
    assert!(matches!(
        record(&chain, &id).phase,
        Phase::Settled { version: 2, .. }
    ));
    assert_eq!(settle(&mut chain, id), Some(10), "paid once");
}

#[test]
fn a_stale_close_is_overturned_by_the_newer_state() {
    let mut chain = chain();
    let id = open(&mut chain, 1, 1_000);
    let v1 = ChannelState::opening(CHAIN, id, [1_000, 0])
        .pay(0, 100)
        .unwrap();
    let v2 = v1.pay(0, 800).unwrap();
    // The payer closes on the state where it had paid least.
    let stale = ChannelsCall::Close {
        channel: id,
        state: Some(both(&v1)),
    };
    assert_eq!(call(&mut chain, 1, stale), None);
    // A watchtower (account 3) holds the newer state and answers.
    let answer = ChannelsCall::Challenge { state: both(&v2) };
    assert_eq!(call(&mut chain, 3, answer.clone()), None);
    assert_eq!(
        call(&mut chain, 3, answer),
        Some(7),
        "the same version again"
    );
    let older = ChannelsCall::Challenge { state: both(&v1) };
    assert_eq!(
        call(&mut chain, 1, older),
        Some(7),
        "an older one cannot come back"
    );
    wait(&mut chain, CHALLENGE);
    let before = balance(&chain, USD, &address(2));
    assert_eq!(settle(&mut chain, id), None);
    assert_eq!(balance(&chain, USD, &address(2)), before + 900);
}

#[test]
fn a_close_without_any_signed_state_pays_the_deposits_back() {
    let mut chain = chain();
    let start = balance(&chain, USD, &address(1));
    let id = open(&mut chain, 1, 1_000);
    let close = ChannelsCall::Close {
        channel: id,
        state: None,
    };
    assert_eq!(call(&mut chain, 3, close.clone()), Some(4), "only a party");
    assert_eq!(call(&mut chain, 1, close.clone()), None);
    assert_eq!(call(&mut chain, 1, close), Some(10), "closing already");
    wait(&mut chain, CHALLENGE);
    assert_eq!(settle(&mut chain, id), None);
    assert_eq!(balance(&chain, USD, &address(1)), start);
}

#[test]
fn challenges_end_at_the_deadline_and_do_not_move_it() {
    let mut chain = chain();
    let id = open(&mut chain, 1, 1_000);
    let states: Vec<ChannelState> = (1..=4)
        .scan(ChannelState::opening(CHAIN, id, [1_000, 0]), |s, _| {
            *s = s.pay(0, 10).unwrap();
            Some(s.clone())
        })
        .collect();
    let close = ChannelsCall::Close {
        channel: id,
        state: Some(both(&states[0])),
    };
    assert_eq!(call(&mut chain, 1, close), None);
    let Phase::Closing { deadline, .. } = record(&chain, &id).phase else {
        panic!("not closing")
    };
    let challenge = |s: &ChannelState| ChannelsCall::Challenge { state: both(s) };
    assert_eq!(call(&mut chain, 2, challenge(&states[1])), None);
    assert_eq!(call(&mut chain, 2, challenge(&states[2])), None);
    let Phase::Closing {
        deadline: still, ..
    } = record(&chain, &id).phase
    else {
        panic!("not closing")
    };
    assert_eq!(still, deadline);
    let left = deadline.0 - chain.height();
    wait(&mut chain, left);
    assert_eq!(call(&mut chain, 2, challenge(&states[3])), Some(11));
    assert_eq!(settle(&mut chain, id), None);
    assert!(matches!(
        record(&chain, &id).phase,
        Phase::Settled { version: 3, .. }
    ));
}

#[test]
fn a_state_of_one_channel_is_refused_on_another() {
    let mut chain = chain();
    let first = open(&mut chain, 1, 1_000);
    let second = open(&mut chain, 2, 1_000);
    let paid = ChannelState::opening(CHAIN, first, [1_000, 0])
        .pay(0, 900)
        .unwrap();
    let replay = ChannelsCall::Close {
        channel: second,
        state: Some(both(&paid)),
    };
    assert_eq!(call(&mut chain, 2, replay), Some(6));
    // Relabelled, the signatures no longer verify.
    let mut relabelled = both(&paid);
    relabelled.state.channel = second;
    let replay = ChannelsCall::Close {
        channel: second,
        state: Some(relabelled),
    };
    assert_eq!(call(&mut chain, 2, replay), Some(8));
}

#[test]
fn a_state_signed_for_another_chain_is_refused() {
    let mut chain = chain();
    let id = open(&mut chain, 1, 1_000);
    let other = ChannelState::opening(ChainId(8), id, [1_000, 0])
        .pay(0, 900)
        .unwrap();
    let close = ChannelsCall::Close {
        channel: id,
        state: Some(both(&other)),
    };
    assert_eq!(call(&mut chain, 2, close), Some(5));
}

#[test]
fn a_settled_channel_cannot_be_reopened_to_replay_its_states() {
    let mut chain = chain();
    let id = open(&mut chain, 1, 1_000);
    let paid = ChannelState::opening(CHAIN, id, [1_000, 0])
        .pay(0, 900)
        .unwrap();
    let mut done = paid.clone();
    done.version += 1;
    done.is_final = true;
    let close = ChannelsCall::CloseCooperative { state: both(&done) };
    assert_eq!(call(&mut chain, 3, close.clone()), None);
    assert_eq!(call(&mut chain, 3, close), Some(10));
    let reopen = ChannelsCall::Open {
        nonce: 1,
        keys: keys(1, 2),
        asset: USD,
        deposit: 1_000,
        challenge_blocks: CHALLENGE,
    };
    assert_eq!(call(&mut chain, 1, reopen), Some(2));
}

#[test]
fn forged_swapped_and_unbalanced_states_are_refused() {
    let mut chain = chain();
    let id = open(&mut chain, 1, 1_000);
    let paid = ChannelState::opening(CHAIN, id, [1_000, 0])
        .pay(0, 900)
        .unwrap();
    let close = |state: SignedState| ChannelsCall::Close {
        channel: id,
        state: Some(state),
    };
    // The payee signs alone, twice.
    let forged = sign(&paid, [&key(2), &key(2)]);
    assert_eq!(call(&mut chain, 2, close(forged)), Some(8));
    let mut swapped = both(&paid);
    swapped.signatures.swap(0, 1);
    assert_eq!(call(&mut chain, 2, close(swapped)), Some(8));
    let mut zero = both(&paid);
    zero.signatures[0] = Signature([0; 64]);
    assert_eq!(call(&mut chain, 2, close(zero)), Some(8));
    // A split of more than was deposited, signed by both, still cannot be paid.
    let mut inflated = paid.clone();
    inflated.balances[1].0 += 1;
    assert_eq!(call(&mut chain, 2, close(both(&inflated))), Some(8));
    let mut overcounted = paid.clone();
    overcounted.deposited[1].0 += 500;
    overcounted.balances[1].0 += 500;
    assert_eq!(call(&mut chain, 2, close(both(&overcounted))), Some(8));
    let not_final = ChannelsCall::CloseCooperative { state: both(&paid) };
    assert_eq!(call(&mut chain, 2, not_final), Some(9));
    assert_eq!(record(&chain, &id).phase, Phase::Open);
}

#[test]
fn opens_are_checked() {
    let mut chain = chain();
    let open = |keys, deposit, challenge_blocks| ChannelsCall::Open {
        nonce: 1,
        keys,
        asset: USD,
        deposit,
        challenge_blocks,
    };
    // Someone else's key first; the same key twice; nothing deposited (an unfunded channel
    // would let anyone fill state with disputes); a period out of bounds.
    assert_eq!(
        call(&mut chain, 1, open(keys(2, 1), 10, CHALLENGE)),
        Some(3)
    );
    assert_eq!(
        call(&mut chain, 1, open(keys(1, 1), 10, CHALLENGE)),
        Some(3)
    );
    assert_eq!(
        call(&mut chain, 1, open(keys(1, 2), 0, CHALLENGE)),
        Some(14)
    );
    assert_eq!(call(&mut chain, 1, open(keys(1, 2), 10, 1)), Some(13));
    assert_eq!(
        call(&mut chain, 1, open(keys(1, 2), u128::MAX, CHALLENGE)),
        Some(15)
    );
    // Every call on a channel that does not exist is refused with code 1.
    let nowhere = Hash([9; 32]);
    for unknown in [
        ChannelsCall::Settle { channel: nowhere },
        ChannelsCall::Close {
            channel: nowhere,
            state: None,
        },
        ChannelsCall::TopUp {
            channel: nowhere,
            amount: 5,
        },
    ] {
        assert_eq!(call(&mut chain, 1, unknown), Some(1));
    }
}

#[test]
fn a_top_up_after_a_state_returns_to_its_depositor() {
    let mut chain = chain();
    let start = [
        balance(&chain, USD, &address(1)),
        balance(&chain, USD, &address(2)),
    ];
    let id = open(&mut chain, 1, 1_000);
    let paid = ChannelState::opening(CHAIN, id, [1_000, 0])
        .pay(0, 400)
        .unwrap();
    let top_up = |amount| ChannelsCall::TopUp {
        channel: id,
        amount,
    };
    assert_eq!(call(&mut chain, 3, top_up(10)), Some(4), "only a party");
    assert_eq!(call(&mut chain, 2, top_up(0)), Some(14));
    assert_eq!(call(&mut chain, 2, top_up(250)), None);
    assert_eq!(record(&chain, &id).deposits, [Amount(1_000), Amount(250)]);
    let close = ChannelsCall::Close {
        channel: id,
        state: Some(both(&paid)),
    };
    assert_eq!(call(&mut chain, 1, close), None);
    assert_eq!(
        call(&mut chain, 2, top_up(1)),
        Some(10),
        "not while closing"
    );
    wait(&mut chain, CHALLENGE);
    assert_eq!(settle(&mut chain, id), None);
    assert_eq!(balance(&chain, USD, &address(1)), start[0] - 400);
    assert_eq!(balance(&chain, USD, &address(2)), start[1] + 400);
}

#[test]
fn events_report_each_step() {
    let mut chain = chain();
    let id = open(&mut chain, 1, 1_000);
    let paid = ChannelState::opening(CHAIN, id, [1_000, 0])
        .pay(0, 1)
        .unwrap();
    let receipt = chain
        .call::<M>(
            &key(2),
            &ChannelsCall::Close {
                channel: id,
                state: Some(both(&paid)),
            },
        )
        .unwrap();
    assert_eq!(
        chain.events::<M>(&receipt),
        vec![ChannelsEvent::Closing {
            channel: id,
            version: 1,
            deadline: Height(chain.height() + CHALLENGE),
            by: address(2),
        }]
    );
}

/// One step of a random history of a channel between account 1 (party 0) and account 2
/// (party 1), one of whom cheats.
#[derive(Debug, Clone)]
enum Step {
    /// An off-chain payment both sign.
    Pay { from: usize, amount: u128 },
    /// A deposit on chain, later counted off chain if `count`.
    TopUp {
        party: usize,
        amount: u128,
        count: bool,
    },
    /// The cheater closes on the signed state `index` back from the newest.
    StaleClose { back: usize },
    /// The cheater challenges with an older state.
    StaleChallenge { back: usize },
    /// Blocks pass.
    Wait { blocks: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..2usize, 1..400u128).prop_map(|(from, amount)| Step::Pay { from, amount }),
        1 => (0..2usize, 1..300u128, any::<bool>())
            .prop_map(|(party, amount, count)| Step::TopUp { party, amount, count }),
        1 => (0..6usize).prop_map(|back| Step::StaleClose { back }),
        1 => (0..6usize).prop_map(|back| Step::StaleChallenge { back }),
        1 => (1..4u64).prop_map(|blocks| Step::Wait { blocks }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the cheater (party `cheat`) does, with the honest party or a watchtower
    /// answering every close with the newest signed state: the payouts add up to the
    /// deposits, the escrow ends empty, and the honest party gets at least its balance in
    /// the newest state both signed plus what it deposited after.
    #[test]
    fn the_newest_state_wins_and_nothing_is_created(
        cheat in 0..2usize,
        tower in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let mut chain = chain();
        let accounts = [1u64, 2];
        let start = accounts.map(|a| balance(&chain, USD, &address(a)));
        let id = open(&mut chain, 1, 1_000);
        let mut deposits = [1_000u128, 0];
        let mut history: Vec<ChannelState> = Vec::new();
        let mut latest = ChannelState::opening(CHAIN, id, deposits);
        let mut closing = false;
        let honest = 1 - cheat;
        // Who answers a stale close: the honest party, or a watchtower (account 3).
        let answerer = if tower { 3 } else { accounts[honest] };
        for step in steps {
            match step {
                Step::Pay { from, amount } => {
                    if closing {
                        continue;
                    }
                    if let Some(next) = latest.pay(from, amount) {
                        history.push(next.clone());
                        latest = next;
                    }
                }
                Step::TopUp { party, amount, count } => {
                    let top_up = ChannelsCall::TopUp { channel: id, amount };
                    let outcome = call(&mut chain, accounts[party], top_up);
                    prop_assert_eq!(outcome.is_none(), !closing);
                    if outcome.is_none() {
                        deposits[party] += amount;
                        if count {
                            let mut next = latest.clone();
                            next.version += 1;
                            next.deposited[party].0 += amount;
                            next.balances[party].0 += amount;
                            history.push(next.clone());
                            latest = next;
                        }
                    }
                }
                Step::StaleClose { back } => {
                    let state = history.len().checked_sub(back + 1).map(|i| both(&history[i]));
                    let close = ChannelsCall::Close { channel: id, state };
                    if call(&mut chain, accounts[cheat], close).is_none() {
                        closing = true;
                        // The answer, in the next block: the newest signed state, if newer.
                        if let Some(newest) = history.last() {
                            let answer = ChannelsCall::Challenge { state: both(newest) };
                            let outcome = call(&mut chain, answerer, answer);
                            prop_assert!(outcome.is_none() || outcome == Some(7));
                        }
                    }
                }
                Step::StaleChallenge { back } => {
                    if let Some(i) = history.len().checked_sub(back + 1) {
                        let challenge = ChannelsCall::Challenge { state: both(&history[i]) };
                        let _ = call(&mut chain, accounts[cheat], challenge);
                    }
                }
                Step::Wait { blocks } => wait(&mut chain, blocks),
            }
        }
        if !closing {
            let close = ChannelsCall::Close {
                channel: id,
                state: history.last().map(both),
            };
            prop_assert_eq!(call(&mut chain, accounts[honest], close), None);
        }
        wait(&mut chain, CHALLENGE + 1);
        prop_assert_eq!(settle(&mut chain, id), None);
        let Phase::Settled { version, payouts } = record(&chain, &id).phase else {
            panic!("not settled");
        };
        prop_assert_eq!(version, latest.version);
        prop_assert_eq!(payouts[0].0 + payouts[1].0, deposits[0] + deposits[1]);
        prop_assert_eq!(balance(&chain, USD, &escrow_account()), 0);
        let owed = latest.payouts(deposits).unwrap();
        prop_assert!(payouts[honest].0 >= owed[honest]);
        for party in 0..2 {
            let end = balance(&chain, USD, &address(accounts[party]));
            prop_assert_eq!(end + deposits[party], start[party] + payouts[party].0);
        }
    }
}
