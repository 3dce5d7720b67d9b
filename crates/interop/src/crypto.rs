//! Ed25519 keys and signatures under the ZIP-215 validation rules.
//!
//! ZIP-215 fixes which signatures are valid (any point encoding that decompresses, canonical
//! `s` only, the cofactored equation), so that single and batch verification accept exactly
//! the same set. Consensus depends on that: a block whose signatures one validator checks
//! in a batch and another one by one must get the same verdict. The rules are those of the
//! `ed25519-zebra` crate, which this module wraps, the reference implementation of ZIP-215
//! (ADR 0027); a test checks its verdicts against `ed25519-consensus`, which the chain used
//! before, on the encodings where Ed25519 implementations disagree.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_zebra::{batch, SigningKey, VerificationKey, VerificationKeyBytes};
use rand::RngCore as _;
use rand_chacha::rand_core::SeedableRng as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

/// Why a key or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The public key bytes are not the encoding of a curve point.
    #[error("public key is not a valid curve point")]
    InvalidPublicKey,
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    InvalidSignature,
    /// At least one signature of a batch does not verify.
    #[error("a signature in the batch does not verify")]
    BatchFailed,
    /// A key or signature had the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    WrongLength {
        /// The required length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// Text was not valid hex.
    #[error("invalid hex")]
    InvalidHex,
}

/// An ed25519 public key: the 32-byte point encoding, as received. Whether it is a valid
/// point is checked when a signature is verified, so decoding a key never fails on content.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature: `R` (32 bytes) then `s` (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

/// An ed25519 secret key. The seed is wiped from memory when the key is dropped, and never
/// printed.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> SecretKey {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let key = SecretKey::from_seed(seed);
        seed.zeroize();
        key
    }

    /// The key whose seed is `seed`. Dev accounts and tests derive keys this way.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from(seed))
    }

    /// The 32-byte seed. Handle with care: it is the key.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verification_key().into())
    }

    /// Signs `message` as given. Protocol code signs a
    /// [`SigningPayload`](crate::signing::SigningPayload) instead, which binds the chain and
    /// the purpose.
    pub fn sign_raw(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public_key())
    }
}

impl PublicKey {
    /// Verifies `signature` over `message` under ZIP-215 rules.
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        let key = VerificationKey::try_from(self.0).map_err(|_| CryptoError::InvalidPublicKey)?;
        key.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), message)
            .map_err(|_| CryptoError::InvalidSignature)
    }

    /// Parses 64 hex digits, with or without a `0x` prefix.
    pub fn from_hex(text: &str) -> Result<PublicKey, CryptoError> {
        parse_hex(text).map(PublicKey)
    }

    /// Whether the key is a point of small order (one of the eight, in any encoding that
    /// decompresses). Under ZIP-215 such a key verifies a signature with a small-order `R`
    /// and `s = 0` on every message, so anyone can sign for it: never take one as an account
    /// or a validator. No key derived from a secret key is small-order.
    pub fn is_small_order(&self) -> bool {
        curve25519_dalek::edwards::CompressedEdwardsY(self.0)
            .decompress()
            .is_some_and(|point| point.is_small_order())
    }
}

impl Signature {
    /// Parses 128 hex digits, with or without a `0x` prefix.
    pub fn from_hex(text: &str) -> Result<Signature, CryptoError> {
        parse_hex(text).map(Signature)
    }
}

fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], CryptoError> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.len() != 2 * N {
        return Err(CryptoError::WrongLength {
            expected: N,
            got: text.len() / 2,
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| CryptoError::InvalidHex)?;
    Ok(out)
}

/// Collects signatures and verifies them together, about twice as fast per signature as one
/// by one. Accepts exactly what [`PublicKey::verify_raw`] accepts.
#[derive(Default)]
pub struct BatchVerifier {
    inner: batch::Verifier,
    len: usize,
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> BatchVerifier {
        BatchVerifier::default()
    }

    /// Adds one signature to check.
    pub fn add(&mut self, key: &PublicKey, message: &[u8], signature: &Signature) {
        let item: batch::Item = (
            VerificationKeyBytes::from(key.0),
            ed25519_zebra::Signature::from_bytes(&signature.0),
            message,
        )
            .into();
        self.inner.queue(item);
        self.len += 1;
    }

    /// Number of signatures added.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `Ok` when every signature verifies; [`CryptoError::BatchFailed`] when at least one does
    /// not (an invalid public key included). An empty batch verifies.
    pub fn verify(self) -> Result<(), CryptoError> {
        // The batch's random coefficients must be unpredictable to whoever chose the
        // signatures: a ChaCha20 stream seeded from the thread's generator, itself reseeded
        // from the operating system.
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        self.inner
            .verify(rand_chacha::ChaCha20Rng::from_seed(seed))
            .map_err(|_| CryptoError::BatchFailed)
    }
}

/// Verifies each `(key, message, signature)` and says which ones hold, at batch speed when
/// all hold. When the batch fails it falls back to checking one by one, which gives the same
/// per-item verdicts because both follow ZIP-215.
pub fn verify_each<'a, I>(items: I) -> Vec<Result<(), CryptoError>>
where
    I: IntoIterator<Item = (&'a PublicKey, &'a [u8], &'a Signature)> + Clone,
{
    let mut batch = BatchVerifier::new();
    for (key, message, signature) in items.clone() {
        batch.add(key, message, signature);
    }
    let count = batch.len();
    if batch.verify().is_ok() {
        return vec![Ok(()); count];
    }
    items
        .into_iter()
        .map(|(key, message, signature)| key.verify_raw(message, signature))
        .collect()
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

macro_rules! hex_serde {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                let text = <String as Deserialize>::deserialize(deserializer)?;
                $ty::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_serde!(PublicKey);
hex_serde!(Signature);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let key = SecretKey::from_seed([7; 32]);
        let sig = key.sign_raw(b"hello");
        assert_eq!(key.public_key().verify_raw(b"hello", &sig), Ok(()));
        assert_eq!(
            key.public_key().verify_raw(b"hellO", &sig),
            Err(CryptoError::InvalidSignature)
        );
        let other = SecretKey::from_seed([8; 32]).public_key();
        assert_eq!(
            other.verify_raw(b"hello", &sig),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn a_small_order_key_verifies_a_forged_signature_on_every_message() {
        // The identity point: y = 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let key = PublicKey(identity);
        assert!(key.is_small_order());
        // R = the identity, s = 0: the cofactored equation holds whatever the message.
        let mut forged = [0u8; 64];
        forged[0] = 1;
        for message in [&b"pay mallory"[..], b"", b"anything at all"] {
            assert_eq!(key.verify_raw(message, &Signature(forged)), Ok(()));
        }
        // A point of order 2 (y = -1), in its canonical encoding, is small-order too.
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert!(PublicKey(minus_one).is_small_order());
        // Keys from secret keys never are, and the forgery fails on them.
        for seed in 0..64u8 {
            let key = SecretKey::from_seed([seed; 32]).public_key();
            assert!(!key.is_small_order());
            assert!(key.verify_raw(b"pay mallory", &Signature(forged)).is_err());
        }
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032, section 7.1, TEST 1 (empty message).
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let key = SecretKey::from_seed(seed.try_into().unwrap());
        assert_eq!(
            key.public_key().to_string(),
            "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            key.sign_raw(b"").to_string(),
            "0xe5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn batch_reports_failure_and_each_finds_it() {
        let keys: Vec<_> = (0..8u8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let publics: Vec<_> = keys.iter().map(SecretKey::public_key).collect();
        let mut sigs: Vec<_> = keys
            .iter()
            .zip(&messages)
            .map(|(k, m)| k.sign_raw(m))
            .collect();
        fn items<'a>(
            publics: &'a [PublicKey],
            messages: &'a [Vec<u8>],
            sigs: &'a [Signature],
        ) -> impl Iterator<Item = (&'a PublicKey, &'a [u8], &'a Signature)> + Clone {
            publics
                .iter()
                .zip(messages.iter().map(Vec::as_slice))
                .zip(sigs)
                .map(|((k, m), s)| (k, m, s))
        }
        assert!(verify_each(items(&publics, &messages, &sigs))
            .iter()
            .all(Result::is_ok));
        sigs[3].0[0] ^= 1;
        let verdicts = verify_each(items(&publics, &messages, &sigs));
        assert_eq!(verdicts.iter().filter(|v| v.is_err()).count(), 1);
        assert!(verdicts[3].is_err());
    }

    #[test]
    fn secret_key_debug_hides_the_seed() {
        let key = SecretKey::from_seed([0xab; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([0xab; 32])));
        assert!(shown.contains(&key.public_key().to_string()));
    }

    #[test]
    fn hex_parsing_errors() {
        assert_eq!(
            PublicKey::from_hex("0x00"),
            Err(CryptoError::WrongLength {
                expected: 32,
                got: 1
            })
        );
        assert_eq!(
            PublicKey::from_hex(&"zz".repeat(32)),
            Err(CryptoError::InvalidHex)
        );
        let sig = SecretKey::from_seed([1; 32]).sign_raw(b"m");
        assert_eq!(Signature::from_hex(&sig.to_string()), Ok(sig));
    }
}
