//! The module contract exercised through a small module, run the way a runtime runs it:
//! checkpoint, call, revert on error.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use super::*;
use crate::block::EventRecord;

/// Balances per address; a withdrawal records itself before checking the balance, so that a
/// failed one has something to revert.
struct Vault;

const BALANCES: StateMap<Address, u64> = StateMap::new(b"vault/balances/");
const LAST: StateValue<Address> = StateValue::new(b"vault/last");

#[derive(Debug, BorshSerialize, BorshDeserialize, serde::Serialize, serde::Deserialize)]
enum VaultCall {
    Deposit { amount: u64 },
    Withdraw { amount: u64 },
    Transfer { to: Address, amount: u64 },
}

#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize, Serialize)]
enum VaultEvent {
    Moved {
        from: Option<Address>,
        to: Option<Address>,
        amount: u64,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct VaultGenesis {
    balances: Vec<(Address, u64)>,
}

#[derive(Debug, thiserror::Error)]
enum VaultError {
    #[error("insufficient balance: have {have}, need {need}")]
    Insufficient { have: u64, need: u64 },
    #[error("overflow")]
    Overflow,
    #[error("no sender")]
    NoSender,
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for VaultError {
    fn code(&self) -> u32 {
        match self {
            VaultError::Insufficient { .. } => 1,
            VaultError::Overflow => 2,
            VaultError::NoSender => 3,
            VaultError::State(_) => 100,
        }
    }
}

impl Module for Vault {
    const NAME: &'static str = "vault";
    const MAX_CALL_LEN: usize = 64;
    type Call = VaultCall;
    type Event = VaultEvent;
    type Genesis = VaultGenesis;
    type Query = Address;
    type QueryResponse = u64;
    type Error = VaultError;

    fn init_genesis(
        &self,
        genesis: &VaultGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), VaultError> {
        for (address, amount) in &genesis.balances {
            BALANCES.set(ctx.state(), address, amount)?;
        }
        Ok(())
    }

    fn access(&self, call: &VaultCall, sender: &Address) -> AccessSet {
        let set = AccessSet::new()
            .write(BALANCES.key(sender))
            .write(LAST.key());
        match call {
            VaultCall::Transfer { to, .. } => set.write(BALANCES.key(to)),
            _ => set,
        }
    }

    fn call(&self, call: VaultCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), VaultError> {
        let sender = ctx.sender().ok_or(VaultError::NoSender)?;
        let have = BALANCES.get(ctx.state(), &sender)?.unwrap_or(0);
        match call {
            VaultCall::Deposit { amount } => {
                let total = have.checked_add(amount).ok_or(VaultError::Overflow)?;
                BALANCES.set(ctx.state(), &sender, &total)?;
                ctx.emit(&VaultEvent::Moved {
                    from: None,
                    to: Some(sender),
                    amount,
                })?;
            }
            VaultCall::Withdraw { amount } => {
                LAST.set(ctx.state(), &sender)?;
                ctx.emit(&VaultEvent::Moved {
                    from: Some(sender),
                    to: None,
                    amount,
                })?;
                let left = have
                    .checked_sub(amount)
                    .ok_or(VaultError::Insufficient { have, need: amount })?;
                BALANCES.set(ctx.state(), &sender, &left)?;
            }
            VaultCall::Transfer { to, amount } => {
                let left = have
                    .checked_sub(amount)
                    .ok_or(VaultError::Insufficient { have, need: amount })?;
                BALANCES.set(ctx.state(), &sender, &left)?;
                let theirs = BALANCES.get(ctx.state(), &to)?.unwrap_or(0);
                BALANCES.set(
                    ctx.state(),
                    &to,
                    &theirs.checked_add(amount).ok_or(VaultError::Overflow)?,
                )?;
                ctx.emit(&VaultEvent::Moved {
                    from: Some(sender),
                    to: Some(to),
                    amount,
                })?;
            }
        }
        Ok(())
    }

    fn query(&self, address: Address, state: &dyn StateView) -> Result<u64, VaultError> {
        Ok(BALANCES.get_committed(state, &address)?.unwrap_or(0))
    }
}

const ALICE: Address = Address([1; 32]);
const BOB: Address = Address([2; 32]);

fn env() -> Env {
    Env {
        chain_id: ChainId(1),
        height: Height(1),
        timestamp: Timestamp(0),
        proposer: ALICE,
    }
}

/// Runs `call` as a runtime does: decode, declared access, checkpoint, revert on error.
fn run(state: &mut WorkingSet<'_>, sender: Address, bytes: &[u8]) -> Result<(), u32> {
    let call = Vault::decode_call(bytes).map_err(|_| 999u32)?;
    let checkpoint = state.checkpoint();
    let env = env();
    let mut ctx = Context::<Vault>::new(&env, Some(sender), 3, state);
    Vault.call(call, &mut ctx).map_err(|err| {
        state.revert(checkpoint);
        err.code()
    })
}

fn genesis() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut ws = WorkingSet::new(&EmptyState);
    let env = env();
    let mut ctx = Context::<Vault>::new(&env, None, 3, &mut ws);
    Vault
        .init_genesis(
            &VaultGenesis {
                balances: vec![(ALICE, 100)],
            },
            &mut ctx,
        )
        .unwrap();
    ws.finish()
        .changes
        .into_iter()
        .map(|c| (c.key, c.value.unwrap()))
        .collect()
}

#[test]
fn genesis_then_query() {
    let state = genesis();
    assert_eq!(Vault.query(ALICE, &state).unwrap(), 100);
    assert_eq!(Vault.query(BOB, &state).unwrap(), 0);
}

#[test]
fn successful_call_changes_state_and_emits_typed_event() {
    let base = genesis();
    let mut ws = WorkingSet::new(&base);
    run(
        &mut ws,
        ALICE,
        &codec::encode(&VaultCall::Transfer {
            to: BOB,
            amount: 30,
        }),
    )
    .unwrap();
    let event = VaultEvent::Moved {
        from: Some(ALICE),
        to: Some(BOB),
        amount: 30,
    };
    let expected = EventRecord {
        module: 3,
        data: crate::codec::BoundedBytes::try_from_vec(codec::encode(&event)).unwrap(),
    };
    assert_eq!(ws.events(), &[expected]);
    let committed: BTreeMap<_, _> = ws
        .finish()
        .changes
        .into_iter()
        .map(|c| (c.key, c.value.unwrap()))
        .collect();
    assert_eq!(Vault.query(ALICE, &committed).unwrap(), 70);
    assert_eq!(Vault.query(BOB, &committed).unwrap(), 30);
}

#[test]
fn failed_call_leaves_no_trace_but_pays_gas() {
    let base = genesis();
    let mut ws = WorkingSet::new(&base).with_gas(GasMeter::new(100_000), GasSchedule::default());
    run(
        &mut ws,
        ALICE,
        &codec::encode(&VaultCall::Deposit { amount: 1 }),
    )
    .unwrap();
    let before = (ws.events().to_vec(), ws.gas_used());
    // The withdrawal writes LAST and emits before it finds the balance too small.
    let code = run(
        &mut ws,
        ALICE,
        &codec::encode(&VaultCall::Withdraw { amount: 1_000 }),
    );
    assert_eq!(code, Err(1));
    assert_eq!(
        ws.events(),
        before.0.as_slice(),
        "the failed call's event is gone"
    );
    assert!(
        ws.gas_used() > before.1,
        "the failed call's reads and writes were charged"
    );
    let effects = ws.finish();
    assert!(
        effects.changes.iter().all(|c| c.key != LAST.key()),
        "the failed call's write is gone"
    );
    assert_eq!(effects.changes.len(), 1);
}

#[test]
fn declared_access_covers_the_call() {
    let base = genesis();
    let call = VaultCall::Transfer { to: BOB, amount: 5 };
    let mut ws = WorkingSet::new(&base).with_access(Vault.access(&call, &ALICE));
    assert_eq!(run(&mut ws, ALICE, &codec::encode(&call)), Ok(()));
    // A set that forgets the recipient is caught when the call touches it.
    let short = AccessSet::new()
        .write(BALANCES.key(&ALICE))
        .write(LAST.key());
    let mut ws = WorkingSet::new(&base).with_access(short);
    assert_eq!(run(&mut ws, ALICE, &codec::encode(&call)), Err(100));
    assert!(ws.finish().changes.is_empty());
}

#[test]
fn call_bytes_are_decoded_under_the_limit() {
    assert!(matches!(
        Vault::decode_call(&[0; 65]),
        Err(DecodeError::TooLarge { max: 64, .. })
    ));
    assert!(matches!(
        Vault::decode_call(&[7]),
        Err(DecodeError::Invalid { .. })
    ));
    assert!(matches!(
        Vault::decode_call(&[0, 1]),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    assert!(Vault::decode_call(&codec::encode(&VaultCall::Deposit { amount: 3 })).is_ok());
}

#[test]
fn corrupt_stored_value_is_a_typed_error() {
    let mut base = genesis();
    base.insert(BALANCES.key(&ALICE), vec![1, 2, 3]);
    assert!(matches!(
        Vault.query(ALICE, &base),
        Err(VaultError::State(StateError::Decode(_)))
    ));
}
