//! What clients can ask the module, answered from committed state.

use lamina_interop::interchain::{
    ack_path, commitment_path, receipt_path, Acknowledgement, Packet,
};
use lamina_interop::module::StateView;
use lamina_interop::{ChainId, Hash, Height, Timestamp};
use serde::{Deserialize, Serialize};

use super::packet::local_key;
use super::transfer::escrow_account;
use super::{
    Counterparty, InterchainError, Params, RateLimit, ACKS, CLIENTS, COUNTERPARTIES, DENOMS,
    ESCROW, HEADERS, LIMITS, NEXT_SEQUENCE, PARAMS, ROOTS, SENT, VOUCHERS,
};

/// Most packets one `pending` query returns.
const MAX_PENDING: u32 = 256;
/// Most sequences one `pending` query looks at.
const MAX_SCAN: u64 = 4096;

/// A query. As JSON: `{"client": {"client": "client-0"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InterchainQuery {
    /// A client, its counterparty and its next sequence.
    Client {
        /// The client.
        client: String,
    },
    /// The state root a client verified for the counterparty's state height, and that
    /// block's time when its header is kept.
    Root {
        /// The client.
        client: String,
        /// The counterparty's state height.
        height: Height,
    },
    /// Whether a packet is pending (its commitment), received (its receipt) and acknowledged
    /// (its ack commitment), by the paths on this chain.
    Packet {
        /// The client the path names (the source client for a commitment, the destination
        /// client for a receipt and an ack).
        client: String,
        /// The sequence.
        sequence: u64,
    },
    /// Packets sent through `client` and not yet settled, by ascending sequence after
    /// `after`: at most `limit` (64 by default, 256 at most), looking at most 4,096
    /// sequences ahead.
    Pending {
        /// The source client.
        client: String,
        /// Only sequences above this.
        #[serde(default)]
        after: u64,
        /// The most packets.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// What is escrowed for transfers through a client, of an asset, and where.
    Escrow {
        /// The client.
        client: String,
        /// The asset.
        asset: u32,
    },
    /// A voucher's asset by its denomination, or a voucher asset's denomination.
    Voucher {
        /// The denomination (`transfer/client-0/asset-0`).
        #[serde(default)]
        denom: Option<String>,
        /// The asset.
        #[serde(default)]
        asset: Option<u32>,
    },
    /// The rules and an asset's rate limit.
    Config {
        /// The asset whose limit to show.
        #[serde(default)]
        asset: Option<u32>,
    },
}

/// A client, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The chain followed.
    pub chain_id: ChainId,
    /// Blocks per epoch.
    pub epoch_blocks: Option<u64>,
    /// The trusting period.
    pub trusting_period_ms: u64,
    /// The newest verified height.
    pub latest_height: Height,
    /// Its block id.
    pub latest_block: Hash,
    /// Its time.
    pub latest_time: Timestamp,
    /// Epochs whose sets it holds.
    pub epochs: Vec<u64>,
    /// Where it froze, if it did.
    pub frozen: Option<Height>,
    /// Proofs below this state height are refused.
    pub floor: Height,
    /// Its counterparty.
    pub counterparty: Option<Counterparty>,
    /// The next packet's sequence.
    pub next_sequence: u64,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterchainResponse {
    /// The client, or null.
    Client(Option<ClientInfo>),
    /// The root and the time, or nulls.
    Root {
        /// The root.
        root: Option<Hash>,
        /// The time of the block at that height, if its header is kept.
        time: Option<Timestamp>,
    },
    /// The packet's paths here.
    Packet {
        /// The commitment, while pending.
        commitment: Option<Hash>,
        /// Whether it was received here.
        received: bool,
        /// The ack commitment written here.
        ack: Option<Hash>,
        /// The acknowledgement written here.
        acknowledgement: Option<Acknowledgement>,
    },
    /// Pending packets.
    Pending {
        /// The packets, by ascending sequence.
        packets: Vec<Packet>,
        /// The highest sequence looked at: ask again after it for more.
        scanned_to: u64,
        /// The next sequence the client will give.
        next_sequence: u64,
    },
    /// The escrow.
    Escrow {
        /// The escrow account.
        account: lamina_interop::Address,
        /// What it holds for the client.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// The voucher.
    Voucher {
        /// Its asset.
        asset: Option<u32>,
        /// Its denomination.
        denom: Option<String>,
    },
    /// The rules.
    Config {
        /// The rules.
        params: Option<Params>,
        /// The asset's limit.
        limit: Option<RateLimit>,
    },
}

fn hash_at(state: &dyn StateView, key: &[u8]) -> Result<Option<Hash>, InterchainError> {
    Ok(state
        .get(key)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .map(Hash))
}

pub(super) fn answer(
    query: InterchainQuery,
    state: &dyn StateView,
) -> Result<InterchainResponse, InterchainError> {
    match query {
        InterchainQuery::Client { client } => {
            let Some(c) = CLIENTS.get_committed(state, &client)? else {
                return Ok(InterchainResponse::Client(None));
            };
            Ok(InterchainResponse::Client(Some(ClientInfo {
                chain_id: c.chain_id,
                epoch_blocks: c.epoch_blocks,
                trusting_period_ms: c.trusting_period_ms,
                latest_height: c.latest.0,
                latest_block: c.latest.1,
                latest_time: c.latest.2,
                epochs: c.sets.iter().map(|s| s.epoch).collect(),
                frozen: c.frozen,
                floor: c.floor,
                counterparty: COUNTERPARTIES.get_committed(state, &client)?,
                next_sequence: NEXT_SEQUENCE.get_committed(state, &client)?.unwrap_or(1),
            })))
        }
        InterchainQuery::Root { client, height } => Ok(InterchainResponse::Root {
            root: ROOTS.get_committed(state, &(client.clone(), height.0))?,
            time: HEADERS
                .get_committed(state, &(client, height.0))?
                .map(|h| h.time),
        }),
        InterchainQuery::Packet { client, sequence } => Ok(InterchainResponse::Packet {
            commitment: hash_at(state, &local_key(&commitment_path(&client, sequence)))?,
            received: state
                .get(&local_key(&receipt_path(&client, sequence)))?
                .is_some(),
            ack: hash_at(state, &local_key(&ack_path(&client, sequence)))?,
            acknowledgement: ACKS.get_committed(state, &(client, sequence))?,
        }),
        InterchainQuery::Pending {
            client,
            after,
            limit,
        } => {
            let limit = limit.unwrap_or(64).clamp(1, MAX_PENDING) as usize;
            let next_sequence = NEXT_SEQUENCE.get_committed(state, &client)?.unwrap_or(1);
            let last = next_sequence
                .saturating_sub(1)
                .min(after.saturating_add(MAX_SCAN));
            let mut packets = Vec::new();
            let mut scanned_to = after;
            for sequence in after.saturating_add(1)..=last {
                scanned_to = sequence;
                if let Some(packet) = SENT.get_committed(state, &(client.clone(), sequence))? {
                    packets.push(packet);
                    if packets.len() == limit {
                        break;
                    }
                }
            }
            Ok(InterchainResponse::Pending {
                packets,
                scanned_to,
                next_sequence,
            })
        }
        InterchainQuery::Escrow { client, asset } => Ok(InterchainResponse::Escrow {
            account: escrow_account(&client),
            amount: ESCROW.get_committed(state, &(client, asset))?.unwrap_or(0),
        }),
        InterchainQuery::Voucher { denom, asset } => {
            let asset = match (&denom, asset) {
                (Some(d), _) => VOUCHERS.get_committed(state, d)?,
                (None, a) => a,
            };
            let denom = match asset {
                Some(a) => DENOMS.get_committed(state, &a)?,
                None => None,
            };
            Ok(InterchainResponse::Voucher { asset, denom })
        }
        InterchainQuery::Config { asset } => Ok(InterchainResponse::Config {
            params: PARAMS.get_committed(state)?,
            limit: match asset {
                Some(a) => LIMITS.get_committed(state, &a)?,
                None => None,
            },
        }),
    }
}
