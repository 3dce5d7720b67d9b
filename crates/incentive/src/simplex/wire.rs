//! What validators send each other on the blocks channel: whole blocks (a proposal, a
//! forward, or the answer to a request) and requests for a block by id.
//!
//! ```text
//! 0x00 | block (canonical encoding)      a block
//! 0x01 | id (32 bytes)                   "send me this block"
//! 0x02 | epoch (u64, big-endian)         "send me your latest finalization of this epoch"
//! 0x03 | finalization (simplex encoding) a finalization certificate
//! 0x04 | FinalityCertificate (canonical)  the stored certificate of an epoch's last block
//! ```
//!
//! A validator that falls behind (it missed the certificate that finalized the blocks its
//! peers build on) asks for the latest finalization of the epoch it is in and catches up
//! from it: a peer still in that epoch answers with its latest one, a peer past it with the
//! one that finalized the epoch's last block, after which the asker moves to the next epoch
//! and asks again. A peer that restarted since no longer holds that finalization in memory:
//! it answers with the certificate its block store keeps with the epoch's last block (in
//! Lamina's format, which carries the same signatures without the set's size), and the
//! asker, which knows the epoch's set, rebuilds simplex's finalization from it and checks it
//! as any other.

use lamina_interop::block::Block;
use lamina_interop::codec::{Canonical, DecodeError};
use lamina_interop::Hash;

const BLOCK: u8 = 0;
const REQUEST: u8 = 1;
const TIP: u8 = 2;
const FINALIZED: u8 = 3;
const CLOSED: u8 = 4;

/// One message on the blocks channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// A block.
    Block(Block),
    /// A request for the block with this id.
    Request(Hash),
    /// A request for the latest finalization certificate of an epoch.
    Tip(u64),
    /// A finalization certificate, in simplex's encoding (checked by the receiver).
    Finalized(Vec<u8>),
    /// The stored certificate of an epoch's last block, a `FinalityCertificate`'s canonical
    /// encoding (decoded and checked by the receiver).
    Closed(Vec<u8>),
}

/// Why bytes from a peer are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Empty, or the first byte names no message.
    #[error("unknown message tag")]
    UnknownTag,
    /// A request whose id is not 32 bytes.
    #[error("request is {0} bytes, expected 33")]
    BadRequest(usize),
    /// The block does not decode.
    #[error("block: {0}")]
    Block(#[from] DecodeError),
}

impl Wire {
    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Wire::Block(block) => {
                let body = block.encode();
                let mut out = Vec::with_capacity(1 + body.len());
                out.push(BLOCK);
                out.extend_from_slice(&body);
                out
            }
            Wire::Request(id) => {
                let mut out = Vec::with_capacity(33);
                out.push(REQUEST);
                out.extend_from_slice(&id.0);
                out
            }
            Wire::Tip(epoch) => {
                let mut out = vec![TIP];
                out.extend_from_slice(&epoch.to_be_bytes());
                out
            }
            Wire::Finalized(certificate) | Wire::Closed(certificate) => {
                let mut out = Vec::with_capacity(1 + certificate.len());
                out.push(if matches!(self, Wire::Closed(_)) {
                    CLOSED
                } else {
                    FINALIZED
                });
                out.extend_from_slice(certificate);
                out
            }
        }
    }

    /// Decodes a peer's message; blocks are held to the block size limit.
    pub fn decode(bytes: &[u8]) -> Result<Wire, WireError> {
        match bytes.split_first() {
            Some((&BLOCK, body)) => Ok(Wire::Block(Block::decode(body)?)),
            Some((&REQUEST, id)) => {
                let id: [u8; 32] = id
                    .try_into()
                    .map_err(|_| WireError::BadRequest(bytes.len()))?;
                Ok(Wire::Request(Hash(id)))
            }
            Some((&TIP, epoch)) => {
                let epoch: [u8; 8] = epoch.try_into().map_err(|_| WireError::UnknownTag)?;
                Ok(Wire::Tip(u64::from_be_bytes(epoch)))
            }
            Some((&FINALIZED, certificate)) => Ok(Wire::Finalized(certificate.to_vec())),
            Some((&CLOSED, certificate)) => Ok(Wire::Closed(certificate.to_vec())),
            _ => Err(WireError::UnknownTag),
        }
    }
}

#[cfg(test)]
mod tests {
    use lamina_interop::block::{tx_root, Header, RawTx};
    use lamina_interop::codec::BoundedVec;
    use lamina_interop::{Address, ChainId, Height, Timestamp};

    use super::*;

    fn block() -> Block {
        let txs =
            BoundedVec::try_from_vec(vec![RawTx::try_from_vec(vec![7; 40]).unwrap()]).unwrap();
        Block {
            header: Header {
                chain_id: ChainId(1),
                height: Height(3),
                parent: Hash::of(b"parent"),
                timestamp: Timestamp(9),
                proposer: Address([1; 32]),
                tx_root: tx_root(txs.iter()),
                tx_count: 1,
                state_height: Height(2),
                state_root: Hash::of(b"root"),
            },
            txs,
        }
    }

    #[test]
    fn messages_round_trip() {
        for message in [
            Wire::Block(block()),
            Wire::Request(Hash::of(b"x")),
            Wire::Tip(7),
            Wire::Finalized(vec![1, 2, 3]),
            Wire::Closed(vec![4, 5]),
        ] {
            assert_eq!(Wire::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert_eq!(Wire::decode(&[]), Err(WireError::UnknownTag));
        assert_eq!(Wire::decode(&[9, 1, 2]), Err(WireError::UnknownTag));
        assert_eq!(Wire::decode(&[2, 0]), Err(WireError::UnknownTag));
        assert_eq!(Wire::decode(&[1; 20]), Err(WireError::BadRequest(20)));
        let mut truncated = Wire::Block(block()).encode();
        truncated.truncate(truncated.len() - 5);
        assert!(matches!(Wire::decode(&truncated), Err(WireError::Block(_))));
        let mut trailing = Wire::Block(block()).encode();
        trailing.push(0);
        assert!(matches!(Wire::decode(&trailing), Err(WireError::Block(_))));
    }
}
