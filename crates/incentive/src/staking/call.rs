//! What a transaction can ask of staking.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::crypto::PublicKey;
use lamina_interop::module::{AccessSet, Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{
    params, Staking, StakingError, StakingEvent, Unbonding, Validator, ACTIVE, CANDIDATES,
    EVIDENCE, KEYS, MAX_CANDIDATES, MAX_UNBONDINGS, NATIVE, PARAMS, UNBONDING, VALIDATORS,
};
use crate::simplex::evidence::{verify_evidence, MAX_EVIDENCE_LEN};

/// A staking call.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StakingCall {
    /// Becomes a validator candidate signing with `key`, bonding `bond`.
    Register {
        /// The consensus key.
        key: PublicKey,
        /// The first bond, at least the minimum.
        #[serde(with = "lamina_interop::module::amount")]
        bond: u128,
    },
    /// Adds `amount` to the sender's bond.
    Bond {
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Starts unbonding `amount` of the sender's bond.
    Unbond {
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Takes back every released unbonding.
    Withdraw,
    /// Proves that a validator of the active set equivocated (simplex's evidence encoding,
    /// as `MisbehaviourDetected` carries it). Anyone may report.
    ReportEquivocation {
        /// The evidence.
        evidence: Vec<u8>,
    },
}

pub(super) fn access<L: Ledger>(
    staking: &Staking<L>,
    call: &StakingCall,
    sender: &Address,
) -> AccessSet {
    let escrow = Staking::<L>::account();
    let moves = |access: AccessSet| {
        let access = staking.ledger.balance_access(access, NATIVE, sender);
        staking.ledger.balance_access(access, NATIVE, &escrow)
    };
    match call {
        StakingCall::Register { key, .. } => moves(
            AccessSet::new()
                .read(PARAMS.key())
                .write(VALIDATORS.key(sender))
                .write(KEYS.key(key))
                .write(CANDIDATES.key()),
        ),
        StakingCall::Bond { .. } => moves(
            AccessSet::new()
                .read(PARAMS.key())
                .write(VALIDATORS.key(sender)),
        ),
        StakingCall::Unbond { .. } => AccessSet::new()
            .read(PARAMS.key())
            .write(VALIDATORS.key(sender))
            .write(UNBONDING.key(sender)),
        StakingCall::Withdraw => moves(AccessSet::new().write(UNBONDING.key(sender))),
        // Rare, and the offender is known only from the evidence and the key index: it runs
        // alone.
        StakingCall::ReportEquivocation { .. } => AccessSet::everything(),
    }
}

pub(super) fn execute<L: Ledger>(
    staking: &Staking<L>,
    call: StakingCall,
    ctx: &mut Context<'_, '_, Staking<L>>,
) -> Result<(), StakingError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let escrow = Staking::<L>::account();
    match call {
        StakingCall::Register { key, bond } => {
            let params = params(ctx)?;
            if bond < params.min_bond {
                return Err(StakingError::BondTooSmall {
                    bond,
                    min: params.min_bond,
                });
            }
            if VALIDATORS.get(ctx.state(), &sender)?.is_some() {
                return Err(StakingError::AlreadyRegistered(sender.to_string()));
            }
            if KEYS.get(ctx.state(), &key)?.is_some() {
                return Err(StakingError::AlreadyRegistered(key.to_string()));
            }
            let mut candidates = CANDIDATES.get(ctx.state())?.unwrap_or_default();
            if candidates.len() >= MAX_CANDIDATES {
                return Err(StakingError::Limit("candidates"));
            }
            staking
                .ledger
                .transfer(ctx.state(), NATIVE, &sender, &escrow, bond)?;
            candidates.push(sender);
            CANDIDATES.set(ctx.state(), &candidates)?;
            VALIDATORS.set(
                ctx.state(),
                &sender,
                &Validator {
                    key,
                    bonded: bond,
                    jailed: false,
                },
            )?;
            KEYS.set(ctx.state(), &key, &sender)?;
            ctx.emit(&StakingEvent::Registered {
                operator: sender,
                key,
                bond,
            })?;
        }
        StakingCall::Bond { amount } => {
            let mut validator = VALIDATORS
                .get(ctx.state(), &sender)?
                .ok_or(StakingError::NotRegistered(sender))?;
            if validator.jailed {
                return Err(StakingError::Jailed(sender));
            }
            staking
                .ledger
                .transfer(ctx.state(), NATIVE, &sender, &escrow, amount)?;
            validator.bonded = validator
                .bonded
                .checked_add(amount)
                .ok_or(StakingError::Limit("bond overflows"))?;
            VALIDATORS.set(ctx.state(), &sender, &validator)?;
            ctx.emit(&StakingEvent::Bonded {
                operator: sender,
                amount,
            })?;
        }
        StakingCall::Unbond { amount } => {
            let params = params(ctx)?;
            let mut validator = VALIDATORS
                .get(ctx.state(), &sender)?
                .ok_or(StakingError::NotRegistered(sender))?;
            validator.bonded =
                validator
                    .bonded
                    .checked_sub(amount)
                    .ok_or(StakingError::InsufficientBond {
                        bonded: validator.bonded,
                        asked: amount,
                    })?;
            let mut pending = UNBONDING.get(ctx.state(), &sender)?.unwrap_or_default();
            if pending.len() >= MAX_UNBONDINGS {
                return Err(StakingError::Limit("pending unbondings"));
            }
            let release = ctx.env().height.0.saturating_add(params.unbonding_blocks);
            pending.push(Unbonding { amount, release });
            UNBONDING.set(ctx.state(), &sender, &pending)?;
            VALIDATORS.set(ctx.state(), &sender, &validator)?;
            ctx.emit(&StakingEvent::Unbonded {
                operator: sender,
                amount,
                release,
            })?;
        }
        StakingCall::Withdraw => {
            let height = ctx.env().height.0;
            let pending = UNBONDING.get(ctx.state(), &sender)?.unwrap_or_default();
            let (released, waiting): (Vec<Unbonding>, Vec<Unbonding>) =
                pending.into_iter().partition(|u| u.release <= height);
            let amount = released
                .iter()
                .try_fold(0u128, |sum, u| sum.checked_add(u.amount))
                .ok_or(StakingError::Limit("withdrawal overflows"))?;
            if amount == 0 {
                return Err(StakingError::NothingToWithdraw);
            }
            staking
                .ledger
                .transfer(ctx.state(), NATIVE, &escrow, &sender, amount)?;
            if waiting.is_empty() {
                UNBONDING.remove(ctx.state(), &sender)?;
            } else {
                UNBONDING.set(ctx.state(), &sender, &waiting)?;
            }
            ctx.emit(&StakingEvent::Withdrawn {
                operator: sender,
                amount,
            })?;
        }
        StakingCall::ReportEquivocation { evidence } => {
            slash(staking, &evidence, ctx)?;
        }
    }
    Ok(())
}

/// Checks `evidence` against the active set, then burns the offender's share and removes it.
fn slash<L: Ledger>(
    staking: &Staking<L>,
    evidence: &[u8],
    ctx: &mut Context<'_, '_, Staking<L>>,
) -> Result<(), StakingError> {
    if evidence.len() > MAX_EVIDENCE_LEN {
        return Err(StakingError::Evidence("too long".into()));
    }
    let params = params(ctx)?;
    // Valid evidence is in its canonical encoding, so its bytes name the offence.
    let id = lamina_interop::Hash::of(evidence);
    if EVIDENCE.get(ctx.state(), &id)?.is_some() {
        return Err(StakingError::AlreadySlashed(id));
    }
    let mut active = ACTIVE.get(ctx.state())?.unwrap_or_default();
    // An offence of the previous epoch may be reported in this one.
    let set_of = |epoch: u64| {
        if epoch == active.epoch {
            Some(active.keys.clone())
        } else if epoch.checked_add(1) == Some(active.epoch) && !active.previous.is_empty() {
            Some(active.previous.clone())
        } else {
            None
        }
    };
    let offence = verify_evidence(ctx.env().chain_id, set_of, evidence)
        .map_err(|e| StakingError::Evidence(e.to_string()))?;
    if offence.id != id {
        return Err(StakingError::Evidence(
            "not in its canonical encoding".into(),
        ));
    }
    EVIDENCE.set(ctx.state(), &offence.id, &())?;
    let operator = KEYS
        .get(ctx.state(), &offence.offender)?
        .ok_or_else(|| StakingError::Evidence("the offender is not registered".into()))?;
    let mut validator = VALIDATORS
        .get(ctx.state(), &operator)?
        .ok_or(StakingError::NotRegistered(operator))?;
    if validator.jailed {
        // Punished once: further proofs of the same behaviour add nothing.
        return Err(StakingError::Jailed(operator));
    }
    let amount = validator.bonded / 1000 * u128::from(params.slash_per_mille)
        + validator.bonded % 1000 * u128::from(params.slash_per_mille) / 1000;
    if amount > 0 {
        staking.ledger.burn(
            ctx.state(),
            <Staking<L> as lamina_interop::module::Module>::NAME,
            NATIVE,
            &Staking::<L>::account(),
            amount,
        )?;
    }
    validator.bonded -= amount;
    validator.jailed = true;
    // Delegated stake is slashed by the same share.
    if let Some(mut pool) = super::delegation::POOLS.get(ctx.state(), &operator)? {
        let cut = pool.stake / 1000 * u128::from(params.slash_per_mille)
            + pool.stake % 1000 * u128::from(params.slash_per_mille) / 1000;
        if cut > 0 {
            staking.ledger.burn(
                ctx.state(),
                <Staking<L> as lamina_interop::module::Module>::NAME,
                NATIVE,
                &Staking::<L>::account(),
                cut,
            )?;
            pool.stake -= cut;
            super::delegation::POOLS.set(ctx.state(), &operator, &pool)?;
        }
    }
    VALIDATORS.set(ctx.state(), &operator, &validator)?;
    ctx.emit(&StakingEvent::Slashed {
        operator,
        key: offence.offender,
        amount,
        view: offence.view,
    })?;
    active.members.retain(|m| m.operator != operator);
    ACTIVE.set(ctx.state(), &active)?;
    ctx.emit(&StakingEvent::ValidatorSetChanged {
        epoch: active.epoch,
        validators: active.members.iter().map(|m| (m.key, m.bond)).collect(),
    })?;
    Ok(())
}
