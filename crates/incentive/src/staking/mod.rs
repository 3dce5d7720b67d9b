//! The `staking` module: validators bond the native asset, the largest bonds form the
//! validator set at each epoch, block rewards are paid pro rata to bond, and proven
//! equivocation burns part of the offender's bond and removes it from the set.
//!
//! ```text
//! Register{key, bond}   operator's balance --bond--> staking account; candidate with `key`
//! Bond{amount}          more of the operator's balance into the bond
//! Unbond{amount}        bond --> unbonding, released after `unbonding_blocks`
//! Withdraw              released unbondings --> operator's balance
//! ReportEquivocation    simplex evidence, checked against the active set: burn
//!                       `slash_per_mille` of the bond, jail, drop from the set at once
//! end of block          mint `reward_per_block` and pay out the reward pool (base fees, with
//!                       [`FeesToValidators`]), both to the active set pro rata to bond;
//!                       half an epoch before each boundary: the top `max_validators`
//!                       unjailed candidates by bond are decided as the next set; at the
//!                       boundary (every `epoch_blocks`) they become the active set (event
//!                       `ValidatorSetChanged`), announced to consensus for the next epoch
//!                       (`Context::announce_validators`)
//! ```
//!
//! Bonded and unbonding amounts are held in the module's own account
//! ([`module_account`]`("staking")`) through the chain's [`Ledger`]; the bank's supply
//! counts them. Rewards are minted and slashes burned, so the module must hold the minting
//! right for the native asset (genesis checks it when rewards are on).
//!
//! State:
//!
//! ```text
//! staking/params                   -> Params
//! staking/validator/ | operator    -> Validator { key, bonded, jailed }
//! staking/key/ | consensus key     -> operator
//! staking/candidates               -> [operator]               (at most MAX_CANDIDATES)
//! staking/active                   -> ActiveSet { epoch, members: [(operator, key, bond)], keys }
//! staking/next                     -> ActiveSet of the next epoch, decided half an epoch ahead
//! staking/next_set                 -> ValidatorSet { epoch, keys } (the same, for light clients)
//! staking/unbonding/ | operator    -> [Unbonding { amount, release }]  (at most MAX_UNBONDINGS)
//! staking/evidence/ | evidence id  -> ()                        (each offence slashed once)
//! ```

mod call;
pub mod delegation;
mod event;
mod genesis;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::crypto::PublicKey;
use lamina_interop::finality::ValidatorSet as LightSet;
use lamina_interop::light::NEXT_SET_KEY;
use lamina_interop::messages::Validator as SetMember;
use lamina_interop::module::{
    module_account, reward_pool, AccessSet, Context, FeeRule, FeeSplit, FeeTotals, Ledger,
    LedgerError, Module, ModuleError, StateError, StateMap, StateValue, StateView, ValidatorSet,
};
use lamina_interop::{Address, Hash};
use serde::{Deserialize, Serialize};

pub use call::StakingCall;
pub use event::StakingEvent;
pub use genesis::{GenesisValidator, StakingGenesis};
pub use query::{StakingQuery, StakingResponse};

/// The native asset, bonded and paid in.
pub const NATIVE: u32 = 0;
/// Most registered validators.
pub const MAX_CANDIDATES: usize = 256;
/// Most pending unbondings per operator.
pub const MAX_UNBONDINGS: usize = 16;

// ANCHOR: params
/// The rules of staking, set at genesis.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Size of the active set.
    pub max_validators: u32,
    /// Smallest bond a validator registers with.
    #[serde(with = "lamina_interop::module::amount")]
    pub min_bond: u128,
    /// Blocks between an unbond and the withdrawal of its amount.
    pub unbonding_blocks: u64,
    /// Blocks per epoch; the active set is recomputed at the end of each.
    pub epoch_blocks: u64,
    /// Share of the bond burned for an equivocation, in thousandths.
    pub slash_per_mille: u16,
    /// Native units minted each block for the active set.
    #[serde(with = "lamina_interop::module::amount")]
    pub reward_per_block: u128,
}
// ANCHOR_END: params

/// A registered validator.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Validator {
    /// Its consensus (and network) key.
    pub key: PublicKey,
    /// What it has bonded.
    #[serde(with = "lamina_interop::module::amount")]
    pub bonded: u128,
    /// Whether it was slashed: a jailed validator never re-enters the set.
    pub jailed: bool,
}

/// A member of the active set.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Member {
    /// The operator account (bonds, is paid, is slashed).
    pub operator: Address,
    /// The consensus key.
    pub key: PublicKey,
    /// Its bond when the set was formed (rewards are pro rata to it).
    #[serde(with = "lamina_interop::module::amount")]
    pub bond: u128,
}

/// The validators of an epoch.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ActiveSet {
    /// The epoch, counted from 0 at genesis.
    pub epoch: u64,
    /// Largest bond first; a slashed member leaves at once.
    pub members: Vec<Member>,
    /// The consensus keys of the set as it was formed: what the epoch's votes, and evidence
    /// against them, are signed in. Slashing does not change it.
    pub keys: Vec<PublicKey>,
    /// The previous epoch's keys, so that an offence in its last views can still be proven.
    pub previous: Vec<PublicKey>,
}

impl ActiveSet {
    /// The set of `epoch` with `members`.
    pub fn new(epoch: u64, members: Vec<Member>) -> ActiveSet {
        let keys = members.iter().map(|m| m.key).collect();
        ActiveSet {
            epoch,
            members,
            keys,
            previous: Vec::new(),
        }
    }
}

/// An amount on its way out of the bond.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Unbonding {
    /// How much.
    #[serde(with = "lamina_interop::module::amount")]
    pub amount: u128,
    /// The first height at which it can be withdrawn.
    pub release: u64,
}

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"staking/params");
/// Validators by operator.
pub const VALIDATORS: StateMap<Address, Validator> = StateMap::new(b"staking/validator/");
/// Operators by consensus key.
pub const KEYS: StateMap<PublicKey, Address> = StateMap::new(b"staking/key/");
/// Every registered operator.
pub const CANDIDATES: StateValue<Vec<Address>> = StateValue::new(b"staking/candidates");
/// The current validator set.
pub const ACTIVE: StateValue<ActiveSet> = StateValue::new(b"staking/active");
/// The set of the next epoch, once decided (half an epoch before its start).
pub const NEXT: StateValue<ActiveSet> = StateValue::new(b"staking/next");
/// The next epoch's consensus keys, as light clients prove them.
pub const NEXT_SET: StateValue<LightSet> = StateValue::new(NEXT_SET_KEY);
/// Pending unbondings by operator.
pub const UNBONDING: StateMap<Address, Vec<Unbonding>> = StateMap::new(b"staking/unbonding/");
/// Offences already slashed.
pub const EVIDENCE: StateMap<Hash, ()> = StateMap::new(b"staking/evidence/");

/// The module, moving assets through ledger `L` (the bank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Staking<L> {
    ledger: L,
}

impl<L: Ledger> Staking<L> {
    /// Staking over `ledger`.
    pub fn new(ledger: L) -> Staking<L> {
        Staking { ledger }
    }

    /// The account bonds are held in.
    pub fn account() -> Address {
        module_account(Self::NAME)
    }

    /// Splits a validator's `reward` between its operator and its delegation pool, pro rata
    /// to the operator's bond and the pool's stake; adds the pool's part to its stake.
    /// Returns `(operator's part, pool's part)`.
    fn split_reward(
        &self,
        ctx: &mut Context<'_, '_, Self>,
        operator: &Address,
        reward: u128,
    ) -> Result<(u128, u128), StakingError> {
        let Some(mut pool) = delegation::POOLS.get(ctx.state(), operator)? else {
            return Ok((reward, 0));
        };
        let bonded = VALIDATORS
            .get(ctx.state(), operator)?
            .map_or(0, |v| v.bonded);
        let total = bonded.saturating_add(pool.stake);
        if pool.stake == 0 || total == 0 {
            return Ok((reward, 0));
        }
        let delegated = mul_div(reward, pool.stake, total);
        pool.stake = pool.stake.saturating_add(delegated);
        delegation::POOLS.set(ctx.state(), operator, &pool)?;
        Ok((reward - delegated, delegated))
    }
}

/// The epoch and consensus keys of the active set in committed `state`, or `None` on a chain
/// without staking (whose set is the chain spec's). A node starts its consensus engine with
/// them.
pub fn consensus_set(state: &dyn StateView) -> Result<Option<(u64, Vec<PublicKey>)>, StateError> {
    if PARAMS.get_committed(state)?.is_none() {
        return Ok(None);
    }
    Ok(ACTIVE
        .get_committed(state)?
        .filter(|active| !active.keys.is_empty())
        .map(|active| (active.epoch, active.keys)))
}

/// The fee rule of a chain with staking: the producer keeps the tips, base fees go to the
/// reward pool, which the staking module pays to the active set pro rata to bond at the end
/// of the same block.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeesToValidators;

impl FeeRule for FeesToValidators {
    fn split(&self, totals: FeeTotals) -> FeeSplit {
        FeeSplit {
            producer: totals.tips,
            pool: totals.base,
            burned: 0,
        }
    }
}

/// The module's errors.
#[derive(Debug, thiserror::Error)]
pub enum StakingError {
    /// A bond below the minimum.
    #[error("bond {bond} is below the minimum {min}")]
    BondTooSmall {
        /// What was offered.
        bond: u128,
        /// The minimum.
        min: u128,
    },
    /// The sender is already a validator, or the key is taken.
    #[error("already registered: {0}")]
    AlreadyRegistered(String),
    /// The sender is not a validator.
    #[error("{0} is not a registered validator")]
    NotRegistered(Address),
    /// More than the bond was asked for.
    #[error("bonded {bonded}, asked {asked}")]
    InsufficientBond {
        /// The bond.
        bonded: u128,
        /// What was asked.
        asked: u128,
    },
    /// A limit on candidates or pending unbondings was reached.
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// Nothing to withdraw yet.
    #[error("nothing released to withdraw")]
    NothingToWithdraw,
    /// A jailed validator may not bond again.
    #[error("{0} is jailed")]
    Jailed(Address),
    /// The evidence does not prove an offence by a member of the active set.
    #[error("evidence refused: {0}")]
    Evidence(String),
    /// The offence was already slashed.
    #[error("offence {0} already slashed")]
    AlreadySlashed(Hash),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// Staking was used before genesis wrote its parameters.
    #[error("staking has no parameters")]
    NoParams,
    /// The ledger refused a movement of assets.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for StakingError {
    fn code(&self) -> u32 {
        match self {
            StakingError::BondTooSmall { .. } => 1,
            StakingError::AlreadyRegistered(_) => 2,
            StakingError::NotRegistered(_) => 3,
            StakingError::InsufficientBond { .. } => 4,
            StakingError::Limit(_) => 5,
            StakingError::NothingToWithdraw => 6,
            StakingError::Jailed(_) => 7,
            StakingError::Evidence(_) => 8,
            StakingError::AlreadySlashed(_) => 9,
            StakingError::Genesis(_) => 10,
            StakingError::NoParams => 11,
            StakingError::Ledger(_) => 12,
            StakingError::State(_) => 13,
        }
    }
}

fn params<L: Ledger>(ctx: &mut Context<'_, '_, Staking<L>>) -> Result<Params, StakingError> {
    PARAMS.get(ctx.state())?.ok_or(StakingError::NoParams)
}

/// The unjailed candidates with the largest bonds, at most `max`, largest first (ties by key).
/// How many blocks before an epoch's end the next epoch's set is decided: half an epoch, so
/// that headers the current set signs commit to it through their state roots (ADR 0034).
pub fn next_set_lead(epoch_blocks: u64) -> u64 {
    epoch_blocks / 2
}

/// Decides the set of the epoch after `active`'s: the top unjailed candidates by bond, or
/// the current set when none is eligible. Writes it for the boundary ([`NEXT`]) and for
/// light clients ([`NEXT_SET_KEY`]).
fn decide_next_set<L: Ledger>(
    ctx: &mut Context<'_, '_, Staking<L>>,
    params: &Params,
    active: &ActiveSet,
) -> Result<ActiveSet, StakingError> {
    let mut members = top_candidates(ctx, params.max_validators as usize)?;
    let keys = if members.is_empty() {
        // No eligible candidate: the chain keeps the set it has rather than halt.
        members = active.members.clone();
        active.keys.clone()
    } else {
        members.iter().map(|m| m.key).collect()
    };
    let next = ActiveSet {
        epoch: active.epoch + 1,
        members,
        keys,
        previous: Vec::new(),
    };
    NEXT.set(ctx.state(), &next)?;
    if let Ok(set) = LightSet::new(next.epoch, next.keys.clone()) {
        NEXT_SET.set(ctx.state(), &set)?;
    }
    Ok(next)
}

fn top_candidates<L: Ledger>(
    ctx: &mut Context<'_, '_, Staking<L>>,
    max: usize,
) -> Result<Vec<Member>, StakingError> {
    let mut members = Vec::new();
    for operator in CANDIDATES.get(ctx.state())?.unwrap_or_default() {
        if let Some(validator) = VALIDATORS.get(ctx.state(), &operator)? {
            let delegated = delegation::POOLS
                .get(ctx.state(), &operator)?
                .map_or(0, |p| p.stake);
            if !validator.jailed && validator.bonded > 0 {
                members.push(Member {
                    operator,
                    key: validator.key,
                    bond: validator.bonded.saturating_add(delegated),
                });
            }
        }
    }
    members.sort_by(by_rank);
    members.truncate(max);
    Ok(members)
}

/// The order of a validator set: largest bond first, ties by key.
fn by_rank(a: &Member, b: &Member) -> std::cmp::Ordering {
    b.bond.cmp(&a.bond).then(a.key.cmp(&b.key))
}

/// Shares of `total` pro rata to each bond; the rounding remainder goes to the first
/// (largest) member, so the shares add up to `total` exactly.
fn pro_rata(total: u128, members: &[Member]) -> Vec<u128> {
    let bonded: u128 = members.iter().map(|m| m.bond).fold(0, u128::saturating_add);
    if bonded == 0 || members.is_empty() {
        return vec![0; members.len()];
    }
    let mut shares: Vec<u128> = members
        .iter()
        .map(|m| mul_div(total, m.bond, bonded))
        .collect();
    let paid: u128 = shares.iter().fold(0, |a, b| a.saturating_add(*b));
    shares[0] = shares[0].saturating_add(total.saturating_sub(paid));
    shares
}

/// `a * b / c` without overflow for `b <= c` (the result is at most `a`).
fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    let (high, low) = (a / c, a % c);
    // a * b / c = high * b + low * b / c, with low < c; low * b may still overflow, so
    // split b as well when it does.
    let exact = high.saturating_mul(b);
    let rest = match low.checked_mul(b) {
        Some(product) => product / c,
        None => {
            let (bh, bl) = (b / c, b % c);
            low.saturating_mul(bh)
                .saturating_add(low.checked_mul(bl).map_or(low / c * bl, |p| p / c))
        }
    };
    exact.saturating_add(rest)
}

impl<L: Ledger> Module for Staking<L> {
    const NAME: &'static str = "staking";
    const MAX_CALL_LEN: usize = 2 * 1024;

    type Call = StakingCall;
    type Event = StakingEvent;
    type Genesis = StakingGenesis;
    type Query = StakingQuery;
    type QueryResponse = StakingResponse;
    type Error = StakingError;

    fn init_genesis(
        &self,
        genesis: &StakingGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), StakingError> {
        genesis::init(self, genesis, ctx)
    }

    fn access(&self, call: &StakingCall, sender: &Address) -> AccessSet {
        call::access(self, call, sender)
    }

    fn call(&self, call: StakingCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), StakingError> {
        call::execute(self, call, ctx)
    }

    fn query(
        &self,
        query: StakingQuery,
        state: &dyn StateView,
    ) -> Result<StakingResponse, StakingError> {
        query::answer(query, state)
    }

    fn end_block(&self, ctx: &mut Context<'_, '_, Self>) -> Result<(), StakingError> {
        let Some(params) = PARAMS.get(ctx.state())? else {
            // No staking section in the spec: nothing to pay, no set to rotate.
            return Ok(());
        };
        let mut active = ACTIVE.get(ctx.state())?.unwrap_or_default();
        if !active.members.is_empty() {
            let minted = params.reward_per_block;
            for (member, share) in active.members.iter().zip(pro_rata(minted, &active.members)) {
                if share > 0 {
                    let (operator, pool) = self.split_reward(ctx, &member.operator, share)?;
                    if operator > 0 {
                        self.ledger.mint(
                            ctx.state(),
                            Self::NAME,
                            NATIVE,
                            &member.operator,
                            operator,
                        )?;
                    }
                    if pool > 0 {
                        self.ledger.mint(
                            ctx.state(),
                            Self::NAME,
                            NATIVE,
                            &Self::account(),
                            pool,
                        )?;
                    }
                }
            }
            let pool = reward_pool();
            let fees = self.ledger.balance(ctx.state(), NATIVE, &pool)?;
            for (member, share) in active.members.iter().zip(pro_rata(fees, &active.members)) {
                if share > 0 {
                    let (operator, delegated) = self.split_reward(ctx, &member.operator, share)?;
                    if operator > 0 {
                        self.ledger.transfer(
                            ctx.state(),
                            NATIVE,
                            &pool,
                            &member.operator,
                            operator,
                        )?;
                    }
                    if delegated > 0 {
                        self.ledger.transfer(
                            ctx.state(),
                            NATIVE,
                            &pool,
                            &Self::account(),
                            delegated,
                        )?;
                    }
                }
            }
            if minted > 0 || fees > 0 {
                ctx.emit(&StakingEvent::Rewarded {
                    epoch: active.epoch,
                    minted,
                    fees,
                })?;
            }
        }
        let height = ctx.env().height.0;
        if params.epoch_blocks > 0
            && height > 0
            && (height + next_set_lead(params.epoch_blocks)).is_multiple_of(params.epoch_blocks)
        {
            decide_next_set(ctx, &params, &active)?;
        }
        if params.epoch_blocks > 0 && height > 0 && height % params.epoch_blocks == 0 {
            let next = match NEXT.get(ctx.state())? {
                Some(next) if next.epoch == active.epoch + 1 => next,
                _ => decide_next_set(ctx, &params, &active)?,
            };
            // A member jailed since the set was decided leaves the rewarded set at once;
            // its key stays in consensus for this epoch, as decided.
            let mut members = Vec::with_capacity(next.members.len());
            for member in next.members {
                let jailed = VALIDATORS
                    .get(ctx.state(), &member.operator)?
                    .is_some_and(|v| v.jailed);
                if !jailed {
                    members.push(member);
                }
            }
            active = ActiveSet {
                epoch: next.epoch,
                members,
                keys: next.keys,
                previous: std::mem::take(&mut active.keys),
            };
            ACTIVE.set(ctx.state(), &active)?;
            ctx.emit(&StakingEvent::ValidatorSetChanged {
                epoch: active.epoch,
                validators: active.members.iter().map(|m| (m.key, m.bond)).collect(),
            })?;
            let mut validators: Vec<SetMember> = active
                .keys
                .iter()
                .map(|key| SetMember {
                    key: *key,
                    power: active
                        .members
                        .iter()
                        .find(|m| m.key == *key)
                        .map_or(0, |m| u64::try_from(m.bond).unwrap_or(u64::MAX)),
                })
                .collect();
            validators.sort_by_key(|v| v.key);
            ctx.announce_validators(ValidatorSet {
                epoch: active.epoch,
                validators,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
