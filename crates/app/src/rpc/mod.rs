//! JSON-RPC: the server a node exposes and the typed client that talks to it.
//!
//! ```text
//! client --HTTP/WS--> server --SubmitTxs------> agreement (admission)
//!                            --OpenSnapshot---> data layer (balances, nonces)
//!                            ChainReader -----> data layer (blocks, receipts)
//! ```
//!
//! | method | params | result |
//! |---|---|---|
//! | `system_health` | | `{ height, is_syncing, peers }` |
//! | `system_version` | | node version |
//! | `system_chain` | | `{ name, chain_id, gas_price, modules }` |
//! | `rpc_methods` | | method names |
//! | `chain_getFinalizedHead` | | `{ height, hash }` |
//! | `chain_getHeader` | `[height?]` | header with `hash`, or null |
//! | `chain_getBlock` | `[height]` | block with `hash` and its transactions decoded (`calls`), or null |
//! | `chain_getBlockByHash` | `[hash]` | block with `hash`, or null |
//! | `chain_getFinalityProof` | `[height]` | `{ height, certified, epoch, signers, proof }`: the block's finality proof (hex), or null |
//! | `chain_getValidators` | `[blocks?]` | `{ epoch, from, to, uncertified, validators }`: each validator's key, address, blocks proposed, certificates signed and views missed over the last `blocks` (256, at most 1024) finalized blocks of the epoch |
//! | `chain_getTimeline` | `[blocks?]` | `[{ block, height, proposed_ms, notarized_ms, finalized_ms, executed_ms, durable_ms }]`: when this node saw each of its last `blocks` (64, at most 1024) finalized blocks reach each step (ms since 1970; the proposal's is the header's timestamp) |
//! | `chain_getSetChange` | `[epoch]` | `{ epoch, height, keys, finality, proof }`: the set of `epoch` with the state proof (hex) against the root the block at `height` names, and that block's finality proof (hex), or null |
//! | `tx_submit` | `[tx]` or `[[tx, ...]]` (hex) | one verdict per transaction |
//! | `tx_dryRun` | `[tx]` (hex, signed) or `[{ sender, module, call, nonce?, gas_limit?, tip? }]` | `{ height, receipt, events, failed_in }`: the receipt it would get as the next block's first transaction; nothing changes |
//! | `tx_get` | `[id]` | `{ height, index, receipt, events, failed_in }` (events decoded), or null |
//! | `state_getBalance` | `[address, asset?]` | `{ amount }` (decimal string) |
//! | `state_getNonce` | `[address]` | next nonce |
//! | `state_getValue` | `[key]` (hex) | `{ height, root, value, proof }`: the value (or null) with a proof against `root` |
//! | `state_query` | `[module, query]` | the module's answer to its query (both JSON), on committed state |
//! | `tx_encodeCall` | `[module, call]` | `{ module, call }`: the module's index and the call's bytes (hex) |
//!
//! Subscriptions (WebSocket): `chain_subscribeNewHeads` and `chain_subscribeFinalizedHeads`
//! (a header per block), `chain_subscribeEvents` (each block's events), and
//! `tx_submitAndWatch` (`[tx]`: `admitted` or `rejected` with the reason, then `included` and
//! `finalized` with the receipt).
//!
//! Every error says what was wrong: invalid parameters are `-32602` with the reason in `data`,
//! a store or bus failure `-32000`; a request with an id of the wrong type, or whose body does
//! not arrive in time, `-32600` (see `http.rs`). Limits: request body size and time, batch
//! size, connections (see [`RpcLimits`]), and at most [`MAX_SUBMIT_BATCH`] transactions per
//! `tx_submit`. The book's JSON-RPC page states them all, and a test holds it to them.

mod api;
mod client;
mod http;
pub mod openrpc;
mod server;
mod validators;

pub use api::{LaminaApiClient, LaminaApiServer};
pub use client::{RpcClient, RpcClientError};
pub use server::{serve, RpcContext, RpcLimits, RpcServer};
pub use validators::{ValidatorSchedule, DEFAULT_WINDOW, MAX_WINDOW};

use lamina_interop::block::{Header, RawTx};
use lamina_interop::{Address, ChainId, Hash, Height};
use serde::{Deserialize, Serialize};

/// Most transactions one `tx_submit` call may carry.
pub const MAX_SUBMIT_BATCH: usize = 10_000;

/// `system_health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Last finalized height.
    pub height: Height,
    /// Whether the node is catching up.
    pub is_syncing: bool,
    /// Connected peers.
    pub peers: u32,
}

/// `system_chain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainInfo {
    /// The chain's name.
    pub name: String,
    /// The chain id transactions are signed for.
    pub chain_id: ChainId,
    /// Native units per unit of gas: a transaction's `max_fee` must cover
    /// `gas_limit * gas_price + tip`.
    pub gas_price: u64,
    /// The runtime's modules, in index order: a transaction names its module by position.
    #[serde(default)]
    pub modules: Vec<String>,
}

/// `tx_encodeCall`: a call as a transaction carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedCall {
    /// The module's index, the transaction's `module` field.
    pub module: u16,
    /// The call's canonical (borsh) bytes, hex.
    pub call: String,
}

/// `chain_getFinalizedHead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Height (0: genesis only).
    pub height: Height,
    /// Block id (zero at genesis).
    pub hash: Hash,
}

/// A header with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderView {
    /// The block id.
    pub hash: Hash,
    /// The header.
    #[serde(flatten)]
    pub header: Header,
}

/// A block with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    /// The block id.
    pub hash: Hash,
    /// The header.
    pub header: Header,
    /// The transactions' encodings, hex.
    pub txs: Vec<RawTx>,
    /// The certificate stored with the block (canonical encoding, hex), when it has its
    /// own; a block finalized as an ancestor is proven by `chain_getFinalityProof`.
    #[serde(default)]
    pub certificate: Option<String>,
    /// The transactions as people read them, in order: sender, nonce, fees and the call
    /// decoded by its module.
    #[serde(default)]
    pub calls: Vec<CallView>,
}

/// A transaction of a block, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallView {
    /// The transaction id.
    pub id: Hash,
    /// The signer's address; absent when the transaction does not decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<lamina_interop::Address>,
    /// Its nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// The module's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<u16>,
    /// The module, by name, and the call, as the module's JSON form (what `tx_encodeCall`
    /// takes); or why it could not be decoded.
    #[serde(flatten)]
    pub decoded: Decoded,
}

/// A call or an event as JSON, with the module that decoded it; or, when no module of the
/// chain can (an index it lacks, bytes its module refuses), why. The raw bytes stay beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Decoded {
    /// Decoded.
    Module {
        /// The module's name.
        module_name: String,
        /// The call or event.
        value: serde_json::Value,
    },
    /// Not decoded.
    Undecoded {
        /// Why.
        undecoded: String,
    },
}

/// A receipt's event: the record (`module` index, `data` hex) and its decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// The emitting module's index.
    pub module: u16,
    /// The event's bytes, hex.
    pub data: String,
    /// The event decoded by its module.
    #[serde(flatten)]
    pub decoded: Decoded,
}

/// `tx_dryRun`'s parameter: a signed transaction (hex, as `tx_submit` takes it), or a call to
/// run as `sender` without a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DryRunInput {
    /// A signed transaction, hex; its signature is checked.
    Signed(String),
    /// A call, unsigned.
    Unsigned(UnsignedCall),
}

/// A call to dry-run without signing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsignedCall {
    /// Whose call it is: the public key (an address is the hash of one).
    pub sender: lamina_interop::crypto::PublicKey,
    /// The module, by name.
    pub module: String,
    /// The call, as the module's JSON (what `tx_encodeCall` takes).
    pub call: serde_json::Value,
    /// The nonce; the sender's next by default.
    #[serde(default)]
    pub nonce: Option<u64>,
    /// Most gas; [`DRY_RUN_GAS`] by default.
    #[serde(default)]
    pub gas_limit: Option<u64>,
    /// The tip; none by default.
    #[serde(default)]
    pub tip: Option<lamina_interop::module::Amount>,
}

/// The gas limit of an unsigned dry run that names none.
pub const DRY_RUN_GAS: u64 = 1_000_000;

/// `tx_dryRun`'s answer: the receipt the transaction would get as the first of the next
/// block, over the latest committed state, which is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// The committed height whose state it ran over.
    pub height: Height,
    /// The receipt: outcome, gas used, fee, events as bytes.
    pub receipt: lamina_interop::block::Receipt,
    /// The events, decoded.
    pub events: Vec<EventView>,
    /// When the call failed: the name of the module whose error it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_in: Option<String>,
}

/// `tx_get`: a transaction's place and receipt, with the receipt's events decoded and, when
/// the call failed, the failing module's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    /// The block's height, the position and the receipt as stored (events as raw bytes).
    #[serde(flatten)]
    pub record: lamina_interop::chain::TxRecord,
    /// The receipt's events, decoded, in order.
    pub events: Vec<EventView>,
    /// When the call failed: the name of the module whose error it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_in: Option<String>,
}

/// `chain_getFinalityProof`: a block's finality, summarised and encoded. Check it with
/// `FinalityProof::decode(proof)` and `FinalityProof::verify(chain_id, set)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalityProofView {
    /// The proven block's height.
    pub height: Height,
    /// The certified block's height (at or above `height`).
    pub certified: Height,
    /// The epoch whose set signed.
    pub epoch: u64,
    /// The signers, as positions in that set.
    pub signers: Vec<u32>,
    /// The `FinalityProof` (canonical encoding), hex.
    pub proof: String,
}

/// `chain_getSetChange`: the validator set of an epoch, provable from the epoch before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetChangeView {
    /// The epoch the set signs.
    pub epoch: u64,
    /// The block whose state root holds the set.
    pub height: Height,
    /// The set's keys, ascending.
    pub keys: Vec<lamina_interop::crypto::PublicKey>,
    /// The `FinalityProof` of the block at `height` (canonical encoding), hex.
    pub finality: String,
    /// The `StateProof` of `NEXT_SET_KEY` against the root that block names, hex.
    pub proof: String,
}

/// `chain_getValidators`: the current epoch's validators and what each did over the last
/// finalized blocks of the epoch (see `validators.rs` for how each count is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorsView {
    /// The epoch of the last finalized block.
    pub epoch: u64,
    /// The first block counted.
    pub from: Height,
    /// The last block counted: the last finalized.
    pub to: Height,
    /// Counted blocks without a certificate of their own, whose skipped views are unknown.
    pub uncertified: u64,
    /// The set, in key order (a certificate's signer is a position in it).
    pub validators: Vec<ValidatorActivity>,
}

/// One validator's record in [`ValidatorsView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorActivity {
    /// Its consensus key.
    pub key: lamina_interop::crypto::PublicKey,
    /// The address its headers name as proposer.
    pub address: Address,
    /// Blocks it proposed.
    pub proposed: u64,
    /// Certificates carrying its vote.
    pub signed: u64,
    /// Views it led that ended without a block.
    pub missed: u64,
}

/// Most keys `state_getValues` proves at once.
pub const MAX_PROVEN_KEYS: usize = 64;

/// `state_getValue`: a value and its proof. Check it with
/// `lamina_interop::state_proof::verify(root, key, StateProof::decode(proof))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueWithProof {
    /// The committed height.
    pub height: Height,
    /// The state root the proof is against.
    pub root: Hash,
    /// The value, hex, or null when the key has none.
    pub value: Option<String>,
    /// The encoded proof, hex.
    pub proof: String,
}

/// `tx_submit`'s parameter: one transaction or a batch, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TxInput {
    /// One transaction.
    One(String),
    /// A batch.
    Many(Vec<String>),
}

/// The notifications of `tx_submitAndWatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// In the pool.
    Admitted {
        /// The transaction id.
        id: Hash,
    },
    /// Refused at admission.
    Rejected {
        /// The transaction id.
        id: Hash,
        /// Why.
        reason: lamina_interop::messages::Rejection,
    },
    /// In a block.
    Included {
        /// The transaction id.
        id: Hash,
        /// The block's height.
        height: Height,
        /// Position in the block.
        index: u32,
    },
    /// The block is final; the receipt says what happened.
    Finalized {
        /// The transaction id.
        id: Hash,
        /// The block's height.
        height: Height,
        /// The receipt.
        receipt: lamina_interop::block::Receipt,
        /// The receipt's events, decoded.
        #[serde(default)]
        events: Vec<EventView>,
    },
}

/// `state_getBalance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The amount, as a decimal string (JSON numbers lose precision past 2^53).
    pub amount: String,
}

#[cfg(test)]
mod tests {
    use lamina_interop::messages::Rejection;

    use super::{RpcLimits, MAX_PROVEN_KEYS, MAX_SUBMIT_BATCH};

    const PAGE: &str = include_str!("../../../../book/src/reference/rpc.md");

    /// Every rejection, once; the match fails to compile when a reason is added, so the list
    /// (and the book's table) cannot forget one.
    fn every_rejection() -> Vec<Rejection> {
        let all = vec![
            Rejection::Malformed {
                detail: String::new(),
            },
            Rejection::UnknownModule { module: 0, last: 0 },
            Rejection::TooLarge { len: 0, max: 0 },
            Rejection::BadSignature,
            Rejection::WrongChain {
                expected: 0,
                got: 0,
            },
            Rejection::NonceTooLow {
                expected: 0,
                got: 0,
            },
            Rejection::NonceGap {
                expected: 0,
                got: 0,
                max_gap: 0,
            },
            Rejection::FeeTooLow { min: 0, offered: 0 },
            Rejection::InsufficientBalance {
                balance: 0,
                needed: 0,
            },
            Rejection::PoolFull,
            Rejection::SenderFull {
                max_txs: 0,
                max_bytes: 0,
            },
            Rejection::Duplicate,
            Rejection::Unavailable {
                detail: String::new(),
            },
        ];
        for (i, r) in all.iter().enumerate() {
            let position = match r {
                Rejection::Malformed { .. } => 0,
                Rejection::UnknownModule { .. } => 1,
                Rejection::TooLarge { .. } => 2,
                Rejection::BadSignature => 3,
                Rejection::WrongChain { .. } => 4,
                Rejection::NonceTooLow { .. } => 5,
                Rejection::NonceGap { .. } => 6,
                Rejection::FeeTooLow { .. } => 7,
                Rejection::InsufficientBalance { .. } => 8,
                Rejection::PoolFull => 9,
                Rejection::SenderFull { .. } => 10,
                Rejection::Duplicate => 11,
                Rejection::Unavailable { .. } => 12,
            };
            assert_eq!(position, i);
        }
        all
    }

    #[test]
    fn the_books_rpc_page_states_every_rejection_with_its_fields_and_every_limit() {
        for rejection in every_rejection() {
            let json = serde_json::to_value(&rejection).unwrap();
            let name = json["reason"].as_str().unwrap();
            let row = PAGE
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("no row for {name}"));
            for field in json.as_object().unwrap().keys().filter(|k| *k != "reason") {
                assert!(
                    row.contains(&format!("`{field}`")),
                    "{name} lacks {field}: {row}"
                );
            }
        }
        let limits = RpcLimits::default();
        let mib = |bytes: u32| format!("{} MiB", bytes / (1024 * 1024));
        for (what, value) in [
            ("request body", mib(limits.max_request_bytes)),
            ("response body", mib(limits.max_response_bytes)),
            (
                "time to send a request's body",
                format!("{} s", limits.body_deadline.as_secs()),
            ),
            ("calls in one JSON-RPC batch", limits.max_batch.to_string()),
            ("open connections", limits.max_connections.to_string()),
            ("keys in one `state_getValues`", MAX_PROVEN_KEYS.to_string()),
            (
                "transactions in one `tx_submit`",
                format!("{},{:03}", MAX_SUBMIT_BATCH / 1000, MAX_SUBMIT_BATCH % 1000),
            ),
        ] {
            let row = format!("| {what} | {value}");
            assert!(PAGE.contains(&row), "the book lacks {row:?}");
        }
        let largest = lamina_agreement::tx::MAX_TX_SIZE;
        let shown = format!("{},{:03} bytes", largest / 1000, largest % 1000);
        assert!(
            PAGE.contains(&shown),
            "the book lacks the largest transaction, {shown}"
        );
        let gap = lamina_agreement::pool::PoolConfig::default().max_nonce_gap;
        assert!(
            PAGE.contains(&format!("more than {gap} past")),
            "nonce gap {gap}"
        );
    }
}
