//! Batch and single verification agree, on random inputs and on the edge cases where
//! Ed25519 implementations historically disagree: small-order points, non-canonical point
//! encodings, and non-canonical scalars (ZIP-215). Each verdict is also held to that of
//! `ed25519-consensus`, the verifier the chain used before `ed25519-zebra` (ADR 0027): a
//! difference would split the chain between nodes of two versions.

use lamina_interop::crypto::{
    verify_each, BatchVerifier, CryptoError, PublicKey, SecretKey, Signature,
};
use proptest::prelude::*;

fn single(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    key.verify_raw(message, sig).is_ok()
}

fn batch_of_one(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    let mut batch = BatchVerifier::new();
    batch.add(key, message, sig);
    batch.verify().is_ok()
}

/// What `ed25519-consensus` says of one signature.
fn reference(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    ed25519_consensus::VerificationKey::try_from(key.0)
        .and_then(|key| key.verify(&ed25519_consensus::Signature::from(sig.0), message))
        .is_ok()
}

fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// Encodings of the eight points of small order, canonical and not: the identity, the point
/// of order 2, the two of order 4 and the four of order 8, plus encodings with `y >= p` and
/// with the sign bit set on `x = 0`.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        // Non-canonical: y = p and y = p + 1 (that is, 0 and 1), each with both sign bits.
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        // The identity with the sign bit set.
        "0100000000000000000000000000000000000000000000000000000000000080",
    ]
    .iter()
    .map(|h| hex32(h))
    .collect();
    out.dedup();
    out
}

/// The group order l, little-endian: a non-canonical `s`.
const L: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

#[test]
fn small_order_and_non_canonical_cases_agree() {
    let encodings = small_order_encodings();
    let mut accepted = 0;
    let mut cases = 0;
    for a in &encodings {
        for r in &encodings {
            for s in [[0u8; 32], hex32(L)] {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(r);
                sig[32..].copy_from_slice(&s);
                let (key, sig) = (PublicKey(*a), Signature(sig));
                let one = single(&key, b"Zcash", &sig);
                assert_eq!(
                    one,
                    batch_of_one(&key, b"Zcash", &sig),
                    "A={a:02x?} R={r:02x?} s={s:02x?}"
                );
                assert_eq!(
                    one,
                    reference(&key, b"Zcash", &sig),
                    "A={a:02x?} R={r:02x?}"
                );
                if s != [0u8; 32] {
                    assert!(!one, "a non-canonical s is always refused");
                }
                accepted += usize::from(one);
                cases += 1;
            }
        }
    }
    // With s = 0 and small-order A and R, the cofactored equation holds: ZIP-215 accepts
    // them, non-canonical encodings included, and so must both paths.
    assert_eq!(cases, encodings.len() * encodings.len() * 2);
    assert_eq!(accepted, encodings.len() * encodings.len());
}

/// Every encoding with `y` from p to p + 18 (either sign bit), as key and as `R`, whether it
/// decodes to a point of small order, of large order, or to none.
#[test]
fn encodings_above_the_modulus_get_the_old_verdicts() {
    let mut encodings = Vec::new();
    for excess in 0u8..19 {
        for top in [0x7f, 0xff] {
            let mut y = [0xffu8; 32];
            y[0] = 0xed + excess;
            y[31] = top;
            encodings.push(y);
        }
    }
    let key = SecretKey::from_seed([3; 32]).public_key();
    let mut accepted = 0;
    for a in &encodings {
        for r in encodings.iter().chain([&key.0]) {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(r);
            let (key, sig) = (PublicKey(*a), Signature(sig));
            let one = single(&key, b"m", &sig);
            assert_eq!(one, reference(&key, b"m", &sig), "A={a:02x?} R={r:02x?}");
            assert_eq!(one, batch_of_one(&key, b"m", &sig));
            accepted += usize::from(one);
        }
    }
    assert!(accepted > 0 && accepted < encodings.len() * (encodings.len() + 1));
}

#[test]
fn invalid_point_is_refused_by_both() {
    // y = 2 is not on the curve.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    let sig = SecretKey::from_seed([1; 32]).sign_raw(b"m");
    let key = PublicKey(not_a_point);
    assert_eq!(
        key.verify_raw(b"m", &sig),
        Err(CryptoError::InvalidPublicKey)
    );
    assert!(!batch_of_one(&key, b"m", &sig));
}

#[test]
fn empty_batch_verifies() {
    assert_eq!(BatchVerifier::new().verify(), Ok(()));
    assert!(verify_each(std::iter::empty::<(&PublicKey, &[u8], &Signature)>()).is_empty());
}

#[derive(Debug, Clone)]
enum Tamper {
    None,
    Message(usize),
    SigBit(usize),
    KeyBit(usize),
    RandomSig([u8; 32], [u8; 32]),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        3 => Just(Tamper::None),
        1 => any::<usize>().prop_map(Tamper::Message),
        1 => (0usize..512).prop_map(Tamper::SigBit),
        1 => (0usize..256).prop_map(Tamper::KeyBit),
        1 => any::<([u8; 32], [u8; 32])>().prop_map(|(r, s)| Tamper::RandomSig(r, s)),
    ]
}

fn case(seed: [u8; 32], mut message: Vec<u8>, tamper: &Tamper) -> (PublicKey, Vec<u8>, Signature) {
    let secret = SecretKey::from_seed(seed);
    let mut key = secret.public_key();
    let mut sig = secret.sign_raw(&message);
    match tamper {
        Tamper::None => {}
        Tamper::Message(at) => {
            if message.is_empty() {
                message.push(0);
            } else {
                let i = at % message.len();
                message[i] ^= 0x01;
            }
        }
        Tamper::SigBit(bit) => sig.0[bit / 8] ^= 1 << (bit % 8),
        Tamper::KeyBit(bit) => key.0[bit / 8] ^= 1 << (bit % 8),
        Tamper::RandomSig(r, s) => {
            sig.0[..32].copy_from_slice(r);
            sig.0[32..].copy_from_slice(s);
        }
    }
    (key, message, sig)
}

proptest! {
    #[test]
    fn single_and_batch_agree_on_random_inputs(
        seed in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        tamper in tamper(),
    ) {
        let (key, message, sig) = case(seed, message, &tamper);
        let one = single(&key, &message, &sig);
        prop_assert_eq!(one, batch_of_one(&key, &message, &sig));
        prop_assert_eq!(one, reference(&key, &message, &sig));
        if matches!(tamper, Tamper::None) {
            prop_assert!(one, "an untouched signature verifies");
        }
    }

    #[test]
    fn a_batch_verifies_exactly_when_every_item_does(
        cases in proptest::collection::vec(
            (any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 0..64), tamper()), 1..12),
    ) {
        let items: Vec<_> = cases.iter().map(|(seed, msg, t)| case(*seed, msg.clone(), t)).collect();
        let singles: Vec<bool> = items.iter().map(|(k, m, s)| single(k, m, s)).collect();
        let mut batch = BatchVerifier::new();
        for (k, m, s) in &items {
            batch.add(k, m, s);
        }
        prop_assert_eq!(batch.verify().is_ok(), singles.iter().all(|ok| *ok));
        let each: Vec<bool> = verify_each(items.iter().map(|(k, m, s)| (k, m.as_slice(), s)))
            .iter()
            .map(Result::is_ok)
            .collect();
        prop_assert_eq!(each, singles);
    }
}
