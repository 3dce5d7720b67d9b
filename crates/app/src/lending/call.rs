//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context, Ledger, PriceFeed, PRICE_SCALE};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::health::{self, assets_to_shares, debt, shares_to_assets, Valuation};
use super::rate::accrue;
use super::{
    lending_account, Lending, LendingError, LendingEvent, Market, Params, Position, ACCOUNTS,
    MARKETS, PARAMS,
};
use crate::math::{self, mul_div, mul_div_up, BPS, WAD};

/// A call. Amounts are decimal strings in JSON; `"340282366920938463463374607431768211455"`
/// (2^128 - 1) withdraws or repays everything:
/// `{"borrow": {"asset": 1, "amount": "500000000000000000000"}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LendingCall {
    /// Supplies `amount` for shares; supplies are collateral.
    Supply {
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Withdraws `amount` of the sender's supply (2^128 - 1: all of it).
    Withdraw {
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Borrows `amount` against the sender's collateral.
    Borrow {
        /// The market.
        asset: u32,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Repays up to `amount` of the debt of `on_behalf` (the sender when absent).
    Repay {
        /// The market.
        asset: u32,
        /// At most this much (2^128 - 1: all of it).
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Whose debt.
        #[serde(default)]
        on_behalf: Option<Address>,
    },
    /// Repays up to `max_repay` of an unhealthy `borrower`'s debt in `debt_asset` and takes
    /// its collateral in `collateral_asset`, with the bonus.
    Liquidate {
        /// The account below health 1.
        borrower: Address,
        /// The debt repaid.
        debt_asset: u32,
        /// The collateral seized.
        collateral_asset: u32,
        /// The most the liquidator repays.
        #[serde(with = "lamina_interop::module::amount")]
        max_repay: u128,
    },
}

/// Every call reads the rules. A supply or a repayment touches only its own market: no
/// account is valued, so it reads no other market and no price, and calls on different
/// markets do not conflict. A withdrawal, a borrow and a liquidation value accounts, so they
/// read every market and price; each writes its own market, its accounts and the balances it
/// moves, and a liquidation writes every market.
pub(super) fn access<L: Ledger, P: PriceFeed>(
    lending: &Lending<L, P>,
    call: &LendingCall,
    sender: &Address,
) -> AccessSet {
    let mut access = AccessSet::new().read(PARAMS.key());
    let values_accounts = !matches!(call, LendingCall::Supply { .. } | LendingCall::Repay { .. });
    if values_accounts {
        for asset in lending.markets() {
            access = access.read(MARKETS.key(asset));
            access = lending.prices.price_access(access, *asset);
        }
    }
    let pool = lending_account();
    match call {
        LendingCall::Supply { asset, .. }
        | LendingCall::Withdraw { asset, .. }
        | LendingCall::Borrow { asset, .. } => {
            access = access.write(MARKETS.key(asset)).write(ACCOUNTS.key(sender));
            access = lending.ledger.balance_access(access, *asset, sender);
            access = lending.ledger.balance_access(access, *asset, &pool);
        }
        LendingCall::Repay {
            asset, on_behalf, ..
        } => {
            access = access
                .write(MARKETS.key(asset))
                .write(ACCOUNTS.key(&on_behalf.unwrap_or(*sender)));
            access = lending.ledger.balance_access(access, *asset, sender);
            access = lending.ledger.balance_access(access, *asset, &pool);
        }
        LendingCall::Liquidate {
            borrower,
            debt_asset,
            ..
        } => {
            for asset in lending.markets() {
                access = access.write(MARKETS.key(asset));
            }
            access = access
                .write(ACCOUNTS.key(borrower))
                .write(ACCOUNTS.key(sender));
            access = lending.ledger.balance_access(access, *debt_asset, sender);
            access = lending.ledger.balance_access(access, *debt_asset, &pool);
        }
    }
    access
}

/// The markets a call works on, loaded and accrued to the block, by asset.
struct Books {
    params: Params,
    markets: Vec<Market>,
}

impl Books {
    fn get(&self, asset: u32) -> Result<&Market, LendingError> {
        self.markets
            .iter()
            .find(|m| m.asset == asset)
            .ok_or(LendingError::UnknownMarket(asset))
    }

    fn get_mut(&mut self, asset: u32) -> Result<&mut Market, LendingError> {
        self.markets
            .iter_mut()
            .find(|m| m.asset == asset)
            .ok_or(LendingError::UnknownMarket(asset))
    }
}

type Ctx<'c, 's, 'a, L, P> = Context<'c, 's, Lending<L, P>>;

/// Loads `assets`' markets (each once) and accrues them to this block.
fn load<L: Ledger + Clone, P: PriceFeed + Clone>(
    lending: &Lending<L, P>,
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    assets: impl IntoIterator<Item = u32>,
) -> Result<Books, LendingError> {
    let params = PARAMS
        .get(ctx.state())?
        .ok_or(LendingError::Genesis("the module has no parameters".into()))?;
    let height = ctx.env().height;
    let mut markets: Vec<Market> = Vec::new();
    for asset in assets {
        if markets.iter().any(|m| m.asset == asset) {
            continue;
        }
        if !lending.markets().contains(&asset) {
            return Err(LendingError::UnknownMarket(asset));
        }
        let mut market = MARKETS
            .get(ctx.state(), &asset)?
            .ok_or(LendingError::UnknownMarket(asset))?;
        accrue(&mut market, height, params.blocks_per_year)?;
        markets.push(market);
    }
    Ok(Books { params, markets })
}

fn positions<L: Ledger + Clone, P: PriceFeed + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    owner: &Address,
) -> Result<Vec<Position>, LendingError> {
    Ok(ACCOUNTS.get(ctx.state(), owner)?.unwrap_or_default())
}

fn save_positions<L: Ledger + Clone, P: PriceFeed + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    owner: &Address,
    mut positions: Vec<Position>,
) -> Result<(), LendingError> {
    positions.retain(|p| p.shares > 0 || p.principal > 0);
    if positions.is_empty() {
        ACCOUNTS.remove(ctx.state(), owner)?;
    } else {
        ACCOUNTS.set(ctx.state(), owner, &positions)?;
    }
    Ok(())
}

/// The position in `asset`, added when absent.
fn position(positions: &mut Vec<Position>, asset: u32) -> &mut Position {
    let at = match positions.iter().position(|p| p.asset == asset) {
        Some(at) => at,
        None => {
            positions.push(Position {
                asset,
                ..Position::default()
            });
            positions.len() - 1
        }
    };
    &mut positions[at]
}

/// Values `positions` at fresh prices; every market they name must be in `books`.
fn valuation<L: Ledger + Clone, P: PriceFeed + Clone>(
    lending: &Lending<L, P>,
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    books: &Books,
    positions: &[Position],
) -> Result<(Valuation, Vec<(u32, u128)>), LendingError> {
    let now = ctx.env().height;
    let mut prices = Vec::new();
    for position in positions {
        if position.shares == 0 && position.principal == 0 {
            continue;
        }
        let price = lending.prices.price(ctx.state(), position.asset)?;
        let value = health::fresh(
            position.asset,
            price,
            now,
            books.params.max_price_age_blocks,
        )?;
        prices.push((position.asset, value));
    }
    let lookup = |asset: u32| {
        prices
            .iter()
            .find(|(a, _)| *a == asset)
            .map(|(_, p)| *p)
            .ok_or(LendingError::NoPrice(asset))
    };
    let v = health::value(positions, |asset| books.get(asset).cloned(), lookup)?;
    Ok((v, prices))
}

/// Refuses unless the debt is within the borrowing limit.
fn check_limit(v: &Valuation) -> Result<(), LendingError> {
    if v.debt > v.borrow_limit {
        return Err(LendingError::Undercollateralized {
            debt_value: v.debt,
            limit: v.borrow_limit,
        });
    }
    Ok(())
}

/// Lowers `borrows` by a repayment; what exceeds them (rounded-up debts summed beyond the
/// total, a unit per borrower at most) goes to reserves, keeping the books exact.
fn reduce_borrows(market: &mut Market, paid: u128) -> Result<(), LendingError> {
    if paid <= market.borrows {
        market.borrows -= paid;
    } else {
        let excess = paid - market.borrows;
        market.borrows = 0;
        market.reserves = math::add(market.reserves, excess)?;
    }
    Ok(())
}

fn store<L: Ledger + Clone, P: PriceFeed + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    market: &Market,
) -> Result<(), LendingError> {
    MARKETS.set(ctx.state(), &market.asset, market)?;
    Ok(())
}

pub(super) fn execute<L: Ledger + Clone, P: PriceFeed + Clone>(
    lending: &Lending<L, P>,
    call: LendingCall,
    ctx: &mut Ctx<'_, '_, '_, L, P>,
) -> Result<(), LendingError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let pool = lending_account();
    match call {
        LendingCall::Supply { asset, amount } => {
            let mut books = load(lending, ctx, [asset])?;
            if amount == 0 {
                return Err(LendingError::ZeroAmount("supply at least one unit"));
            }
            let market = books.get_mut(asset)?;
            let cap = market.config.supply_cap;
            if cap > 0 && math::add(market.assets(), amount)? > cap {
                return Err(LendingError::OverCap {
                    which: "supply",
                    cap,
                });
            }
            let shares = assets_to_shares(market, amount, false)?;
            if shares == 0 {
                return Err(LendingError::ZeroAmount(
                    "the supply is worth less than a share",
                ));
            }
            lending
                .ledger
                .transfer(ctx.state(), asset, &sender, &pool, amount)?;
            market.cash = math::add(market.cash, amount)?;
            market.supplied = math::add(market.supplied, amount)?;
            market.shares = math::add(market.shares, shares)?;
            let market = market.clone();
            let mut positions = positions(ctx, &sender)?;
            let p = position(&mut positions, asset);
            p.shares = math::add(p.shares, shares)?;
            store(ctx, &market)?;
            save_positions(ctx, &sender, positions)?;
            ctx.emit(&LendingEvent::Supplied {
                account: sender,
                asset,
                amount,
                shares,
            })?;
        }
        LendingCall::Withdraw { asset, amount } => {
            let mut positions = positions(ctx, &sender)?;
            let assets = std::iter::once(asset).chain(positions.iter().map(|p| p.asset));
            let mut books = load(lending, ctx, assets.collect::<Vec<_>>())?;
            let market = books.get_mut(asset)?;
            let p = position(&mut positions, asset);
            let held = shares_to_assets(market, p.shares)?;
            let (amount, burned) = if amount == u128::MAX {
                (held, p.shares)
            } else {
                (amount, assets_to_shares(market, amount, true)?)
            };
            if amount == 0 {
                return Err(LendingError::ZeroAmount("withdraw at least one unit"));
            }
            if burned > p.shares {
                return Err(LendingError::InsufficientSupply {
                    held,
                    asked: amount,
                });
            }
            if amount > market.cash {
                return Err(LendingError::InsufficientCash {
                    cash: market.cash,
                    asked: amount,
                });
            }
            market.cash -= amount;
            market.supplied = math::sub(market.supplied, amount)?;
            market.shares -= burned;
            p.shares -= burned;
            if positions.iter().any(|p| p.principal > 0) {
                let (v, _) = valuation(lending, ctx, &books, &positions)?;
                check_limit(&v)?;
            }
            let market = books.get(asset)?.clone();
            lending
                .ledger
                .transfer(ctx.state(), asset, &pool, &sender, amount)?;
            store(ctx, &market)?;
            save_positions(ctx, &sender, positions)?;
            ctx.emit(&LendingEvent::Withdrawn {
                account: sender,
                asset,
                amount,
                shares: burned,
            })?;
        }
        LendingCall::Borrow { asset, amount } => {
            let mut positions = positions(ctx, &sender)?;
            let assets = std::iter::once(asset).chain(positions.iter().map(|p| p.asset));
            let mut books = load(lending, ctx, assets.collect::<Vec<_>>())?;
            if amount == 0 {
                return Err(LendingError::ZeroAmount("borrow at least one unit"));
            }
            let market = books.get_mut(asset)?;
            if amount > market.cash {
                return Err(LendingError::InsufficientCash {
                    cash: market.cash,
                    asked: amount,
                });
            }
            let cap = market.config.borrow_cap;
            if cap > 0 && math::add(market.borrows, amount)? > cap {
                return Err(LendingError::OverCap {
                    which: "borrow",
                    cap,
                });
            }
            let p = position(&mut positions, asset);
            let owed = debt(market, p)?;
            // Debt recorded rounds up: `owed` already does.
            p.principal = math::add(owed, amount)?;
            p.index = market.borrow_index;
            market.borrows = math::add(market.borrows, amount)?;
            market.cash -= amount;
            let (v, _) = valuation(lending, ctx, &books, &positions)?;
            check_limit(&v)?;
            let market = books.get(asset)?.clone();
            lending
                .ledger
                .transfer(ctx.state(), asset, &pool, &sender, amount)?;
            store(ctx, &market)?;
            save_positions(ctx, &sender, positions)?;
            ctx.emit(&LendingEvent::Borrowed {
                account: sender,
                asset,
                amount,
            })?;
        }
        LendingCall::Repay {
            asset,
            amount,
            on_behalf,
        } => {
            let borrower = on_behalf.unwrap_or(sender);
            let mut books = load(lending, ctx, [asset])?;
            let mut positions = positions(ctx, &borrower)?;
            let market = books.get_mut(asset)?;
            let p = position(&mut positions, asset);
            let owed = debt(market, p)?;
            let paid = amount.min(owed);
            if paid == 0 {
                return Err(LendingError::ZeroAmount("nothing to repay"));
            }
            lending
                .ledger
                .transfer(ctx.state(), asset, &sender, &pool, paid)?;
            p.principal = owed - paid;
            p.index = market.borrow_index;
            market.cash = math::add(market.cash, paid)?;
            reduce_borrows(market, paid)?;
            let market = market.clone();
            store(ctx, &market)?;
            save_positions(ctx, &borrower, positions)?;
            ctx.emit(&LendingEvent::Repaid {
                payer: sender,
                borrower,
                asset,
                amount: paid,
            })?;
        }
        LendingCall::Liquidate {
            borrower,
            debt_asset,
            collateral_asset,
            max_repay,
        } => liquidate(
            lending,
            ctx,
            sender,
            borrower,
            debt_asset,
            collateral_asset,
            max_repay,
        )?,
    }
    Ok(())
}

/// The bonus that keeps a liquidation from lowering health, in basis points: the market's,
/// cut to `health / threshold - 1` where that is smaller; the market's in full when health
/// is below the threshold (the collateral is worth less than the debt).
pub(super) fn bonus_bps(health_wad: u128, threshold_bps: u16, bonus_bps: u16) -> u128 {
    let bonus = u128::from(bonus_bps);
    if threshold_bps == 0 {
        return bonus;
    }
    let Ok(ratio_wad) = mul_div(health_wad, BPS, u128::from(threshold_bps)) else {
        return bonus;
    };
    if ratio_wad < WAD {
        return bonus;
    }
    let room = mul_div(ratio_wad - WAD, BPS, WAD).unwrap_or(u128::MAX);
    bonus.min(room)
}

/// Writes off, across `positions`' debts in proportion to their value, the part of the debt
/// value above `covered`; each write-off rounds up, so what is left is at most `covered`.
/// Bad debt, borne by each market's suppliers.
fn write_off_shortfall<L: Ledger + Clone, P: PriceFeed + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    books: &mut Books,
    positions: &mut [Position],
    prices: &[(u32, u128)],
    before: &Valuation,
    covered: u128,
    borrower: Address,
) -> Result<(), LendingError> {
    let shortfall = before.debt.saturating_sub(covered);
    for p in positions.iter_mut().filter(|p| p.principal > 0) {
        let market = books.get_mut(p.asset)?;
        let owed = debt(market, p)?;
        let price = prices
            .iter()
            .find(|(a, _)| *a == p.asset)
            .map(|(_, v)| *v)
            .ok_or(LendingError::NoPrice(p.asset))?;
        let value = mul_div_up(owed, price, PRICE_SCALE)?;
        let share = mul_div_up(shortfall, value, before.debt)?;
        let units = mul_div_up(share, PRICE_SCALE, price)?.min(owed);
        let written = units.min(market.borrows);
        market.borrows -= written;
        market.bad_debt = math::add(market.bad_debt, written)?;
        p.principal = owed - units;
        p.index = market.borrow_index;
        ctx.emit(&LendingEvent::BadDebt {
            borrower,
            asset: p.asset,
            amount: written,
        })?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn liquidate<L: Ledger + Clone, P: PriceFeed + Clone>(
    lending: &Lending<L, P>,
    ctx: &mut Ctx<'_, '_, '_, L, P>,
    liquidator: Address,
    borrower: Address,
    debt_asset: u32,
    collateral_asset: u32,
    max_repay: u128,
) -> Result<(), LendingError> {
    if borrower == liquidator {
        return Err(LendingError::SelfLiquidation);
    }
    let mut positions = positions(ctx, &borrower)?;
    let assets: Vec<u32> = [debt_asset, collateral_asset]
        .into_iter()
        .chain(positions.iter().map(|p| p.asset))
        .collect();
    let mut books = load(lending, ctx, assets)?;
    let (before, prices) = valuation(lending, ctx, &books, &positions)?;
    let mut health_wad = before.health_wad();
    if health_wad >= WAD {
        return Err(LendingError::NotLiquidatable { health_wad });
    }
    // An insolvent borrower: its collateral is worth less than its debts. What the collateral
    // can never cover is written off first (Compound III's absorb), so the seizure below
    // starts from an account whose debt its collateral covers.
    let wrote_off = before.collateral < before.debt;
    if wrote_off {
        // Leave the debt the collateral covers with the chosen collateral's bonus, so a
        // liquidator is still paid to take it.
        let bonus = u128::from(books.get(collateral_asset)?.config.liquidation_bonus_bps);
        let covered = mul_div(before.collateral, BPS, BPS + bonus)?;
        write_off_shortfall(
            ctx,
            &mut books,
            &mut positions,
            &prices,
            &before,
            covered,
            borrower,
        )?;
        health_wad = valuation(lending, ctx, &books, &positions)?.0.health_wad();
    }
    let price = |asset: u32| {
        prices
            .iter()
            .find(|(a, _)| *a == asset)
            .map(|(_, p)| *p)
            .ok_or(LendingError::NothingToLiquidate(if asset == debt_asset {
                "debt"
            } else {
                "collateral"
            }))
    };
    let (price_debt, price_collateral) = (price(debt_asset)?, price(collateral_asset)?);

    let debt_market = books.get(debt_asset)?.clone();
    let owed = debt(&debt_market, position(&mut positions, debt_asset))?;
    if owed == 0 {
        return Err(LendingError::NothingToLiquidate("debt"));
    }
    let collateral_market = books.get(collateral_asset)?.clone();
    let held_shares = position(&mut positions, collateral_asset).shares;
    if held_shares == 0 {
        return Err(LendingError::NothingToLiquidate("collateral"));
    }
    let full_close = mul_div(u128::from(books.params.full_close_health_bps), WAD, BPS)?;
    let close = if health_wad >= full_close {
        mul_div(owed, u128::from(books.params.close_factor_bps), BPS)?
    } else {
        owed
    };
    let mut repay = max_repay.min(close);
    if repay == 0 {
        return Err(LendingError::ZeroAmount("repay at least one unit"));
    }
    // Seizing collateral whose threshold is above the health factor lowers health at any
    // bonus. A solvent borrower always has collateral at or below it (health is at least
    // the smallest threshold when collateral covers debt): the liquidator must take that.
    let threshold_wad = mul_div(
        u128::from(collateral_market.config.liquidation_threshold_bps),
        WAD,
        BPS,
    )?;
    if health_wad < threshold_wad && !wrote_off {
        return Err(LendingError::ThresholdAboveHealth {
            asset: collateral_asset,
        });
    }
    let bonus = bonus_bps(
        health_wad,
        collateral_market.config.liquidation_threshold_bps,
        collateral_market.config.liquidation_bonus_bps,
    );
    // Collateral seized rounds down at every step: the borrower keeps the fraction.
    let seize_value = mul_div(mul_div(repay, price_debt, PRICE_SCALE)?, BPS + bonus, BPS)?;
    let mut seized = mul_div(seize_value, PRICE_SCALE, price_collateral)?;
    let available = shares_to_assets(&collateral_market, held_shares)?;
    let seized_shares = if seized >= available {
        // All of it, for a repayment that covers it at the bonus, rounded up.
        let worth = mul_div_up(available, price_collateral, PRICE_SCALE)?;
        let needed = mul_div_up(
            mul_div_up(worth, BPS, BPS + bonus)?,
            PRICE_SCALE,
            price_debt,
        )?;
        repay = repay.min(needed.max(1));
        seized = available;
        held_shares
    } else {
        assets_to_shares(&collateral_market, seized, false)?
    };
    if seized_shares == 0 {
        return Err(LendingError::ZeroAmount("the repayment seizes nothing"));
    }

    let pool = lending_account();
    lending
        .ledger
        .transfer(ctx.state(), debt_asset, &liquidator, &pool, repay)?;
    {
        let market = books.get_mut(debt_asset)?;
        let p = position(&mut positions, debt_asset);
        p.principal = owed - repay;
        p.index = market.borrow_index;
        market.cash = math::add(market.cash, repay)?;
        reduce_borrows(market, repay)?;
    }
    position(&mut positions, collateral_asset).shares -= seized_shares;
    let mut theirs = if liquidator == borrower {
        Vec::new()
    } else {
        ACCOUNTS.get(ctx.state(), &liquidator)?.unwrap_or_default()
    };
    let q = position(&mut theirs, collateral_asset);
    q.shares = math::add(q.shares, seized_shares)?;
    ctx.emit(&LendingEvent::Liquidated {
        liquidator,
        borrower,
        debt_asset,
        repaid: repay,
        collateral_asset,
        seized,
        seized_shares,
        bonus_bps: bonus as u16,
    })?;

    // No collateral left: what is still owed is bad debt, borne by each market's suppliers.
    if positions.iter().all(|p| p.shares == 0) {
        for p in positions.iter_mut().filter(|p| p.principal > 0) {
            let market = books.get_mut(p.asset)?;
            let owed = debt(market, p)?;
            let written = owed.min(market.borrows);
            market.borrows -= written;
            market.bad_debt = math::add(market.bad_debt, written)?;
            p.principal = 0;
            ctx.emit(&LendingEvent::BadDebt {
                borrower,
                asset: p.asset,
                amount: written,
            })?;
        }
    }
    for market in &books.markets {
        store(ctx, market)?;
    }
    save_positions(ctx, &borrower, positions)?;
    save_positions(ctx, &liquidator, theirs)?;
    Ok(())
}
