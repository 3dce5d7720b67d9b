//! Arbitrary bytes as what a relayer or a counterparty hands the interchain module: packets,
//! acknowledgements, whole messages and token-transfer payloads. Never a panic; what decodes
//! re-encodes to the same bytes; a decoded packet validates or is refused, and its
//! commitment is computed; a decoded transfer payload's denomination splits.

#![no_main]

use lamina_interop::codec::{self, Canonical};
use lamina_interop::interchain::{
    commit_ack, commit_packet, split_denom, Acknowledgement, InterchainMsg, Packet, TokenData,
};
use libfuzzer_sys::fuzz_target;

fn round_trips<T: Canonical>(data: &[u8]) -> Option<T> {
    let value = T::decode(data).ok()?;
    assert_eq!(value.encode(), data, "{} is not canonical", T::NAME);
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % 4 {
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
        _ => {
            if let Ok(token) = TokenData::decode(data) {
                assert!(token.amount().is_ok());
                assert!(split_denom(&token.denom).is_ok());
                assert_eq!(TokenData::decode(&token.encode()).as_ref(), Ok(&token));
            }
        }
    }
});
