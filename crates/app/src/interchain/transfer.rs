//! Fungible token transfer (ICS-20's rules) on the `transfer` port.
//!
//! ```text
//! send asset A through client C:
//!   A a voucher whose denom starts "transfer/C/"  -> burn it (it goes home)
//!   otherwise                                      -> escrow it in C's escrow account,
//!                                                     escrow[C, A] += amount
//!   payload {amount, denom, memo, receiver, sender}
//! receive through our client C (the packet's destination client), source client S:
//!   denom starts "transfer/S/"                     -> coming home: release
//!                                                     escrow[C, base asset] (refused beyond it)
//!   otherwise                                      -> mint the voucher "transfer/C/denom"
//! error ack or timeout                             -> undo the send: release escrow, or mint
//!                                                     the burned voucher back
//! ```
//!
//! A native asset's denom is `asset-N`. A voucher is a bank asset numbered from
//! [`VOUCHER_BASE`](super::VOUCHER_BASE) up, which only this module mints and burns.

use lamina_interop::interchain::{
    prefix_denom, split_denom, strip_denom, Packet, Payload, Port, PortError, TokenData, ERROR_ACK,
    TRANSFER_PORT, TRANSFER_SUCCESS,
};
use lamina_interop::module::{module_account, Env, Ledger, WorkingSet};
use lamina_interop::Address;

use super::{InterchainError, DENOMS, ESCROW, LIMITS, NAME, NEXT_VOUCHER, VOUCHERS, VOUCHER_BASE};

/// The denomination of native asset `asset`.
pub fn native_denom(asset: u32) -> String {
    format!("asset-{asset}")
}

fn parse_native(denom: &str) -> Option<u32> {
    let n = denom.strip_prefix("asset-")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok().filter(|a| *a < VOUCHER_BASE)
}

/// The account holding what is escrowed for transfers through `client`.
pub fn escrow_account(client: &str) -> Address {
    module_account(&format!("{NAME}/escrow/{client}"))
}

/// The denomination of `asset` on this chain: a voucher's path, or `asset-N`.
pub(super) fn denom_of(state: &mut WorkingSet<'_>, asset: u32) -> Result<String, InterchainError> {
    Ok(match DENOMS.get(state, &asset)? {
        Some(denom) => denom,
        None => native_denom(asset),
    })
}

/// The asset a denomination names here, if any.
fn asset_of(state: &mut WorkingSet<'_>, denom: &str) -> Result<Option<u32>, InterchainError> {
    if let Some(asset) = parse_native(denom) {
        return Ok(Some(asset));
    }
    Ok(VOUCHERS.get(state, &denom.to_string())?)
}

fn add_escrow(
    state: &mut WorkingSet<'_>,
    client: &str,
    asset: u32,
    amount: u128,
    add: bool,
) -> Result<(), InterchainError> {
    let key = (client.to_string(), asset);
    let held = ESCROW.get(state, &key)?.unwrap_or(0);
    let held = if add {
        held.checked_add(amount)
    } else {
        held.checked_sub(amount)
    }
    .ok_or(InterchainError::BadAmount)?;
    if held == 0 {
        ESCROW.remove(state, &key)?;
    } else {
        ESCROW.set(state, &key, &held)?;
    }
    Ok(())
}

/// Takes `amount` of `asset` from `sender` for a transfer through `client`: burns a voucher
/// going home, escrows anything else. Returns the denomination the packet carries. Checks
/// the asset's rate limit.
pub(super) fn take<L: Ledger>(
    ledger: &L,
    state: &mut WorkingSet<'_>,
    env: &Env,
    client: &str,
    sender: &Address,
    asset: u32,
    amount: u128,
) -> Result<String, InterchainError> {
    if amount == 0 {
        return Err(InterchainError::BadAmount);
    }
    check_limit(state, env, asset, amount)?;
    let denom = denom_of(state, asset)?;
    if strip_denom(TRANSFER_PORT, client, &denom).is_some() {
        ledger.burn(state, NAME, asset, sender, amount)?;
    } else {
        ledger.transfer(state, asset, sender, &escrow_account(client), amount)?;
        add_escrow(state, client, asset, amount, true)?;
    }
    Ok(denom)
}

/// Counts `amount` of `asset` against its limit, in the window of this block.
fn check_limit(
    state: &mut WorkingSet<'_>,
    env: &Env,
    asset: u32,
    amount: u128,
) -> Result<(), InterchainError> {
    let Some(mut limit) = LIMITS.get(state, &asset)? else {
        return Ok(());
    };
    if env.height.0 >= limit.window_start.0.saturating_add(limit.window_blocks) {
        limit.window_start = env.height;
        limit.sent = 0;
    }
    let sent = limit
        .sent
        .checked_add(amount)
        .ok_or(InterchainError::BadAmount)?;
    if sent > limit.max_per_window {
        return Err(InterchainError::RateLimited {
            asset,
            amount,
            limit: limit.max_per_window,
        });
    }
    limit.sent = sent;
    LIMITS.set(state, &asset, &limit)?;
    Ok(())
}

/// Token transfer's application, over ledger `L`.
#[derive(Debug, Clone)]
pub struct TransferPort<L> {
    ledger: L,
}

impl<L: Ledger> TransferPort<L> {
    /// The application over `ledger`.
    pub fn new(ledger: L) -> Self {
        TransferPort { ledger }
    }

    /// The voucher asset of `denom`, created on first sight.
    fn voucher(&self, state: &mut WorkingSet<'_>, denom: &str) -> Result<u32, PortError> {
        if let Some(asset) = VOUCHERS.get(state, &denom.to_string()).map_err(port)? {
            return Ok(asset);
        }
        let asset = NEXT_VOUCHER
            .get(state)
            .map_err(port)?
            .unwrap_or(VOUCHER_BASE);
        let next = asset
            .checked_add(1)
            .ok_or_else(|| PortError("no voucher ids left".into()))?;
        NEXT_VOUCHER.set(state, &next).map_err(port)?;
        let (_, base) = split_denom(denom).map_err(port)?;
        self.ledger
            .create_asset(state, NAME, asset, base)
            .map_err(port)?;
        VOUCHERS
            .set(state, &denom.to_string(), &asset)
            .map_err(port)?;
        DENOMS
            .set(state, &asset, &denom.to_string())
            .map_err(port)?;
        Ok(asset)
    }

    /// Gives back what sending `data` took from its sender.
    fn refund(
        &self,
        state: &mut WorkingSet<'_>,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<(), PortError> {
        let data = TokenData::decode(payload.value.as_ref()).map_err(port)?;
        let amount = data.amount().map_err(port)?;
        let sender: Address = data.sender.parse().map_err(port)?;
        let client = packet.source_client.as_str();
        let asset = asset_of(state, &data.denom)
            .map_err(port)?
            .ok_or_else(|| PortError(format!("unknown denomination {}", data.denom)))?;
        if strip_denom(TRANSFER_PORT, client, &data.denom).is_some() {
            self.ledger
                .mint(state, NAME, asset, &sender, amount)
                .map_err(port)?;
        } else {
            self.ledger
                .transfer(state, asset, &escrow_account(client), &sender, amount)
                .map_err(port)?;
            add_escrow(state, client, asset, amount, false).map_err(port)?;
        }
        Ok(())
    }
}

fn port(e: impl std::fmt::Display) -> PortError {
    PortError(e.to_string())
}

impl<L: Ledger> Port for TransferPort<L> {
    fn on_recv(
        &self,
        state: &mut WorkingSet<'_>,
        _env: &Env,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<Vec<u8>, PortError> {
        let data = TokenData::decode(payload.value.as_ref()).map_err(port)?;
        let amount = data.amount().map_err(port)?;
        let receiver: Address = data.receiver.parse().map_err(port)?;
        let ours = packet.dest_client.as_str();
        match strip_denom(
            payload.source_port.as_str(),
            packet.source_client.as_str(),
            &data.denom,
        ) {
            // Coming home: only what was escrowed for this client is released.
            Some(base) => {
                let asset = asset_of(state, base)
                    .map_err(port)?
                    .ok_or_else(|| PortError(format!("unknown denomination {base}")))?;
                let held = ESCROW
                    .get(state, &(ours.to_string(), asset))
                    .map_err(port)?
                    .unwrap_or(0);
                if held < amount {
                    return Err(PortError(format!(
                        "{amount} of {base} asked, {held} escrowed for {ours}"
                    )));
                }
                self.ledger
                    .transfer(state, asset, &escrow_account(ours), &receiver, amount)
                    .map_err(port)?;
                add_escrow(state, ours, asset, amount, false).map_err(port)?;
            }
            None => {
                let denom = prefix_denom(payload.dest_port.as_str(), ours, &data.denom);
                split_denom(&denom).map_err(port)?;
                let asset = self.voucher(state, &denom)?;
                self.ledger
                    .mint(state, NAME, asset, &receiver, amount)
                    .map_err(port)?;
            }
        }
        Ok(TRANSFER_SUCCESS.to_vec())
    }

    fn on_ack(
        &self,
        state: &mut WorkingSet<'_>,
        _env: &Env,
        packet: &Packet,
        payload: &Payload,
        ack: &[u8],
    ) -> Result<(), PortError> {
        // Refunded on an error only: an answer of an unknown shape is not a refusal, and a
        // refund the destination did not mean would mint value.
        if ack == ERROR_ACK || ack.starts_with(br#"{"error""#) {
            self.refund(state, packet, payload)?;
        }
        Ok(())
    }

    fn on_timeout(
        &self,
        state: &mut WorkingSet<'_>,
        _env: &Env,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<(), PortError> {
        self.refund(state, packet, payload)
    }
}
