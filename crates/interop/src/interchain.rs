//! Packets between chains: the types two chains agree on, their commitments and the keys under
//! which they are proven, in the manner of IBC v2 (light clients and one packet handler, no
//! connection or channel handshakes).
//!
//! ```text
//! source chain                                   destination chain
//! send: commitment at                            recv: proof of the commitment (membership)
//!   prefix | src_client | 0x01 | BE64(seq)         receipt absent -> write receipt
//!                                                  payloads to their ports, then the ack at
//!                                                  prefix | dst_client | 0x03 | BE64(seq)
//! ack: proof of the ack (membership)
//!   -> delete the commitment, then the port
//! timeout: proof that the receipt at
//!   prefix | dst_client | 0x02 | BE64(seq)
//!   is absent at a time >= the packet's timeout
//!   -> delete the commitment, then the port
//! ```
//!
//! # Commitments (byte-exact with IBC v2)
//!
//! ```text
//! commit_payload(p) = sha256(sha256(source_port) | sha256(dest_port) | sha256(version)
//!                            | sha256(encoding) | sha256(value))
//! commit_packet(k)  = sha256(0x02 | sha256(dest_client) | sha256(BE64(timeout))
//!                            | sha256(commit_payload(p_1) | ... | commit_payload(p_n)))
//! commit_ack(a)     = sha256(0x02 | sha256(ack_1) | ... | sha256(ack_n))
//! ```
//!
//! The timeout is hashed as 8 big-endian bytes, as ibc-go does (`Uint64ToBigEndian`); some
//! prose of the specification says little-endian, and the golden vectors in
//! `tests/it/interchain.rs` settle it. An application that fails answers with the error acknowledgement alone, whose one element
//! is [`ERROR_ACK`] = `sha256("UNIVERSAL_ERROR_ACKNOWLEDGEMENT")`.
//!
//! # Keys
//!
//! [`commitment_path`], [`receipt_path`] and [`ack_path`] follow ibc-go's table (commitment
//! 0x01, receipt 0x02, acknowledgement 0x03; the IBC v2 specification's helper functions swap
//! the last two, its table and ibc-go do not). A chain stores them under a prefix it
//! announces; a Lamina chain's is [`LAMINA_PREFIX`]. Client ids are 2 to [`MAX_ID_LEN`]
//! characters of `[a-zA-Z0-9._-]`, so no id holds `/` or the bytes 0x01 to 0x03 and a path
//! reads one way only.
//!
//! # Decoding
//!
//! Every type here is [`Canonical`]: borsh, each field bounded, decoded under its limit.
//! [`Packet::validate`] and [`TokenData::decode`] add the protocol's rules.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::{BoundedBytes, BoundedString, BoundedVec, Canonical, DecodeError};
use crate::hash::Hash;
use crate::module::{Env, WorkingSet};
use crate::types::{ChainId, Height, Timestamp};

/// Longest client id, port, version or encoding, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Most payloads in one packet.
pub const MAX_PAYLOADS: usize = 4;
/// Largest payload value, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 4 * 1024;
/// Largest application acknowledgement, in bytes.
pub const MAX_ACK_LEN: usize = 256;
/// The prefix under which a Lamina chain keeps its commitments, receipts and
/// acknowledgements.
pub const LAMINA_PREFIX: &[u8] = b"interchain/p/";
/// Longest prefix a counterparty may announce.
pub const MAX_PREFIX_LEN: usize = 64;
/// The only element of the acknowledgement of a packet an application refused.
pub const ERROR_ACK: [u8; 32] = error_ack();
/// What the error acknowledgement is the hash of.
pub const ERROR_ACK_PREIMAGE: &[u8] = b"UNIVERSAL_ERROR_ACKNOWLEDGEMENT";

const fn error_ack() -> [u8; 32] {
    // sha256("UNIVERSAL_ERROR_ACKNOWLEDGEMENT"), checked against the hash in a test.
    [
        0x47, 0x74, 0xd4, 0xa5, 0x75, 0x99, 0x3f, 0x96, 0x3b, 0x1c, 0x06, 0x57, 0x37, 0x36, 0x61,
        0x7a, 0x45, 0x7a, 0xbe, 0xf8, 0x58, 0x91, 0x78, 0xdb, 0x8d, 0x10, 0xc9, 0x4b, 0x4a, 0xb5,
        0x11, 0xab,
    ]
}

/// A client id, a port, a version or an encoding.
pub type Id = BoundedString<MAX_ID_LEN>;

/// One application's part of a packet.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The sending application's port.
    pub source_port: Id,
    /// The receiving application's port.
    pub dest_port: Id,
    /// The application's version: `"ics20-1"` for token transfer.
    pub version: Id,
    /// How `value` is encoded: `"application/json"`.
    pub encoding: Id,
    /// The application's data.
    pub value: BoundedBytes<MAX_PAYLOAD_LEN>,
}

/// A packet: what a source chain commits to and a destination chain delivers once.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    /// Unique per source client, from 1.
    pub sequence: u64,
    /// The source chain's client of the destination.
    pub source_client: Id,
    /// The destination chain's client of the source.
    pub dest_client: Id,
    /// UNIX seconds on the destination's clock from which the packet can no longer be
    /// received.
    pub timeout: u64,
    /// One to [`MAX_PAYLOADS`] payloads, delivered together or not at all.
    pub payloads: BoundedVec<Payload, MAX_PAYLOADS>,
}

impl Canonical for Packet {
    const NAME: &'static str = "Packet";
    const MAX_ENCODED_LEN: usize = 8
        + 2 * (4 + MAX_ID_LEN)
        + 8
        + 4
        + MAX_PAYLOADS * (4 * (4 + MAX_ID_LEN) + 4 + MAX_PAYLOAD_LEN);
}

/// What the destination's applications answered, one element per payload.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// Each payload's answer, or [`ERROR_ACK`] alone.
    pub app_acknowledgements: BoundedVec<BoundedBytes<MAX_ACK_LEN>, MAX_PAYLOADS>,
}

impl Canonical for Acknowledgement {
    const NAME: &'static str = "Acknowledgement";
    const MAX_ENCODED_LEN: usize = 4 + MAX_PAYLOADS * (4 + MAX_ACK_LEN);
}

impl Acknowledgement {
    /// The acknowledgement of a packet an application refused.
    pub fn error() -> Acknowledgement {
        Acknowledgement {
            app_acknowledgements: BoundedVec::try_from_vec(vec![bytes(ERROR_ACK.to_vec())])
                .unwrap_or_default(),
        }
    }

    /// Whether this is the error acknowledgement.
    pub fn is_error(&self) -> bool {
        self.app_acknowledgements.len() == 1 && self.app_acknowledgements[0].as_ref() == ERROR_ACK
    }
}

fn bytes<const N: usize>(value: Vec<u8>) -> BoundedBytes<N> {
    BoundedBytes::try_from_vec(value).unwrap_or_default()
}

/// Why a packet breaks the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// A sequence of 0.
    #[error("a packet's sequence starts at 1")]
    ZeroSequence,
    /// A timeout of 0.
    #[error("a packet needs a timeout")]
    NoTimeout,
    /// No payload.
    #[error("a packet carries 1 to {MAX_PAYLOADS} payloads")]
    NoPayload,
    /// An id with a character outside `[a-zA-Z0-9._-]`, or shorter than 2.
    #[error("{what} {id:?} is not 2 to {MAX_ID_LEN} characters of [a-zA-Z0-9._-]")]
    BadId {
        /// Which field.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// An empty version, encoding or value.
    #[error("a payload's {0} is empty")]
    Empty(&'static str),
}

/// Whether `id` is a valid client id or port.
pub fn valid_id(id: &str) -> bool {
    (2..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_id(what: &'static str, id: &str) -> Result<(), PacketError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(PacketError::BadId {
            what,
            id: id.to_string(),
        })
    }
}

impl Packet {
    /// Checks the rules a decoded packet must also meet: no empty field, ids well formed.
    pub fn validate(&self) -> Result<(), PacketError> {
        if self.sequence == 0 {
            return Err(PacketError::ZeroSequence);
        }
        if self.timeout == 0 {
            return Err(PacketError::NoTimeout);
        }
        check_id("source client", self.source_client.as_str())?;
        check_id("destination client", self.dest_client.as_str())?;
        if self.payloads.is_empty() {
            return Err(PacketError::NoPayload);
        }
        for p in self.payloads.iter() {
            check_id("source port", p.source_port.as_str())?;
            check_id("destination port", p.dest_port.as_str())?;
            if p.version.as_str().is_empty() {
                return Err(PacketError::Empty("version"));
            }
            if p.encoding.as_str().is_empty() {
                return Err(PacketError::Empty("encoding"));
            }
            if p.value.is_empty() {
                return Err(PacketError::Empty("value"));
            }
        }
        Ok(())
    }
}

/// `commit_payload` of the module docs.
pub fn commit_payload(payload: &Payload) -> Hash {
    let mut buf = Vec::with_capacity(5 * 32);
    for part in [
        payload.source_port.as_str().as_bytes(),
        payload.dest_port.as_str().as_bytes(),
        payload.version.as_str().as_bytes(),
        payload.encoding.as_str().as_bytes(),
        payload.value.as_ref(),
    ] {
        buf.extend_from_slice(&Hash::of(part).0);
    }
    Hash::of(&buf)
}

/// `commit_packet` of the module docs: the value stored at the packet's commitment path.
pub fn commit_packet(packet: &Packet) -> Hash {
    let mut payloads = Vec::with_capacity(32 * packet.payloads.len());
    for p in packet.payloads.iter() {
        payloads.extend_from_slice(&commit_payload(p).0);
    }
    let mut buf = Vec::with_capacity(1 + 3 * 32);
    buf.push(0x02);
    buf.extend_from_slice(&Hash::of(packet.dest_client.as_str().as_bytes()).0);
    buf.extend_from_slice(&Hash::of(&packet.timeout.to_be_bytes()).0);
    buf.extend_from_slice(&Hash::of(&payloads).0);
    Hash::of(&buf)
}

/// `commit_ack` of the module docs: the value stored at the packet's acknowledgement path.
pub fn commit_ack(ack: &Acknowledgement) -> Hash {
    let mut buf = Vec::with_capacity(1 + 32 * ack.app_acknowledgements.len());
    buf.push(0x02);
    for a in ack.app_acknowledgements.iter() {
        buf.extend_from_slice(&Hash::of(a.as_ref()).0);
    }
    Hash::of(&buf)
}

fn path(client: &str, tag: u8, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(client.len() + 9);
    key.extend_from_slice(client.as_bytes());
    key.push(tag);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// `client | 0x01 | BE64(sequence)`: where the source keeps a packet's commitment.
pub fn commitment_path(source_client: &str, sequence: u64) -> Vec<u8> {
    path(source_client, 0x01, sequence)
}

/// `client | 0x02 | BE64(sequence)`: where the destination marks a packet received.
pub fn receipt_path(dest_client: &str, sequence: u64) -> Vec<u8> {
    path(dest_client, 0x02, sequence)
}

/// `client | 0x03 | BE64(sequence)`: where the destination keeps a packet's acknowledgement.
pub fn ack_path(dest_client: &str, sequence: u64) -> Vec<u8> {
    path(dest_client, 0x03, sequence)
}

/// `prefix | path`: the state key a chain with `prefix` keeps `path` under.
pub fn prefixed(prefix: &[u8], path: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + path.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(path);
    key
}

/// The value of a receipt.
pub const RECEIPT: &[u8] = &[0x01];

/// The port of fungible token transfer.
pub const TRANSFER_PORT: &str = "transfer";
/// Its version.
pub const TRANSFER_VERSION: &str = "ics20-1";
/// Its encoding.
pub const JSON: &str = "application/json";
/// Its success acknowledgement: ICS-20's `{"result":"AQ=="}`.
pub const TRANSFER_SUCCESS: &[u8] = br#"{"result":"AQ=="}"#;
/// Longest denomination, in bytes.
pub const MAX_DENOM_LEN: usize = 512;
/// Longest sender, receiver or memo, in bytes.
pub const MAX_FIELD_LEN: usize = 256;

/// Token transfer's payload value, ICS-20's `FungibleTokenPacketData`: JSON with its keys in
/// this (alphabetical) order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenData {
    /// A decimal integer above zero.
    pub amount: String,
    /// The denomination as the sender knows it: `port/client/` pairs, then the base.
    pub denom: String,
    /// Free text for the receiver's chain.
    #[serde(default)]
    pub memo: String,
    /// The receiver on the destination, as that chain writes addresses.
    pub receiver: String,
    /// The sender on the source.
    pub sender: String,
}

/// Why a transfer payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenDataError {
    /// Not JSON of the shape above, or too long.
    #[error("token data: {0}")]
    Malformed(String),
    /// An amount that is not a decimal integer in 1..=u128::MAX.
    #[error("amount {0:?} is not a whole number above zero")]
    BadAmount(String),
    /// A denomination that is not `port/client/` pairs then a base with no `/`.
    #[error("denomination {0:?} is not port/client pairs and a base")]
    BadDenom(String),
}

impl TokenData {
    /// The payload's bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes untrusted bytes: at most [`MAX_PAYLOAD_LEN`], fields bounded, the amount and the
    /// denomination checked.
    pub fn decode(bytes: &[u8]) -> Result<TokenData, TokenDataError> {
        if bytes.len() > MAX_PAYLOAD_LEN {
            return Err(TokenDataError::Malformed(
                DecodeError::TooLarge {
                    what: "TokenData",
                    len: bytes.len(),
                    max: MAX_PAYLOAD_LEN,
                }
                .to_string(),
            ));
        }
        let data: TokenData =
            serde_json::from_slice(bytes).map_err(|e| TokenDataError::Malformed(e.to_string()))?;
        if [&data.sender, &data.receiver, &data.memo]
            .iter()
            .any(|f| f.len() > MAX_FIELD_LEN)
        {
            return Err(TokenDataError::Malformed(format!(
                "a sender, receiver or memo is longer than {MAX_FIELD_LEN} bytes"
            )));
        }
        data.amount()?;
        split_denom(&data.denom)?;
        Ok(data)
    }

    /// The amount.
    pub fn amount(&self) -> Result<u128, TokenDataError> {
        let bad = || TokenDataError::BadAmount(self.amount.clone());
        if self.amount.is_empty() || !self.amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match self.amount.parse::<u128>() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(n) => Ok(n),
        }
    }
}

/// One hop of a denomination's path: `(port, client)`.
pub type Hop<'d> = (&'d str, &'d str);

/// A denomination's hops (`(port, client)`, outermost first) and its base. Refuses an empty or
/// over-long denomination, an odd number of segments before the base, an ill-formed port or
/// client, and an empty base.
pub fn split_denom(denom: &str) -> Result<(Vec<Hop<'_>>, &str), TokenDataError> {
    let bad = || TokenDataError::BadDenom(denom.to_string());
    if denom.is_empty() || denom.len() > MAX_DENOM_LEN {
        return Err(bad());
    }
    let parts: Vec<&str> = denom.split('/').collect();
    let (base, hops) = parts.split_last().ok_or_else(bad)?;
    if hops.len() % 2 != 0 || base.is_empty() {
        return Err(bad());
    }
    let hops: Vec<(&str, &str)> = hops.chunks(2).map(|c| (c[0], c[1])).collect();
    if hops.iter().any(|(p, c)| !valid_id(p) || !valid_id(c)) {
        return Err(bad());
    }
    Ok((hops, base))
}

/// `port/client/denom`: the denomination a voucher of `denom` has on the chain whose client of
/// the source is `client`.
pub fn prefix_denom(port: &str, client: &str, denom: &str) -> String {
    format!("{port}/{client}/{denom}")
}

/// `denom` without its first hop when that hop is `port/client`: the denomination a token
/// returning through `(port, client)` has at home.
pub fn strip_denom<'d>(port: &str, client: &str, denom: &'d str) -> Option<&'d str> {
    denom
        .strip_prefix(port)?
        .strip_prefix('/')?
        .strip_prefix(client)?
        .strip_prefix('/')
}

/// Largest encoded finality proof, next-set proof or state proof in a message, in bytes: a
/// message travels in one transaction, whose call is at most 16 KiB.
pub const MAX_MESSAGE_PROOF_LEN: usize = 15 * 1024;

/// Proof bytes in a message: a [`FinalityProof`](crate::finality::FinalityProof) or a
/// [`StateProof`](crate::state_proof::StateProof), encoded, decoded by the handler under its
/// own limit.
pub type ProofBytes = BoundedBytes<MAX_MESSAGE_PROOF_LEN>;

/// What a transaction asks of the packet handler (the `interchain` module's call). As JSON:
/// `{"recv_packet": {"packet": {...}, "proof": "0x..", "proof_height": 12}}`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InterchainMsg {
    /// A client of another chain, trusting `checkpoint_*` and `set` (the set that signs the
    /// blocks after the checkpoint) axiomatically. Anyone may create one; its creator alone
    /// registers its counterparty.
    CreateClient {
        /// The chain followed.
        chain_id: ChainId,
        /// Its blocks per epoch, or none for a set that never changes.
        epoch_blocks: Option<u64>,
        /// How long a verified header stays a basis of trust, in milliseconds.
        trusting_period_ms: u64,
        /// The trusted block's height (0: genesis).
        checkpoint_height: Height,
        /// Its id (zero for genesis).
        checkpoint_block: Hash,
        /// Its time.
        checkpoint_time: Timestamp,
        /// The encoded [`ValidatorSet`](crate::finality::ValidatorSet) of the epoch after it.
        set: ProofBytes,
    },
    /// Headers and their certificate (an encoded `FinalityProof`), and optionally the proof of
    /// the next epoch's set at the certified header. Anyone may update a client.
    UpdateClient {
        /// The client.
        client: Id,
        /// The encoded `FinalityProof`.
        proof: ProofBytes,
        /// The encoded `StateProof` of `staking/next_set` against the certified header's
        /// state root.
        next_set: Option<ProofBytes>,
    },
    /// Two finality proofs of different blocks at one height: freezes the client.
    SubmitMisbehaviour {
        /// The client.
        client: Id,
        /// One encoded `FinalityProof`.
        first: ProofBytes,
        /// The other.
        second: ProofBytes,
    },
    /// The counterparty's client of this chain, and the prefix it keeps packets under. Once,
    /// by the client's creator.
    RegisterCounterparty {
        /// Our client.
        client: Id,
        /// The counterparty's client of this chain.
        counterparty_client: Id,
        /// Where the counterparty keeps commitments, receipts and acknowledgements.
        prefix: BoundedBytes<MAX_PREFIX_LEN>,
    },
    /// The chain's authority replaces an expired or frozen client's state by an active
    /// substitute's, of the same chain; its packets and counterparty stay.
    RecoverClient {
        /// The client to recover.
        subject: Id,
        /// A fresh client of the same chain.
        substitute: Id,
    },
    /// A packet the counterparty committed, with a proof of the commitment at `proof_height`
    /// of the counterparty's state.
    RecvPacket {
        /// The packet.
        packet: Packet,
        /// The encoded `StateProof`.
        proof: ProofBytes,
        /// The counterparty's state height the proof is against.
        proof_height: Height,
    },
    /// The counterparty's acknowledgement of a packet we sent.
    Acknowledge {
        /// The packet.
        packet: Packet,
        /// The acknowledgement.
        ack: Acknowledgement,
        /// The encoded `StateProof` of its commitment.
        proof: ProofBytes,
        /// The counterparty's state height the proof is against.
        proof_height: Height,
    },
    /// A packet we sent that the counterparty can no longer receive: a proof that its
    /// receipt is absent at a state whose block time is at or past the timeout.
    Timeout {
        /// The packet.
        packet: Packet,
        /// The encoded `StateProof` of the receipt's absence.
        proof: ProofBytes,
        /// The counterparty's state height the proof is against.
        proof_height: Height,
    },
    /// Sends `amount` of `asset` to `receiver` on the chain `client` follows: escrowed here,
    /// or burned when it is a voucher of that chain's asset.
    Transfer {
        /// Our client of the destination.
        client: Id,
        /// The receiver, as the destination writes addresses.
        receiver: BoundedString<MAX_FIELD_LEN>,
        /// The asset.
        asset: u32,
        /// How much.
        amount: crate::module::Amount,
        /// Seconds from this block's time after which the packet times out.
        #[serde(default = "default_timeout")]
        timeout_after_s: u64,
        /// Free text for the destination.
        #[serde(default)]
        memo: BoundedString<MAX_FIELD_LEN>,
    },
    /// The authority sets (or with `max_per_window` 0 clears) the most of `asset` that may
    /// leave through transfers in each window of `window_blocks` blocks.
    SetRateLimit {
        /// The asset.
        asset: u32,
        /// The most per window.
        max_per_window: crate::module::Amount,
        /// The window's length.
        window_blocks: u64,
    },
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_S
}

/// A transfer's default time to live: ten minutes.
pub const DEFAULT_TIMEOUT_S: u64 = 600;

/// Why an application refused a packet, an acknowledgement or a timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// An application on a port: the packet handler calls it with state already written (the
/// receipt, or the commitment deleted), so a call that re-enters the handler finds nothing to
/// act on twice.
pub trait Port: Send + Sync + 'static {
    /// Delivers `payload` of `packet`; the application's acknowledgement, or a refusal (the
    /// packet's changes are reverted and the error acknowledgement written).
    fn on_recv(
        &self,
        state: &mut WorkingSet<'_>,
        env: &Env,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<Vec<u8>, PortError>;

    /// The destination answered `ack` to `payload` of a packet this port sent (`ack` is
    /// [`ERROR_ACK`] when the destination refused it). A refusal fails the call.
    fn on_ack(
        &self,
        state: &mut WorkingSet<'_>,
        env: &Env,
        packet: &Packet,
        payload: &Payload,
        ack: &[u8],
    ) -> Result<(), PortError>;

    /// `packet` can no longer be received: undo what sending `payload` did. A refusal fails
    /// the call.
    fn on_timeout(
        &self,
        state: &mut WorkingSet<'_>,
        env: &Env,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<(), PortError>;
}

/// The applications of a chain, by port.
#[derive(Clone, Default)]
pub struct PortMap(Vec<(String, std::sync::Arc<dyn Port>)>);

impl PortMap {
    /// The map with `port` on `name`, replacing one there.
    pub fn with(mut self, name: &str, port: std::sync::Arc<dyn Port>) -> PortMap {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_string(), port));
        self
    }

    /// The application on `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Port> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_ref())
    }
}

impl std::fmt::Debug for PortMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| n))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_acknowledgement_is_the_hash_of_its_preimage() {
        assert_eq!(Hash::of(ERROR_ACK_PREIMAGE).0, ERROR_ACK);
        assert!(Acknowledgement::error().is_error());
    }

    #[test]
    fn denominations_split_into_hops_and_a_base() {
        let (hops, base) = split_denom("transfer/client-1/transfer/client-0/asset-0").unwrap();
        assert_eq!(
            hops,
            vec![("transfer", "client-1"), ("transfer", "client-0")]
        );
        assert_eq!(base, "asset-0");
        for bad in ["", "transfer/asset-0", "transfer//asset-0", "a/b/", "t/c/x"] {
            assert!(split_denom(bad).is_err(), "{bad}");
        }
        assert_eq!(
            strip_denom("transfer", "client-1", "transfer/client-1/asset-0"),
            Some("asset-0")
        );
        assert_eq!(
            strip_denom("transfer", "client-1", "transfer/client-10/asset-0"),
            None
        );
    }
}
