//! Channel conformance: the id, the state's bytes, the bytes signed and both signatures, for
//! keys from fixed seeds, checked against an independent implementation (Python's hashlib and
//! the `cryptography` package's Ed25519) when they were written down; a message of the peer
//! protocol; and the decoders' limits. The book's "Payment channels" chapter spells the
//! layout out, so a client in another language can check itself against these.

use lamina_interop::channel::{
    channel_id, handshake_bytes, ChannelState, PeerMsg, SignedState, MAX_FRAME,
};
use lamina_interop::codec::Canonical;
use lamina_interop::crypto::{SecretKey, Signature};
use lamina_interop::ChainId;

fn keys() -> [SecretKey; 2] {
    [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])]
}

/// Version 1 of the channel of seeds 1 and 2 with nonce 1, on chain 1337: 1,000 deposited
/// by party 0, 250 paid to party 1.
fn state() -> ChannelState {
    let keys = keys();
    let id = channel_id(&[keys[0].public_key(), keys[1].public_key()], 1);
    ChannelState::opening(ChainId(1337), id, [1_000, 0])
        .pay(0, 250)
        .unwrap()
}

const ID: &str = "b2db355f46e899a40b93856e05b50fa24e197b8e3d432cae7bcfc4ed665726aa";
const STATE: &str = concat!(
    "3905000000000000",                                                 // chain 1337
    "b2db355f46e899a40b93856e05b50fa24e197b8e3d432cae7bcfc4ed665726aa", // channel
    "0100000000000000",                                                 // version 1
    "e8030000000000000000000000000000",                                 // deposited[0] 1000
    "00000000000000000000000000000000",                                 // deposited[1] 0
    "ee020000000000000000000000000000",                                 // balances[0] 750
    "fa000000000000000000000000000000",                                 // balances[1] 250
    "00",                                                               // not final
);
const SIGNED_PREFIX: &str = concat!(
    "6c616d696e6100",                     // "lamina\0"
    "11",                                 // 17
    "6c616d696e612f6368616e6e656c2f7631", // "lamina/channel/v1"
    "3905000000000000",                   // chain 1337
);
const SIG_0: &str = "996f2b9fe6efc8c1df1726b1a2a74d92d2cc04159fcf1a25ef43fa94987de4543b089c3367ed2f505fc75ce4c6073fe5ea4ba48c5d2a12e6117f4a3f418f020d";
const SIG_1: &str = "69df5a813cebbf5f5a143940b4a8c4459c8e12f9b01ea34c4d16aac00281f6611eee9c0cbe0a0ff790513cccbb375eac812353660ed5d8fa2ab55013d7aa190a";

#[test]
fn the_id_the_state_and_what_is_signed_are_byte_exact() {
    let keys = keys();
    let s = state();
    assert_eq!(hex::encode(s.channel.0), ID);
    assert_eq!(hex::encode(s.encode()), STATE);
    assert_eq!(
        hex::encode(s.signing_bytes()),
        format!("{SIGNED_PREFIX}{STATE}")
    );
    assert_eq!(hex::encode(s.sign(&keys[0]).0), SIG_0);
    assert_eq!(hex::encode(s.sign(&keys[1]).0), SIG_1);
    let signed = SignedState {
        state: s.clone(),
        signatures: [
            Signature::from_hex(SIG_0).unwrap(),
            Signature::from_hex(SIG_1).unwrap(),
        ],
    };
    assert_eq!(
        signed.verify(&[keys[0].public_key(), keys[1].public_key()]),
        Ok(())
    );
    // A signed state is the state, then the two signatures.
    assert_eq!(
        hex::encode(signed.encode()),
        format!("{STATE}{SIG_0}{SIG_1}")
    );
    assert_eq!(SignedState::decode(&signed.encode()).unwrap(), signed);
}

#[test]
fn a_peer_message_is_a_variant_byte_then_its_fields() {
    let accept = PeerMsg::Accept {
        version: 1,
        signature: Signature::from_hex(SIG_1).unwrap(),
    };
    // Hello 0, Proof 1, Propose 2, Accept 3, Refuse 4.
    assert_eq!(
        hex::encode(accept.encode()),
        format!("03{}{SIG_1}", "0100000000000000")
    );
    let handshake = handshake_bytes(ChainId(1337), &state().channel, &[9; 32]);
    assert_eq!(
        hex::encode(&handshake[..30]),
        "6c616d696e6100166c616d696e612f6368616e6e656c2d706565722f7631"
    );
    assert_eq!(handshake.len(), 7 + 1 + 22 + 8 + 32 + 32);
}

#[test]
fn decoders_refuse_what_breaks_their_limits() {
    let bytes = state().encode();
    assert!(ChannelState::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(ChannelState::decode(&longer).is_err());
    let mut not_bool = bytes.clone();
    *not_bool.last_mut().unwrap() = 2;
    assert!(ChannelState::decode(&not_bool).is_err());
    assert!(PeerMsg::decode(&[5]).is_err());
    assert!(PeerMsg::decode(&vec![4; MAX_FRAME + 1]).is_err());
    // A refusal whose reason claims more than its limit.
    let mut refuse = vec![4, 1, 0, 0, 0, 0, 0, 0, 0];
    refuse.extend_from_slice(&1_000u32.to_le_bytes());
    refuse.extend_from_slice(&[b'x'; 1_000]);
    assert!(PeerMsg::decode(&refuse).is_err());
}
