//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::interchain::{Acknowledgement, Packet};
use lamina_interop::{Address, ChainId, Height};
use serde::Serialize;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterchainEvent {
    /// A client of another chain.
    ClientCreated {
        /// Its id.
        client: String,
        /// The chain it follows.
        chain_id: ChainId,
        /// The checkpoint's height.
        height: Height,
    },
    /// A client took in a finality proof.
    ClientUpdated {
        /// The client.
        client: String,
        /// The certified height.
        height: Height,
        /// The newest height it is sure of.
        latest: Height,
    },
    /// Two final blocks at one height: the client accepts nothing more.
    ClientFrozen {
        /// The client.
        client: String,
        /// Where.
        height: Height,
    },
    /// The authority recovered a client from a substitute.
    ClientRecovered {
        /// The client.
        client: String,
        /// The substitute.
        substitute: String,
        /// Its latest height now.
        height: Height,
    },
    /// A client's counterparty.
    CounterpartyRegistered {
        /// Our client.
        client: String,
        /// Theirs.
        counterparty_client: String,
    },
    /// A packet committed: relayers rebuild it from this.
    PacketSent {
        /// The packet.
        packet: Packet,
    },
    /// A packet delivered, and what it was answered.
    PacketReceived {
        /// The source's client.
        source_client: String,
        /// Ours.
        dest_client: String,
        /// Its sequence.
        sequence: u64,
        /// The acknowledgement written.
        acknowledgement: Acknowledgement,
        /// Why an application refused it, if one did.
        refused: Option<String>,
    },
    /// A packet we sent was acknowledged.
    PacketAcknowledged {
        /// Our client.
        source_client: String,
        /// Its sequence.
        sequence: u64,
        /// Whether the destination accepted it.
        success: bool,
    },
    /// A packet we sent timed out.
    PacketTimedOut {
        /// Our client.
        source_client: String,
        /// Its sequence.
        sequence: u64,
    },
    /// Tokens sent to another chain.
    TransferSent {
        /// Our client of the destination.
        client: String,
        /// The packet's sequence.
        sequence: u64,
        /// Who sent.
        sender: Address,
        /// Who receives there.
        receiver: String,
        /// The asset here.
        asset: u32,
        /// Its denomination in the packet.
        denom: String,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// A rate limit set or cleared.
    RateLimitSet {
        /// The asset.
        asset: u32,
        /// The most per window (0: none).
        #[serde(with = "lamina_interop::module::amount")]
        max_per_window: u128,
        /// The window.
        window_blocks: u64,
    },
}
