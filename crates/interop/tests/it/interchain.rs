//! Interchain conformance: commitments byte-exact with ibc-go's published vectors (its
//! `TestCommitPacket` and `TestCommitAcknowledgement`), the key layout as bytes, the borsh
//! encoding of a packet, and the decoders' limits.

use lamina_interop::codec::{self, BoundedBytes, BoundedVec, Canonical};
use lamina_interop::interchain::{
    ack_path, commit_ack, commit_packet, commitment_path, prefixed, receipt_path, split_denom,
    Acknowledgement, InterchainMsg, Packet, Payload, TokenData, ERROR_ACK, LAMINA_PREFIX,
};

fn text<const N: usize>(s: &str) -> lamina_interop::codec::BoundedString<N> {
    serde_json::from_value(serde_json::json!(s)).unwrap()
}

/// ibc-go's JSON transfer packet: Go's field order, sequence 1, timeout 100 s.
fn ibc_go_packet() -> Packet {
    let value = br#"{"denom":"uatom","amount":"1000000","sender":"sender","receiver":"receiver","memo":"memo"}"#;
    Packet {
        sequence: 1,
        source_client: text("07-tendermint-0"),
        dest_client: text("07-tendermint-1"),
        timeout: 100,
        payloads: BoundedVec::try_from_vec(vec![Payload {
            source_port: text("transfer"),
            dest_port: text("transfer"),
            version: text("ics20-1"),
            encoding: text("application/json"),
            value: BoundedBytes::try_from_vec(value.to_vec()).unwrap(),
        }])
        .unwrap(),
    }
}

#[test]
fn the_packet_commitment_matches_ibc_go() {
    assert_eq!(
        hex::encode(commit_packet(&ibc_go_packet()).0),
        "a096722aa6534040a0efbdae05765132a7b223ad306d6512f3734821bd046505"
    );
}

#[test]
fn the_ack_commitment_matches_ibc_go() {
    let ack = Acknowledgement {
        app_acknowledgements: BoundedVec::try_from_vec(vec![BoundedBytes::try_from_vec(
            b"some bytes".to_vec(),
        )
        .unwrap()])
        .unwrap(),
    };
    assert_eq!(
        hex::encode(commit_ack(&ack).0),
        "f03b4667413e56aaf086663267913e525c442b56fa1af4fa3f3dab9f37044c5b"
    );
    // The error acknowledgement: sha256(0x02 | sha256(sha256("UNIVERSAL_ERROR_ACKNOWLEDGEMENT"))),
    // computed independently (Python hashlib).
    let error = Acknowledgement::error();
    assert_eq!(error.app_acknowledgements[0].as_ref(), &ERROR_ACK[..]);
    assert_eq!(
        hex::encode(commit_ack(&error).0),
        "e2fb30dfbf7abdeaca82d426534d2b3a9d5444dd2a87fa16d38b77ba1a13ced7"
    );
}

#[test]
fn the_key_layout_is_client_tag_big_endian_sequence() {
    assert_eq!(
        hex::encode(commitment_path("client-0", 1)),
        format!("{}010000000000000001", hex::encode("client-0"))
    );
    assert_eq!(
        hex::encode(receipt_path("client-0", 258)),
        format!("{}020000000000000102", hex::encode("client-0"))
    );
    assert_eq!(
        hex::encode(ack_path("client-0", u64::MAX)),
        format!("{}03ffffffffffffffff", hex::encode("client-0"))
    );
    assert_eq!(
        prefixed(LAMINA_PREFIX, &commitment_path("c1", 7)),
        b"interchain/p/c1\x01\x00\x00\x00\x00\x00\x00\x00\x07".to_vec()
    );
}

#[test]
fn a_packet_encodes_as_documented() {
    let packet = ibc_go_packet();
    let bytes = codec::encode(&packet);
    // sequence u64 LE | source_client (u32 LE len | bytes) | dest_client | timeout u64 LE
    // | payloads: u32 LE count | each: 4 strings | value (u32 LE len | bytes)
    let mut expected = Vec::new();
    expected.extend_from_slice(&1u64.to_le_bytes());
    for s in ["07-tendermint-0", "07-tendermint-1"] {
        expected.extend_from_slice(&(s.len() as u32).to_le_bytes());
        expected.extend_from_slice(s.as_bytes());
    }
    expected.extend_from_slice(&100u64.to_le_bytes());
    expected.extend_from_slice(&1u32.to_le_bytes());
    let p = &packet.payloads[0];
    for s in ["transfer", "transfer", "ics20-1", "application/json"] {
        expected.extend_from_slice(&(s.len() as u32).to_le_bytes());
        expected.extend_from_slice(s.as_bytes());
    }
    expected.extend_from_slice(&(p.value.len() as u32).to_le_bytes());
    expected.extend_from_slice(p.value.as_ref());
    assert_eq!(bytes, expected);
    assert_eq!(Packet::decode(&bytes).unwrap(), packet);
}

#[test]
fn decoders_refuse_oversized_and_trailing_input() {
    let mut bytes = codec::encode(&ibc_go_packet());
    bytes.push(0);
    assert!(Packet::decode(&bytes).is_err());
    // A payload count above the limit is refused before anything is allocated.
    let mut many = 1u64.to_le_bytes().to_vec();
    for s in ["ab", "cd"] {
        many.extend_from_slice(&(s.len() as u32).to_le_bytes());
        many.extend_from_slice(s.as_bytes());
    }
    many.extend_from_slice(&100u64.to_le_bytes());
    many.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(Packet::decode(&many).is_err());
    assert!(Acknowledgement::decode(&vec![0xff; Acknowledgement::MAX_ENCODED_LEN + 1]).is_err());
    assert!(codec::decode_limited::<InterchainMsg>(&[200], "InterchainMsg", 64).is_err());
}

#[test]
fn token_data_is_checked_field_by_field() {
    let good = TokenData {
        amount: "5".into(),
        denom: "transfer/client-0/asset-1".into(),
        memo: String::new(),
        receiver: "r".into(),
        sender: "s".into(),
    };
    assert_eq!(
        String::from_utf8(good.encode()).unwrap(),
        r#"{"amount":"5","denom":"transfer/client-0/asset-1","memo":"","receiver":"r","sender":"s"}"#
    );
    assert_eq!(TokenData::decode(&good.encode()).unwrap(), good);
    for amount in [
        "0",
        "-1",
        "1.5",
        "",
        "340282366920938463463374607431768211456",
        "+3",
    ] {
        let bad = TokenData {
            amount: amount.into(),
            ..good.clone()
        };
        assert!(TokenData::decode(&bad.encode()).is_err(), "{amount}");
    }
    for denom in [
        "",
        "transfer/asset-1",
        "transfer/client-0/",
        "tr ansfer/c0/x",
    ] {
        let bad = TokenData {
            denom: denom.into(),
            ..good.clone()
        };
        assert!(TokenData::decode(&bad.encode()).is_err(), "{denom}");
    }
    assert!(TokenData::decode(br#"{"amount":"5","extra":1}"#).is_err());
    assert!(TokenData::decode(&vec![b' '; 5000]).is_err());
    assert!(split_denom(&"a/".repeat(300)).is_err());
}
