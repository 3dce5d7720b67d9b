//! Read access to the finalized chain, for the application layer (RPC, indexers): the data
//! layer implements [`ChainReader`], the node hands it to the parts that read.

use crate::block::{Block, Header, Receipt};
use crate::finality::{FinalityCertificate, FinalityProof};
use crate::hash::Hash;
use crate::messages::StoreError;
use crate::state_proof::StateProof;
use crate::types::Height;

/// Where a transaction sits in the chain, with its receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxRecord {
    /// The block's height.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
    /// The execution result.
    pub receipt: Receipt,
}

/// Reads of finalized blocks. Every method answers from what is durable; `Ok(None)` means
/// the item does not exist (or was pruned), an error that the store failed.
pub trait ChainReader: Send + Sync {
    /// Height of the last finalized block; `None` before the first.
    fn finalized(&self) -> Result<Option<Height>, StoreError>;
    /// The header at `height`.
    fn header(&self, height: Height) -> Result<Option<Header>, StoreError>;
    /// The block at `height`.
    fn block(&self, height: Height) -> Result<Option<Block>, StoreError>;
    /// The height of the block with id `id`.
    fn height_of(&self, id: &Hash) -> Result<Option<Height>, StoreError>;
    /// Where transaction `id` is, and its receipt.
    fn tx(&self, id: &Hash) -> Result<Option<TxRecord>, StoreError>;
    /// Whether the blocks finalized from now on are indexed by transaction id, so that
    /// [`ChainReader::tx`] will find their transactions.
    fn indexes_txs(&self) -> bool;
    /// The receipts of the block at `height`, in block order (empty when there is none).
    fn receipts(&self, height: Height) -> Result<Vec<Receipt>, StoreError>;
    /// The certificate stored with the block at `height`, when it has its own.
    fn certificate(&self, height: Height) -> Result<Option<FinalityCertificate>, StoreError>;
    /// The finality proof of the block at `height`: its header and its descendants' up to
    /// the nearest certified one, with that certificate.
    fn finality_proof(&self, height: Height) -> Result<Option<FinalityProof>, StoreError>;
    /// The block whose state root proves the validator set of `epoch` (under
    /// [`NEXT_SET_KEY`](crate::light::NEXT_SET_KEY)), and the state proof.
    fn set_change(&self, epoch: u64) -> Result<Option<(Height, StateProof)>, StoreError>;
}
