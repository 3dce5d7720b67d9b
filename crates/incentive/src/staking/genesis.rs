//! Staking's section of the chain spec: the rules and the validators bonded at genesis.
//!
//! ```json
//! "staking": {
//!   "params": { "max_validators": 4, "min_bond": "1000", "unbonding_blocks": 100,
//!               "epoch_blocks": 50, "slash_per_mille": 50, "reward_per_block": "10" },
//!   "validators": [ { "operator": "<address>", "key": "<public key>", "bond": "100000" } ]
//! }
//! ```
//!
//! Each genesis validator's bond moves from its operator's balance (funded in the bank's
//! section) to the staking account, and the genesis set is the top `max_validators` of them.

use lamina_interop::crypto::PublicKey;
use lamina_interop::module::{Amount, Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{
    by_rank, top_candidates, ActiveSet, Member, Params, Staking, StakingError, StakingEvent,
    Validator, ACTIVE, CANDIDATES, KEYS, MAX_CANDIDATES, NATIVE, PARAMS, VALIDATORS,
};

/// Staking's genesis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakingGenesis {
    /// The rules; required.
    pub params: Option<Params>,
    /// The validators bonded at genesis.
    #[serde(default)]
    pub validators: Vec<GenesisValidator>,
}

/// A validator bonded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The account that bonds, is paid and is slashed.
    pub operator: Address,
    /// The consensus key.
    pub key: PublicKey,
    /// Its bond.
    pub bond: Amount,
}

impl StakingGenesis {
    /// The consensus keys of the set genesis forms (the first active set), in
    /// the set's order: what a chain's consensus must start with.
    pub fn initial_set(&self) -> Vec<PublicKey> {
        let Some(params) = &self.params else {
            return Vec::new();
        };
        let mut members: Vec<Member> = self
            .validators
            .iter()
            .map(|v| Member {
                operator: v.operator,
                key: v.key,
                bond: v.bond.0,
            })
            .collect();
        members.sort_by(by_rank);
        members.truncate(params.max_validators as usize);
        members.into_iter().map(|m| m.key).collect()
    }

    /// This genesis as its chain-spec section.
    pub fn to_section(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

pub(super) fn init<L: Ledger>(
    staking: &Staking<L>,
    genesis: &StakingGenesis,
    ctx: &mut Context<'_, '_, Staking<L>>,
) -> Result<(), StakingError> {
    let Some(params) = &genesis.params else {
        if genesis.validators.is_empty() {
            return Ok(());
        }
        return Err(StakingError::Genesis("validators without params".into()));
    };
    if params.max_validators == 0 || params.epoch_blocks == 0 || params.slash_per_mille > 1000 {
        return Err(StakingError::Genesis(
            "max_validators and epoch_blocks must be positive, slash_per_mille at most 1000".into(),
        ));
    }
    if genesis.validators.len() > MAX_CANDIDATES {
        return Err(StakingError::Limit("candidates"));
    }
    PARAMS.set(ctx.state(), params)?;
    if params.reward_per_block > 0 {
        // Rewards are minted: without the right, every block's end would fail.
        staking
            .ledger
            .mint(
                ctx.state(),
                <Staking<L> as lamina_interop::module::Module>::NAME,
                NATIVE,
                &Staking::<L>::account(),
                0,
            )
            .map_err(|e| StakingError::Genesis(format!("rewards need the minting right: {e}")))?;
    }
    let mut candidates = Vec::new();
    for validator in &genesis.validators {
        let bond = validator.bond.0;
        if bond < params.min_bond {
            return Err(StakingError::BondTooSmall {
                bond,
                min: params.min_bond,
            });
        }
        if VALIDATORS.get(ctx.state(), &validator.operator)?.is_some()
            || KEYS.get(ctx.state(), &validator.key)?.is_some()
        {
            return Err(StakingError::AlreadyRegistered(
                validator.operator.to_string(),
            ));
        }
        staking.ledger.transfer(
            ctx.state(),
            NATIVE,
            &validator.operator,
            &Staking::<L>::account(),
            bond,
        )?;
        VALIDATORS.set(
            ctx.state(),
            &validator.operator,
            &Validator {
                key: validator.key,
                bonded: bond,
                jailed: false,
            },
        )?;
        KEYS.set(ctx.state(), &validator.key, &validator.operator)?;
        candidates.push(validator.operator);
    }
    CANDIDATES.set(ctx.state(), &candidates)?;
    let members = top_candidates(ctx, params.max_validators as usize)?;
    let active = ActiveSet::new(0, members);
    ACTIVE.set(ctx.state(), &active)?;
    ctx.emit(&StakingEvent::ValidatorSetChanged {
        epoch: 0,
        validators: active.members.iter().map(|m| (m.key, m.bond)).collect(),
    })?;
    Ok(())
}
