//! The transaction format.
//!
//! A transaction is the borsh encoding of [`SignedTx`]; its id is the SHA-256 of those bytes.
//! Every integer is little-endian; `call` is length-prefixed:
//!
//! ```text
//! offset  size  field
//!      0     8  chain_id    u64   the chain the transaction is for
//!      8    32  sender      [u8]  Ed25519 public key of the signer
//!     40     8  nonce       u64   the sender's next nonce when it executes
//!     48    16  max_fee     u128  most the sender pays, in the fee asset's smallest unit
//!     64    16  tip         u128  the part of the fee offered to the block producer
//!     80     8  gas_limit   u64   most gas the transaction may use
//!     88     2  module      u16   index of the module in the runtime
//!     90     4  call_len    u32   at most MAX_CALL_LEN (16 KiB)
//!     94     n  call        [u8]  the module's borsh encoding of its call
//!   94+n    64  signature   [u8]  Ed25519 over the signing payload below
//! ```
//!
//! The signature covers the domain-separated payload of `interop::signing` with domain
//! `"lamina/tx/v1"`, the chain id, and the encoding of the first eight fields (bytes
//! `0 .. 94+n`):
//!
//! ```text
//! "lamina\0" | 0x0c | "lamina/tx/v1" | chain_id u64 LE | bytes 0 .. 94+n
//! ```
//!
//! The fee actually charged is `gas_used * gas_price + tip`, where `gas_price` is the chain's
//! price of gas; admission requires `max_fee >= gas_limit * gas_price + tip`, so the charge
//! never exceeds `max_fee`.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::block::RawTx;
use lamina_interop::codec::{BoundedBytes, Canonical, DecodeError};
use lamina_interop::crypto::{PublicKey, SecretKey, Signature};
use lamina_interop::signing::{Domain, SigningPayload};
use lamina_interop::{Address, ChainId, Hash};

/// Largest encoded call, in bytes.
pub const MAX_CALL_LEN: usize = 16 * 1024;

/// Size of a transaction's fixed fields, without the call bytes.
pub const TX_OVERHEAD: usize = 8 + 32 + 8 + 16 + 16 + 8 + 2 + 4 + 64;

/// Largest encoded transaction, in bytes.
pub const MAX_TX_SIZE: usize = TX_OVERHEAD + MAX_CALL_LEN;

/// What the sender signs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct UnsignedTx {
    /// The chain the transaction is for.
    pub chain_id: ChainId,
    /// The signer's public key.
    pub sender: PublicKey,
    /// The sender's nonce: transactions of one sender execute in nonce order, each once.
    pub nonce: u64,
    /// Most the sender pays, in the fee asset's smallest unit.
    pub max_fee: u128,
    /// The part of the fee offered to the block producer; the pool orders by it.
    pub tip: u128,
    /// Most gas the transaction may use.
    pub gas_limit: u64,
    /// Index of the module in the runtime.
    pub module: u16,
    /// The module's encoding of its call.
    pub call: BoundedBytes<MAX_CALL_LEN>,
}

impl UnsignedTx {
    /// The bytes the signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        SigningPayload::new(
            self.chain_id,
            Domain::TRANSACTION,
            &lamina_interop::codec::encode(self),
        )
        .message()
    }

    /// Signs with `key`, which should be the key of `sender`.
    pub fn sign(self, key: &SecretKey) -> SignedTx {
        let signature = key.sign_raw(&self.signing_bytes());
        SignedTx {
            body: self,
            signature,
        }
    }
}

/// A transaction: the body and the sender's signature over it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTx {
    /// What was signed.
    pub body: UnsignedTx,
    /// The sender's signature over [`UnsignedTx::signing_bytes`].
    pub signature: Signature,
}

impl Canonical for SignedTx {
    const NAME: &'static str = "Transaction";
    const MAX_ENCODED_LEN: usize = MAX_TX_SIZE;
}

impl SignedTx {
    /// The account that signed.
    pub fn sender_address(&self) -> Address {
        Address::of(&self.body.sender)
    }

    /// The canonical encoding as a block carries it.
    pub fn to_raw(&self) -> RawTx {
        RawTx::try_from_vec(self.encode())
            .unwrap_or_else(|_| unreachable!("MAX_TX_SIZE is below the block's transaction limit"))
    }

    /// The bytes the signature of the transaction encoded as `raw` covers, straight from the
    /// encoding: a transaction is its body's encoding followed by the 64-byte signature.
    /// `raw` must have decoded with [`SignedTx::decode_raw`] (which refuses trailing bytes).
    pub fn signing_bytes_of_raw(chain_id: ChainId, raw: &[u8]) -> Vec<u8> {
        let body = &raw[..raw.len().saturating_sub(64)];
        SigningPayload::new(chain_id, Domain::TRANSACTION, body).message()
    }

    /// Decodes untrusted bytes (size checked first, trailing bytes refused).
    pub fn decode_raw(bytes: &[u8]) -> Result<SignedTx, DecodeError> {
        <SignedTx as Canonical>::decode(bytes)
    }
}

/// A transaction whose signature has been checked, with what the pipeline needs from it.
/// Only admission and proposal verification make one: holding it is proof that the signature
/// was verified, so nothing downstream verifies it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The transaction.
    pub tx: SignedTx,
    /// Its id: the hash of its encoding.
    pub id: Hash,
    /// The sender's address.
    pub sender: Address,
    /// Its encoding as it arrived, kept from admission to the block that carries it, so a
    /// block is built from these bytes and never from a second encoding.
    pub raw: RawTx,
}

impl VerifiedTx {
    /// Wraps a transaction whose signature the caller has just verified.
    pub(crate) fn after_verification(tx: SignedTx, id: Hash, raw: RawTx) -> VerifiedTx {
        let sender = tx.sender_address();
        VerifiedTx {
            tx,
            id,
            sender,
            raw,
        }
    }

    /// [`VerifiedTx::after_verification`] when the caller has derived the sender's address
    /// already (it is a hash of the public key: worth computing once).
    pub(crate) fn with_sender(tx: SignedTx, sender: Address, id: Hash, raw: RawTx) -> VerifiedTx {
        debug_assert_eq!(sender, tx.sender_address());
        VerifiedTx {
            tx,
            id,
            sender,
            raw,
        }
    }

    /// The length of its encoding.
    pub fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    /// Decodes and verifies one transaction on its own, outside admission's batches: for a
    /// block this node did not see through its own pool.
    pub fn verify(bytes: &[u8]) -> Result<VerifiedTx, TxError> {
        let tx = SignedTx::decode_raw(bytes)?;
        tx.body
            .sender
            .verify_raw(&tx.body.signing_bytes(), &tx.signature)
            .map_err(|_| TxError::BadSignature)?;
        // Decoding refused anything over MAX_TX_SIZE, below a block's transaction limit.
        let raw = RawTx::try_from_vec(bytes.to_vec()).map_err(|_| {
            TxError::Decode(DecodeError::TooLarge {
                what: "Transaction",
                len: bytes.len(),
                max: MAX_TX_SIZE,
            })
        })?;
        Ok(VerifiedTx::after_verification(tx, Hash::of(bytes), raw))
    }

    /// A transaction treated as verified without checking, for tests and benchmarks of the
    /// stages after admission.
    #[doc(hidden)]
    pub fn assume_verified(tx: SignedTx) -> VerifiedTx {
        let raw = tx.to_raw();
        let id = Hash::of(raw.as_ref());
        VerifiedTx::after_verification(tx, id, raw)
    }
}

/// Why bytes are not a valid transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

#[cfg(test)]
mod tests {
    use lamina_interop::codec::Canonical;

    use super::*;

    fn sample(call_len: usize) -> SignedTx {
        let key = SecretKey::from_seed([7; 32]);
        UnsignedTx {
            chain_id: ChainId(42),
            sender: key.public_key(),
            nonce: 3,
            max_fee: 1_000_000,
            tip: 10,
            gas_limit: 50_000,
            module: 1,
            call: BoundedBytes::try_from_vec(vec![0xab; call_len]).unwrap(),
        }
        .sign(&key)
    }

    #[test]
    fn layout_matches_the_documented_offsets() {
        let tx = sample(5);
        let bytes = tx.encode();
        assert_eq!(bytes.len(), TX_OVERHEAD + 5);
        assert_eq!(&bytes[0..8], &42u64.to_le_bytes());
        assert_eq!(&bytes[8..40], &tx.body.sender.0);
        assert_eq!(&bytes[40..48], &3u64.to_le_bytes());
        assert_eq!(&bytes[48..64], &1_000_000u128.to_le_bytes());
        assert_eq!(&bytes[64..80], &10u128.to_le_bytes());
        assert_eq!(&bytes[80..88], &50_000u64.to_le_bytes());
        assert_eq!(&bytes[88..90], &1u16.to_le_bytes());
        assert_eq!(&bytes[90..94], &5u32.to_le_bytes());
        assert_eq!(&bytes[94..99], &[0xab; 5]);
        assert_eq!(&bytes[99..], &tx.signature.0);
        let mut signed = b"lamina\0\x0clamina/tx/v1".to_vec();
        signed.extend_from_slice(&42u64.to_le_bytes());
        signed.extend_from_slice(&bytes[..99]);
        assert_eq!(tx.body.signing_bytes(), signed);
        assert_eq!(SignedTx::signing_bytes_of_raw(ChainId(42), &bytes), signed);
    }

    #[test]
    fn round_trip_and_verify() {
        let tx = sample(100);
        let bytes = tx.encode();
        let verified = VerifiedTx::verify(&bytes).unwrap();
        assert_eq!(verified.tx, tx);
        assert_eq!(verified.id, Hash::of(&bytes));
        assert_eq!(verified.sender, Address::of(&tx.body.sender));
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let tx = sample(10);
        let mut bytes = tx.encode();
        bytes[45] ^= 1; // the nonce
        assert_eq!(VerifiedTx::verify(&bytes), Err(TxError::BadSignature));
    }

    #[test]
    fn limits() {
        let mut bytes = sample(MAX_CALL_LEN).encode();
        assert_eq!(bytes.len(), MAX_TX_SIZE);
        assert!(SignedTx::decode_raw(&bytes).is_ok());
        bytes.push(0);
        assert!(matches!(
            SignedTx::decode_raw(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let short = &sample(3).encode()[..50];
        assert!(SignedTx::decode_raw(short).is_err());
    }
}
