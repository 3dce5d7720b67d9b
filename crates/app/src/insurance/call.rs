//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Amount, BadDebtRecord, Context, Ledger};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

use super::{
    insurance_account, Claim, ClaimStatus, Cover, Insurance, InsuranceError, InsuranceEvent,
    Params, Pool, Trigger, Underwriter, CLAIMS, COVERS, MAX_ACTIVE_COVERS, PARAMS, POOLS,
    UNDERWRITERS, VOTES,
};
use crate::math;

/// A call. Amounts are decimal strings in JSON:
/// `{"buy_cover": {"pool": 0, "cover": 1, "amount": "1000000000000000000000", "period_blocks": 1000, "max_premium": "50000000000000000000"}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InsuranceCall {
    /// Deposits capital for shares.
    Deposit {
        /// The pool.
        pool: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Redeems shares for capital that backs no cover.
    Withdraw {
        /// The pool.
        pool: u32,
        /// Shares to redeem.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// Buys cover of `amount` for `period_blocks`, paying at most `max_premium`.
    BuyCover {
        /// The pool.
        pool: u32,
        /// A number of the buyer's choosing for this cover, unused among its covers in the
        /// pool.
        cover: u64,
        /// The most a claim pays.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// How long, in blocks.
        period_blocks: u64,
        /// The most the buyer pays: the slippage limit.
        #[serde(with = "lamina_interop::module::amount")]
        max_premium: u128,
    },
    /// Claims on a cover the sender holds.
    FileClaim {
        /// The pool.
        pool: u32,
        /// The sender's number for the cover.
        cover: u64,
    },
    /// An underwriter's vote on a claim.
    Vote {
        /// The pool.
        pool: u32,
        /// The cover's holder.
        holder: Address,
        /// The holder's number for it.
        cover: u64,
        /// Whether to pay.
        approve: bool,
    },
    /// Closes a claim whose vote has ended, paying the holder if the vote approved. Anyone
    /// may settle.
    Settle {
        /// The pool.
        pool: u32,
        /// The cover's holder.
        holder: Address,
        /// The holder's number for it.
        cover: u64,
    },
}

impl InsuranceCall {
    fn pool(&self) -> u32 {
        match self {
            InsuranceCall::Deposit { pool, .. }
            | InsuranceCall::Withdraw { pool, .. }
            | InsuranceCall::BuyCover { pool, .. }
            | InsuranceCall::FileClaim { pool, .. }
            | InsuranceCall::Vote { pool, .. }
            | InsuranceCall::Settle { pool, .. } => *pool,
        }
    }
}

/// Every call writes its pool and the records it changes, and declares the balances it may
/// move in each of the module's assets (pools are in those). A claim reads the bad-debt
/// record of every recorded asset.
pub(super) fn access<L: Ledger, B: BadDebtRecord>(
    insurance: &Insurance<L, B>,
    call: &InsuranceCall,
    sender: &Address,
) -> AccessSet {
    let pool = call.pool();
    let vault = insurance_account();
    let mut access = AccessSet::new().read(PARAMS.key()).write(POOLS.key(&pool));
    // Whose balance the call moves besides the vault's.
    let payee = match call {
        InsuranceCall::Deposit { .. } | InsuranceCall::Withdraw { .. } => {
            access = access.write(UNDERWRITERS.key(&(pool, *sender)));
            Some(*sender)
        }
        InsuranceCall::BuyCover { cover, .. } => {
            access = access.write(COVERS.key(&(pool, *sender, *cover)));
            for asset in insurance.bad_debt.recorded_assets() {
                access = insurance.bad_debt.bad_debt_access(access, *asset);
            }
            Some(*sender)
        }
        InsuranceCall::FileClaim { cover, .. } => {
            let id = (pool, *sender, *cover);
            access = access.write(COVERS.key(&id)).write(CLAIMS.key(&id));
            for asset in insurance.bad_debt.recorded_assets() {
                access = insurance.bad_debt.bad_debt_access(access, *asset);
            }
            Some(*sender)
        }
        InsuranceCall::Vote { holder, cover, .. } => {
            let id = (pool, *holder, *cover);
            access = access
                .write(CLAIMS.key(&id))
                .write(VOTES.key(&(id, *sender)))
                .write(UNDERWRITERS.key(&(pool, *sender)));
            None
        }
        InsuranceCall::Settle { holder, cover, .. } => {
            let id = (pool, *holder, *cover);
            access = access.read(COVERS.key(&id)).write(CLAIMS.key(&id));
            Some(*holder)
        }
    };
    if let Some(payee) = payee {
        for asset in insurance.assets() {
            access = insurance.ledger.balance_access(access, *asset, &payee);
            access = insurance.ledger.balance_access(access, *asset, &vault);
        }
    }
    access
}

type Ctx<'c, 's, L, B> = Context<'c, 's, Insurance<L, B>>;

fn load<L: Ledger + Clone, B: BadDebtRecord + Clone>(
    ctx: &mut Ctx<'_, '_, L, B>,
    id: u32,
) -> Result<(Params, Pool), InsuranceError> {
    let params = PARAMS.get(ctx.state())?.ok_or(InsuranceError::Genesis(
        "the module has no parameters".into(),
    ))?;
    let mut pool = POOLS
        .get(ctx.state(), &id)?
        .ok_or(InsuranceError::UnknownPool(id))?;
    pool.expire(ctx.env().height);
    Ok((params, pool))
}

/// Pays `claimed` of a claim, at most the pool's capital; returns what was paid.
fn pay<L: Ledger + Clone, B: BadDebtRecord + Clone>(
    insurance: &Insurance<L, B>,
    ctx: &mut Ctx<'_, '_, L, B>,
    pool: &mut Pool,
    holder: &Address,
    claimed: u128,
) -> Result<u128, InsuranceError> {
    let paid = claimed.min(pool.capital);
    insurance
        .ledger
        .transfer(ctx.state(), pool.asset, &insurance_account(), holder, paid)?;
    pool.capital -= paid;
    pool.paid_out = math::add(pool.paid_out, paid)?;
    Ok(paid)
}

pub(super) fn execute<L: Ledger + Clone, B: BadDebtRecord + Clone>(
    insurance: &Insurance<L, B>,
    call: InsuranceCall,
    ctx: &mut Ctx<'_, '_, L, B>,
) -> Result<(), InsuranceError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let height = ctx.env().height;
    let vault = insurance_account();
    let id = call.pool();
    let (params, mut pool) = load(ctx, id)?;
    match call {
        InsuranceCall::Deposit { amount, .. } => {
            let shares = pool.shares_for(amount)?;
            if amount == 0 || shares == 0 {
                return Err(InsuranceError::ZeroAmount(
                    "the deposit is worth less than a share",
                ));
            }
            insurance
                .ledger
                .transfer(ctx.state(), pool.asset, &sender, &vault, amount)?;
            pool.capital = math::add(pool.capital, amount)?;
            pool.shares = math::add(pool.shares, shares)?;
            let mut u = UNDERWRITERS
                .get(ctx.state(), &(id, sender))?
                .unwrap_or_default();
            u.shares = math::add(u.shares, shares)?;
            u.deposited_at = height;
            UNDERWRITERS.set(ctx.state(), &(id, sender), &u)?;
            ctx.emit(&InsuranceEvent::Deposited {
                pool: id,
                underwriter: sender,
                amount,
                shares,
            })?;
        }
        InsuranceCall::Withdraw { shares, .. } => {
            let mut u: Underwriter = UNDERWRITERS
                .get(ctx.state(), &(id, sender))?
                .unwrap_or_default();
            if shares == 0 {
                return Err(InsuranceError::ZeroAmount("redeem at least one share"));
            }
            if shares > u.shares {
                return Err(InsuranceError::NotEnoughShares {
                    held: u.shares,
                    asked: shares,
                });
            }
            if height.0 <= u.locked_until.0 {
                return Err(InsuranceError::VoteLocked(u.locked_until.0));
            }
            let amount = pool.value_of(shares)?;
            let free = pool.free_capital();
            if amount > free {
                return Err(InsuranceError::CapitalLocked {
                    free,
                    asked: amount,
                });
            }
            insurance
                .ledger
                .transfer(ctx.state(), pool.asset, &vault, &sender, amount)?;
            pool.capital -= amount;
            pool.shares -= shares;
            u.shares -= shares;
            if u.shares == 0 && u.locked_until.0 < height.0 {
                UNDERWRITERS.remove(ctx.state(), &(id, sender))?;
            } else {
                UNDERWRITERS.set(ctx.state(), &(id, sender), &u)?;
            }
            ctx.emit(&InsuranceEvent::Withdrawn {
                pool: id,
                underwriter: sender,
                amount,
                shares,
            })?;
        }
        InsuranceCall::BuyCover {
            cover,
            amount,
            period_blocks,
            max_premium,
            ..
        } => {
            if amount == 0 || period_blocks == 0 {
                return Err(InsuranceError::ZeroAmount(
                    "cover a positive amount and period",
                ));
            }
            if period_blocks > params.max_cover_blocks {
                return Err(InsuranceError::PeriodTooLong {
                    max: params.max_cover_blocks,
                });
            }
            let key = (id, sender, cover);
            if COVERS.get(ctx.state(), &key)?.is_some() {
                return Err(InsuranceError::CoverExists(cover));
            }
            if pool.expiries.len() >= MAX_ACTIVE_COVERS {
                return Err(InsuranceError::OverCapacity { asked: amount });
            }
            let (premium, _) = pool
                .premium(amount, period_blocks, params.blocks_per_year)?
                .ok_or(InsuranceError::OverCapacity { asked: amount })?;
            if premium > max_premium {
                return Err(InsuranceError::Slippage {
                    premium,
                    limit: max_premium,
                });
            }
            insurance
                .ledger
                .transfer(ctx.state(), pool.asset, &sender, &vault, premium)?;
            let bad_debt_at_start = match pool.trigger {
                Trigger::BadDebt { asset } => insurance.bad_debt.bad_debt(ctx.state(), asset)?,
                Trigger::Vote => 0,
            };
            let end = Height(height.0.saturating_add(period_blocks));
            pool.capital = math::add(pool.capital, premium)?;
            pool.active_cover = math::add(pool.active_cover, amount)?;
            pool.expiries.push((end.0, Amount(amount)));
            let record = Cover {
                amount,
                start: height,
                end,
                premium,
                bad_debt_at_start,
                claimed: false,
            };
            COVERS.set(ctx.state(), &key, &record)?;
            ctx.emit(&InsuranceEvent::CoverBought {
                pool: id,
                holder: sender,
                cover,
                amount,
                premium,
                end,
            })?;
        }
        InsuranceCall::FileClaim { cover, .. } => {
            let key = (id, sender, cover);
            let mut record = COVERS
                .get(ctx.state(), &key)?
                .ok_or(InsuranceError::UnknownCover(id, sender, cover))?;
            if record.claimed {
                return Err(InsuranceError::AlreadyClaimed);
            }
            if height.0 <= record.start.0 || height.0 > record.end.0 {
                return Err(InsuranceError::OutsidePeriod {
                    start: record.start.0,
                    end: record.end.0,
                });
            }
            record.claimed = true;
            // The cover leaves the active set: it is now a pending claim, or paid.
            if let Some(at) = pool
                .expiries
                .iter()
                .position(|(end, amount)| *end == record.end.0 && amount.0 == record.amount)
            {
                pool.expiries.swap_remove(at);
                pool.active_cover = pool.active_cover.saturating_sub(record.amount);
            }
            let claim = match pool.trigger {
                Trigger::Vote => {
                    pool.pending_claims = math::add(pool.pending_claims, record.amount)?;
                    Claim {
                        filed_at: height,
                        yes: 0,
                        no: 0,
                        status: ClaimStatus::Voting {
                            ends_at: Height(height.0.saturating_add(params.voting_blocks)),
                        },
                    }
                }
                Trigger::BadDebt { asset } => {
                    let now = insurance.bad_debt.bad_debt(ctx.state(), asset)?;
                    if now <= record.bad_debt_at_start {
                        return Err(InsuranceError::TriggerNotMet);
                    }
                    let paid = pay(insurance, ctx, &mut pool, &sender, record.amount)?;
                    Claim {
                        filed_at: height,
                        yes: 0,
                        no: 0,
                        status: ClaimStatus::Paid { amount: paid },
                    }
                }
            };
            COVERS.set(ctx.state(), &key, &record)?;
            CLAIMS.set(ctx.state(), &key, &claim)?;
            ctx.emit(&InsuranceEvent::ClaimFiled {
                pool: id,
                holder: sender,
                cover,
                amount: record.amount,
            })?;
            if let ClaimStatus::Paid { amount } = claim.status {
                ctx.emit(&InsuranceEvent::ClaimSettled {
                    pool: id,
                    holder: sender,
                    cover,
                    paid: amount,
                })?;
            }
        }
        InsuranceCall::Vote {
            holder,
            cover,
            approve,
            ..
        } => {
            let key = (id, holder, cover);
            let mut claim = CLAIMS
                .get(ctx.state(), &key)?
                .ok_or(InsuranceError::ClaimState("filed"))?;
            let ClaimStatus::Voting { ends_at } = claim.status else {
                return Err(InsuranceError::ClaimState("being voted"));
            };
            if height.0 > ends_at.0 {
                return Err(InsuranceError::ClaimState("being voted"));
            }
            if VOTES.get(ctx.state(), &(key, sender))?.is_some() {
                return Err(InsuranceError::CannotVote("voted already"));
            }
            let mut u: Underwriter = UNDERWRITERS
                .get(ctx.state(), &(id, sender))?
                .unwrap_or_default();
            if u.shares == 0 || u.deposited_at.0 >= claim.filed_at.0 {
                return Err(InsuranceError::CannotVote(
                    "no shares held from before the claim",
                ));
            }
            if approve {
                claim.yes = math::add(claim.yes, u.shares)?;
            } else {
                claim.no = math::add(claim.no, u.shares)?;
            }
            u.locked_until = Height(u.locked_until.0.max(ends_at.0));
            VOTES.set(ctx.state(), &(key, sender), &approve)?;
            UNDERWRITERS.set(ctx.state(), &(id, sender), &u)?;
            CLAIMS.set(ctx.state(), &key, &claim)?;
            ctx.emit(&InsuranceEvent::Voted {
                pool: id,
                holder,
                cover,
                voter: sender,
                approve,
                weight: u.shares,
            })?;
        }
        InsuranceCall::Settle { holder, cover, .. } => {
            let key = (id, holder, cover);
            let mut claim = CLAIMS
                .get(ctx.state(), &key)?
                .ok_or(InsuranceError::ClaimState("filed"))?;
            let ClaimStatus::Voting { ends_at } = claim.status else {
                return Err(InsuranceError::ClaimState("being voted"));
            };
            if height.0 <= ends_at.0 {
                return Err(InsuranceError::ClaimState("past its vote"));
            }
            let record = COVERS
                .get(ctx.state(), &key)?
                .ok_or(InsuranceError::UnknownCover(id, holder, cover))?;
            pool.pending_claims = pool.pending_claims.saturating_sub(record.amount);
            let paid = if claim.yes > claim.no {
                let paid = pay(insurance, ctx, &mut pool, &holder, record.amount)?;
                claim.status = ClaimStatus::Paid { amount: paid };
                paid
            } else {
                claim.status = ClaimStatus::Denied;
                0
            };
            CLAIMS.set(ctx.state(), &key, &claim)?;
            ctx.emit(&InsuranceEvent::ClaimSettled {
                pool: id,
                holder,
                cover,
                paid,
            })?;
        }
    }
    POOLS.set(ctx.state(), &id, &pool)?;
    Ok(())
}
