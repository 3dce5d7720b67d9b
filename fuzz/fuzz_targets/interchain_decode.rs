//! Arbitrary bytes as what a relayer or a counterparty hands the interchain module: packets,
//! acknowledgements, whole messages and token-transfer payloads. Never a panic; what decodes
//! re-encodes to the same bytes; a decoded packet validates or is refused, and its
//! commitment is computed; a decoded transfer payload's denomination splits. And what one
//! channel party hands the other or the chain: states, signed states, peer messages and the
//! channels module's calls; a decoded state's payouts add up to the deposits whenever they
//! are computed.

#![no_main]

use lamina_app::channels::ChannelsCall;
use lamina_interop::channel::{ChannelState, PeerMsg, SignedState};
use lamina_interop::codec;
use lamina_interop::crypto::SecretKey;
use lamina_interop::interchain::{
    commit_ack, commit_packet, split_denom, Acknowledgement, InterchainMsg, Packet, TokenData,
};
use libfuzzer_sys::fuzz_target;

mod canonical;
use canonical::round_trips;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % 8 {
        0 => {
            if let Some(packet) = round_trips::<Packet>(data) {
                let _ = packet.validate();
                let _ = commit_packet(&packet);
            }
        }
        1 => {
            if let Some(ack) = round_trips::<Acknowledgement>(data) {
                let _ = ack.is_error();
                let _ = commit_ack(&ack);
            }
        }
        2 => {
            if let Ok(msg) = codec::decode_limited::<InterchainMsg>(data, "InterchainMsg", 16 * 1024)
            {
                assert_eq!(codec::encode(&msg), data, "InterchainMsg is not canonical");
            }
        }
        4 => {
            if let Some(state) = round_trips::<ChannelState>(data) {
                let deposits = [state.deposited[0].0, state.deposited[1].0];
                if let Ok(payouts) = state.payouts(deposits) {
                    assert_eq!(
                        payouts[0].checked_add(payouts[1]),
                        deposits[0].checked_add(deposits[1])
                    );
                }
                let _ = state.pay(0, 1);
            }
        }
        5 => {
            if let Some(signed) = round_trips::<SignedState>(data) {
                let keys = [
                    SecretKey::from_seed([1; 32]).public_key(),
                    SecretKey::from_seed([2; 32]).public_key(),
                ];
                let _ = signed.verify(&keys);
            }
        }
        6 => {
            let _ = round_trips::<PeerMsg>(data);
        }
        7 => {
            if let Ok(call) = codec::decode_limited::<ChannelsCall>(data, "ChannelsCall", 512) {
                assert_eq!(codec::encode(&call), data, "ChannelsCall is not canonical");
            }
        }
        _ => {
            if let Ok(token) = TokenData::decode(data) {
                assert!(token.amount().is_ok());
                assert!(split_denom(&token.denom).is_ok());
                assert_eq!(TokenData::decode(&token.encode()).as_ref(), Ok(&token));
            }
        }
    }
});
