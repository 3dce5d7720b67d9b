//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::channel::{channel_id, ChannelState, SignedState};
use lamina_interop::crypto::PublicKey;
use lamina_interop::module::{AccessSet, Amount, Context, Ledger};
use lamina_interop::{Address, Hash, Height};
use serde::{Deserialize, Serialize};

use super::{
    escrow_account, Channel, Channels, ChannelsError, ChannelsEvent, Phase, CHANNELS, PARAMS,
};
use crate::interchain::SIGNATURE_GAS;

/// Gas for the record a call reads and writes, besides state access.
const ITEM_GAS: u64 = 5_000;

/// A call. Amounts are decimal strings in JSON:
/// `{"open": {"nonce": 1, "keys": ["0x…", "0x…"], "asset": 0, "deposit": "1000", "challenge_blocks": 20}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelsCall {
    /// Opens a channel between `keys[0]` (the sender's key) and `keys[1]`, depositing
    /// `deposit` of `asset` for party 0.
    Open {
        /// A number of the opener's choosing that makes the id new.
        nonce: u64,
        /// The parties' keys: the sender's first.
        keys: [PublicKey; 2],
        /// The bank asset.
        asset: u32,
        /// Party 0's deposit.
        #[serde(with = "lamina_interop::module::amount")]
        deposit: u128,
        /// How long a close can be challenged, in blocks.
        challenge_blocks: u64,
    },
    /// Adds to the sender's deposit in an open channel.
    TopUp {
        /// The channel.
        channel: Hash,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Closes at once on a final state both signed. Anyone may submit it.
    CloseCooperative {
        /// The state.
        state: SignedState,
    },
    /// A party starts closing on a state both signed, or on the deposits as they stand.
    Close {
        /// The channel.
        channel: Hash,
        /// The newest state the sender holds, or none.
        state: Option<SignedState>,
    },
    /// Replaces the registered state of a closing channel with a newer one, until the
    /// deadline. Anyone may submit it.
    Challenge {
        /// The newer state.
        state: SignedState,
    },
    /// Pays out a closing channel after its deadline. Anyone may settle.
    Settle {
        /// The channel.
        channel: Hash,
    },
}

/// `open` writes the new record and moves the sender's balance to the escrow; `close` and
/// `challenge` write the record alone. The rest move balances of parties and an asset only
/// the stored record names: they declare everything (see the module's note).
pub(super) fn access<L: Ledger>(ledger: &L, call: &ChannelsCall, sender: &Address) -> AccessSet {
    let base = AccessSet::new().read(PARAMS.key());
    match call {
        ChannelsCall::Open {
            nonce, keys, asset, ..
        } => {
            let access = base.write(CHANNELS.key(&channel_id(keys, *nonce)));
            let access = ledger.balance_access(access, *asset, sender);
            ledger.balance_access(access, *asset, &escrow_account())
        }
        ChannelsCall::Close { channel, .. } => base.write(CHANNELS.key(channel)),
        ChannelsCall::Challenge { state } => base.write(CHANNELS.key(&state.state.channel)),
        ChannelsCall::TopUp { .. }
        | ChannelsCall::CloseCooperative { .. }
        | ChannelsCall::Settle { .. } => AccessSet::everything(),
    }
}

/// Two signatures for each state checked, at the interchain module's measured rate.
pub(super) fn weight(call: &ChannelsCall) -> u64 {
    match call {
        ChannelsCall::Close { state: None, .. }
        | ChannelsCall::Open { .. }
        | ChannelsCall::TopUp { .. }
        | ChannelsCall::Settle { .. } => ITEM_GAS,
        ChannelsCall::Close { state: Some(_), .. }
        | ChannelsCall::CloseCooperative { .. }
        | ChannelsCall::Challenge { .. } => ITEM_GAS + 2 * SIGNATURE_GAS,
    }
}

pub(super) fn execute<L: Ledger + Clone>(
    ledger: &L,
    call: ChannelsCall,
    ctx: &mut Context<'_, '_, Channels<L>>,
) -> Result<(), ChannelsError> {
    let sender = ctx.sender().unwrap_or(Address([0; 32]));
    match call {
        ChannelsCall::Open {
            nonce,
            keys,
            asset,
            deposit,
            challenge_blocks,
        } => {
            if Address::of(&keys[0]) != sender || keys[0] == keys[1] {
                return Err(ChannelsError::BadKeys);
            }
            if deposit == 0 {
                return Err(ChannelsError::BadAmount);
            }
            let params = PARAMS
                .get(ctx.state())?
                .ok_or_else(|| ChannelsError::Genesis("no params".into()))?;
            if !(params.min_challenge_blocks..=params.max_challenge_blocks)
                .contains(&challenge_blocks)
            {
                return Err(ChannelsError::BadChallengePeriod {
                    min: params.min_challenge_blocks,
                    max: params.max_challenge_blocks,
                });
            }
            let id = channel_id(&keys, nonce);
            if CHANNELS.get(ctx.state(), &id)?.is_some() {
                return Err(ChannelsError::ChannelExists(id));
            }
            ledger.transfer(ctx.state(), asset, &sender, &escrow_account(), deposit)?;
            let channel = Channel {
                keys,
                parties: [sender, Address::of(&keys[1])],
                asset,
                deposits: [Amount(deposit), Amount(0)],
                challenge_blocks,
                phase: Phase::Open,
            };
            CHANNELS.set(ctx.state(), &id, &channel)?;
            ctx.emit(&ChannelsEvent::Opened {
                channel: id,
                parties: channel.parties,
                asset,
                deposit,
                challenge_blocks,
            })?;
        }
        ChannelsCall::TopUp {
            channel: id,
            amount,
        } => {
            let mut channel = load(ctx, &id)?;
            let party = channel
                .party(&sender)
                .ok_or(ChannelsError::NotParty(sender))?;
            if channel.phase != Phase::Open {
                return Err(ChannelsError::WrongPhase("not open"));
            }
            let total = channel.deposits[party]
                .0
                .checked_add(amount)
                .filter(|_| amount > 0)
                .ok_or(ChannelsError::BadAmount)?;
            // The sum of both must stay representable for every state's check.
            total
                .checked_add(channel.deposits[1 - party].0)
                .ok_or(ChannelsError::BadAmount)?;
            ledger.transfer(
                ctx.state(),
                channel.asset,
                &sender,
                &escrow_account(),
                amount,
            )?;
            channel.deposits[party] = Amount(total);
            CHANNELS.set(ctx.state(), &id, &channel)?;
            ctx.emit(&ChannelsEvent::ToppedUp {
                channel: id,
                party: channel.parties[party],
                amount,
                deposits: channel.deposits,
            })?;
        }
        ChannelsCall::CloseCooperative { state } => {
            let id = state.state.channel;
            let channel = load(ctx, &id)?;
            check(ctx.env().chain_id.0, &id, &channel, &state)?;
            if !state.state.is_final {
                return Err(ChannelsError::NotFinal);
            }
            match &channel.phase {
                Phase::Open => {}
                // A final state still closes a closing channel if it is newer than the
                // registered one: both agreed to it after.
                Phase::Closing {
                    state: registered, ..
                } => newer(registered, &state.state)?,
                Phase::Settled { .. } => return Err(ChannelsError::WrongPhase("settled")),
            }
            pay_out(ledger, ctx, id, channel, &state.state, true)?;
        }
        ChannelsCall::Close { channel: id, state } => {
            let mut channel = load(ctx, &id)?;
            channel
                .party(&sender)
                .ok_or(ChannelsError::NotParty(sender))?;
            if channel.phase != Phase::Open {
                return Err(ChannelsError::WrongPhase("not open"));
            }
            let chain = ctx.env().chain_id;
            let registered = match state {
                Some(signed) => {
                    check(chain.0, &id, &channel, &signed)?;
                    signed.state
                }
                None => ChannelState::opening(chain, id, channel.deposit_amounts()),
            };
            let deadline = Height(ctx.env().height.0.saturating_add(channel.challenge_blocks));
            ctx.emit(&ChannelsEvent::Closing {
                channel: id,
                version: registered.version,
                deadline,
                by: sender,
            })?;
            channel.phase = Phase::Closing {
                state: registered,
                deadline,
                closer: sender,
            };
            CHANNELS.set(ctx.state(), &id, &channel)?;
        }
        ChannelsCall::Challenge { state } => {
            let id = state.state.channel;
            let mut channel = load(ctx, &id)?;
            check(ctx.env().chain_id.0, &id, &channel, &state)?;
            let now = ctx.env().height;
            let version = state.state.version;
            match &mut channel.phase {
                Phase::Closing {
                    state: registered,
                    deadline,
                    ..
                } => {
                    if now > *deadline {
                        return Err(ChannelsError::ChallengeOver(deadline.0));
                    }
                    newer(registered, &state.state)?;
                    *registered = state.state;
                }
                Phase::Open => return Err(ChannelsError::WrongPhase("open, not closing")),
                Phase::Settled { .. } => return Err(ChannelsError::WrongPhase("settled")),
            }
            CHANNELS.set(ctx.state(), &id, &channel)?;
            ctx.emit(&ChannelsEvent::Challenged {
                channel: id,
                version,
                by: sender,
            })?;
        }
        ChannelsCall::Settle { channel: id } => {
            let channel = load(ctx, &id)?;
            let Phase::Closing {
                state, deadline, ..
            } = &channel.phase
            else {
                return Err(ChannelsError::WrongPhase("not closing"));
            };
            if ctx.env().height <= *deadline {
                return Err(ChannelsError::ChallengeRunning(deadline.0));
            }
            let state = state.clone();
            pay_out(ledger, ctx, id, channel, &state, false)?;
        }
    }
    Ok(())
}

fn load<L: Ledger + Clone>(
    ctx: &mut Context<'_, '_, Channels<L>>,
    id: &Hash,
) -> Result<Channel, ChannelsError> {
    CHANNELS
        .get(ctx.state(), id)?
        .ok_or(ChannelsError::UnknownChannel(*id))
}

/// A signed state for channel `id` on chain `chain`: its chain, its channel, both
/// signatures, and a split the channel's deposits can pay.
fn check(
    chain: u64,
    id: &Hash,
    channel: &Channel,
    signed: &SignedState,
) -> Result<(), ChannelsError> {
    let state = &signed.state;
    if state.chain_id.0 != chain {
        return Err(ChannelsError::WrongChain {
            expected: chain,
            got: state.chain_id.0,
        });
    }
    if state.channel != *id {
        return Err(ChannelsError::WrongChannel {
            expected: *id,
            got: state.channel,
        });
    }
    signed.verify(&channel.keys)?;
    state.payouts(channel.deposit_amounts())?;
    Ok(())
}

fn newer(registered: &ChannelState, state: &ChannelState) -> Result<(), ChannelsError> {
    if state.version <= registered.version {
        return Err(ChannelsError::StaleVersion {
            registered: registered.version,
            got: state.version,
        });
    }
    Ok(())
}

/// Pays each party its share of `state` from the escrow and marks the channel settled.
/// The payouts add up to the deposits exactly ([`ChannelState::payouts`]); nothing is
/// rounded.
fn pay_out<L: Ledger + Clone>(
    ledger: &L,
    ctx: &mut Context<'_, '_, Channels<L>>,
    id: Hash,
    mut channel: Channel,
    state: &ChannelState,
    cooperative: bool,
) -> Result<(), ChannelsError> {
    let payouts = state.payouts(channel.deposit_amounts())?;
    for (party, amount) in payouts.iter().enumerate() {
        if *amount > 0 {
            ledger.transfer(
                ctx.state(),
                channel.asset,
                &escrow_account(),
                &channel.parties[party],
                *amount,
            )?;
        }
    }
    channel.phase = Phase::Settled {
        version: state.version,
        payouts: payouts.map(Amount),
    };
    let parties = channel.parties;
    CHANNELS.set(ctx.state(), &id, &channel)?;
    ctx.emit(&ChannelsEvent::Settled {
        channel: id,
        version: state.version,
        parties,
        payouts: payouts.map(Amount),
        cooperative,
    })?;
    Ok(())
}
