//! Every encoded type round-trips through its canonical encoding, and no byte string makes a
//! decoder panic.

use lamina_interop::block::{
    Block, EventRecord, Header, Outcome, RawTx, Receipt, MAX_EVENT_LEN, MAX_REASON_LEN,
};
use lamina_interop::codec::{
    self, BoundedBytes, BoundedString, BoundedVec, Canonical, DecodeError,
};
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};
use proptest::collection::vec;
use proptest::prelude::*;

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 32]>().prop_map(Address)
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        hash(),
        any::<u64>(),
        address(),
        hash(),
        any::<u32>(),
        any::<u64>(),
        hash(),
    )
        .prop_map(
            |(chain, height, parent, ts, proposer, tx_root, tx_count, state_height, state_root)| {
                Header {
                    chain_id: ChainId(chain),
                    height: Height(height),
                    parent,
                    timestamp: Timestamp(ts),
                    proposer,
                    tx_root,
                    tx_count,
                    state_height: Height(state_height),
                    state_root,
                }
            },
        )
}

fn raw_tx() -> impl Strategy<Value = RawTx> {
    vec(any::<u8>(), 0..300).prop_map(|b| RawTx::try_from_vec(b).unwrap())
}

fn block() -> impl Strategy<Value = Block> {
    (header(), vec(raw_tx(), 0..20)).prop_map(|(header, txs)| Block {
        header,
        txs: BoundedVec::try_from_vec(txs).unwrap(),
    })
}

fn event() -> impl Strategy<Value = EventRecord> {
    (any::<u16>(), vec(any::<u8>(), 0..200)).prop_map(|(module, data)| EventRecord {
        module,
        data: BoundedBytes::try_from_vec(data).unwrap(),
    })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        (any::<u16>(), any::<u32>(), ".{0,80}").prop_map(|(module, code, reason)| {
            Outcome::Failed {
                module,
                code,
                reason: BoundedString::<MAX_REASON_LEN>::truncate_from(reason),
            }
        }),
    ]
}

fn receipt() -> impl Strategy<Value = Receipt> {
    (
        hash(),
        outcome(),
        any::<u64>(),
        any::<u128>(),
        vec(event(), 0..8),
    )
        .prop_map(|(tx, outcome, gas_used, fee_paid, events)| Receipt {
            tx,
            outcome,
            gas_used,
            fee_paid,
            events: BoundedVec::try_from_vec(events).unwrap(),
        })
}

/// Encode, decode, compare; and the encoding is a function of the value.
fn round_trip<T: Canonical + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = value.encode();
    assert!(
        bytes.len() <= T::MAX_ENCODED_LEN,
        "{} encodes beyond its own limit",
        T::NAME
    );
    let back = T::decode(&bytes).unwrap();
    assert_eq!(&back, value);
    assert_eq!(back.encode(), bytes);
}

fn round_trip_borsh<
    T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
>(
    value: &T,
) {
    let bytes = codec::encode(value);
    let back: T = codec::decode_limited(&bytes, "value", usize::MAX).unwrap();
    assert_eq!(&back, value);
}

proptest! {
    #[test]
    fn header_round_trips(h in header()) {
        round_trip(&h);
        prop_assert_eq!(h.encode().len(), Header::MAX_ENCODED_LEN, "headers have a fixed size");
    }

    #[test]
    fn block_round_trips(b in block()) { round_trip(&b); }

    #[test]
    fn receipt_round_trips(r in receipt()) { round_trip(&r); }

    #[test]
    fn primitives_round_trip(
        h in hash(), a in address(), k in any::<[u8; 32]>(), s in vec(any::<u8>(), 64),
        c in any::<u64>(), t in any::<u64>()
    ) {
        round_trip_borsh(&h);
        round_trip_borsh(&a);
        round_trip_borsh(&PublicKey(k));
        round_trip_borsh(&Signature(s.try_into().unwrap()));
        round_trip_borsh(&ChainId(c));
        round_trip_borsh(&Height(c));
        round_trip_borsh(&Timestamp(t));
    }

    #[test]
    fn event_and_outcome_round_trip(e in event(), o in outcome()) {
        round_trip_borsh(&e);
        round_trip_borsh(&o);
    }

    #[test]
    fn bounded_collections_round_trip(
        items in vec(any::<u32>(), 0..=16),
        bytes in vec(any::<u8>(), 0..=64),
        text in ".{0,16}",
    ) {
        round_trip_borsh(&BoundedVec::<u32, 16>::try_from_vec(items).unwrap());
        round_trip_borsh(&BoundedBytes::<64>::try_from_vec(bytes).unwrap());
        round_trip_borsh(&BoundedString::<64>::truncate_from(text));
    }

    /// Random bytes either decode to a value that re-encodes to the same bytes (canonical),
    /// or give a typed error; they never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        if let Ok(h) = Header::decode(&bytes) { prop_assert_eq!(h.encode(), bytes.clone()); }
        if let Ok(b) = Block::decode(&bytes) { prop_assert_eq!(b.encode(), bytes.clone()); }
        if let Ok(r) = Receipt::decode(&bytes) { prop_assert_eq!(r.encode(), bytes.clone()); }
    }

    /// Mutating one byte of a valid encoding never panics the decoder.
    #[test]
    fn mutated_encodings_never_panic(b in block(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = b.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(decoded) = Block::decode(&bytes) { prop_assert_eq!(decoded.encode(), bytes); }
    }
}

#[test]
fn oversized_length_prefixes_fail_before_allocating() {
    // A block whose transaction count claims u32::MAX: refused by the bound, not by running
    // out of input after a huge allocation.
    let mut bytes = vec![0u8; Header::MAX_ENCODED_LEN];
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Block::decode(&bytes),
        Err(DecodeError::LengthExceeded { .. })
    ));
    // An event claiming 1 GiB of data.
    let mut bytes = vec![0u8; 2];
    bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
    let err = codec::decode_limited::<EventRecord>(&bytes, "EventRecord", 1 << 20).unwrap_err();
    assert_eq!(
        err,
        DecodeError::LengthExceeded {
            what: "BoundedBytes",
            len: 1 << 30,
            max: MAX_EVENT_LEN as u64
        }
    );
}
