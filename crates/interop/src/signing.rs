//! The domain-separated signing payload.
//!
//! Nothing in Lamina signs bare bytes. A signature covers
//!
//! ```text
//! "lamina\0" | len(domain): u8 | domain: utf-8 | chain_id: u64 LE | payload
//! ```
//!
//! The domain names the purpose (a transaction, a consensus vote, a packet) and the chain id
//! names the chain, so a signature made for one purpose or one chain never verifies for
//! another. The prefix is injective: the domain is length-prefixed and the chain id has a
//! fixed width, so no two (domain, chain, payload) triples give the same signed bytes.

use crate::crypto::{CryptoError, PublicKey, SecretKey, Signature};
use crate::types::ChainId;

/// The purpose a signature is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Domain(&'static str);

impl Domain {
    /// A transaction submitted by an account.
    pub const TRANSACTION: Domain = Domain("lamina/tx/v1");
    /// A consensus message (vote, proposal) of a validator.
    pub const CONSENSUS: Domain = Domain("lamina/consensus/v1");
    /// A cross-chain packet.
    pub const PACKET: Domain = Domain("lamina/packet/v1");

    /// A domain of a module's own, such as `"mychain/oracle/v1"`. Names are at most 255
    /// bytes; this is checked at compile time when used in a `const`.
    pub const fn custom(name: &'static str) -> Domain {
        assert!(
            name.len() <= u8::MAX as usize,
            "domain names are at most 255 bytes"
        );
        Domain(name)
    }

    /// The domain's name.
    pub fn name(&self) -> &'static str {
        self.0
    }
}

const MAGIC: &[u8] = b"lamina\0";

/// Bytes to be signed for one purpose on one chain.
#[derive(Clone, Copy, Debug)]
pub struct SigningPayload<'a> {
    /// The chain the signature is for.
    pub chain_id: ChainId,
    /// The purpose.
    pub domain: Domain,
    /// The purpose-specific bytes, usually a canonical encoding.
    pub payload: &'a [u8],
}

impl<'a> SigningPayload<'a> {
    /// A payload for `domain` on `chain_id`.
    pub fn new(chain_id: ChainId, domain: Domain, payload: &'a [u8]) -> Self {
        SigningPayload {
            chain_id,
            domain,
            payload,
        }
    }

    /// The exact bytes that are signed.
    pub fn message(&self) -> Vec<u8> {
        let name = self.domain.0.as_bytes();
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + name.len() + 8 + self.payload.len());
        out.extend_from_slice(MAGIC);
        // `Domain::custom` bounds names to 255 bytes; the built-in ones are short.
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.chain_id.0.to_le_bytes());
        out.extend_from_slice(self.payload);
        out
    }

    /// Signs the payload.
    pub fn sign(&self, key: &SecretKey) -> Signature {
        key.sign_raw(&self.message())
    }

    /// Verifies a signature over the payload.
    pub fn verify(&self, key: &PublicKey, signature: &Signature) -> Result<(), CryptoError> {
        key.verify_raw(&self.message(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_binds_chain_and_domain() {
        let key = SecretKey::from_seed([3; 32]);
        let payload = SigningPayload::new(ChainId(1), Domain::TRANSACTION, b"transfer");
        let sig = payload.sign(&key);
        let public = key.public_key();
        assert_eq!(payload.verify(&public, &sig), Ok(()));
        let other_chain = SigningPayload {
            chain_id: ChainId(2),
            ..payload
        };
        assert_eq!(
            other_chain.verify(&public, &sig),
            Err(CryptoError::InvalidSignature)
        );
        let other_domain = SigningPayload {
            domain: Domain::CONSENSUS,
            ..payload
        };
        assert_eq!(
            other_domain.verify(&public, &sig),
            Err(CryptoError::InvalidSignature)
        );
        assert_eq!(
            key.public_key().verify_raw(b"transfer", &sig),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn prefix_is_injective_across_domain_and_payload_split() {
        // Moving bytes between domain name and payload must change the message.
        let a = SigningPayload::new(ChainId(1), Domain::custom("ab"), b"c").message();
        let b = SigningPayload::new(ChainId(1), Domain::custom("a"), b"bc").message();
        assert_ne!(a, b);
    }

    #[test]
    fn message_layout() {
        let m = SigningPayload::new(ChainId(0x0102), Domain::custom("d"), b"xy").message();
        assert_eq!(m, b"lamina\0\x01d\x02\x01\0\0\0\0\0\0xy");
    }
}
