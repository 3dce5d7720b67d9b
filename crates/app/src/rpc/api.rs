//! The API, defined once: the server implements [`LaminaApiServer`], and jsonrpsee derives the
//! client trait [`LaminaApiClient`] from the same definition, so the two cannot drift apart.

use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use lamina_interop::messages::Admission;
use lamina_interop::timeline::BlockTimes;
use lamina_interop::{Address, Hash, Height};

use super::{
    Balance, BlockView, ChainInfo, DryRun, DryRunInput, EncodedCall, FinalityProofView, Head,
    HeaderView, Health, SetChangeView, TxInput, TxStatus, TxView, ValidatorsView, ValueWithProof,
};

/// Lamina's JSON-RPC methods and subscriptions (see the table in the module docs).
#[rpc(server, client)]
pub trait LaminaApi {
    /// The last finalized height and whether the node is syncing.
    #[method(name = "system_health")]
    fn health(&self) -> RpcResult<Health>;

    /// The node's version.
    #[method(name = "system_version")]
    fn version(&self) -> RpcResult<String>;

    /// The chain's name, id, price of gas and modules.
    #[method(name = "system_chain")]
    fn chain(&self) -> RpcResult<ChainInfo>;

    /// Every method name.
    #[method(name = "rpc_methods")]
    fn methods(&self) -> RpcResult<Vec<String>>;

    /// The last finalized block's height and id.
    #[method(name = "chain_getFinalizedHead")]
    fn finalized_head(&self) -> RpcResult<Head>;

    /// A header by height, the latest when none is given.
    #[method(name = "chain_getHeader")]
    fn header(&self, height: Option<Height>) -> RpcResult<Option<HeaderView>>;

    /// A block by height.
    #[method(name = "chain_getBlock")]
    fn block(&self, height: Height) -> RpcResult<Option<BlockView>>;

    /// A block by id.
    #[method(name = "chain_getBlockByHash")]
    fn block_by_hash(&self, hash: Hash) -> RpcResult<Option<BlockView>>;

    /// The finality proof of the block at a height.
    #[method(name = "chain_getFinalityProof")]
    fn finality_proof(&self, height: Height) -> RpcResult<Option<FinalityProofView>>;

    /// The current epoch's validators: each one's blocks proposed, certificates signed and
    /// views missed as leader over the last `blocks` finalized blocks of the epoch (256
    /// unless given, at most 1024).
    #[method(name = "chain_getValidators")]
    fn validators(&self, blocks: Option<u32>) -> RpcResult<ValidatorsView>;

    /// When this node saw each of its last `blocks` finalized blocks (64 unless given, at most
    /// 1024) proposed, notarized, finalized, executed and durable, in milliseconds since 1970.
    #[method(name = "chain_getTimeline")]
    fn timeline(&self, blocks: Option<u32>) -> RpcResult<Vec<BlockTimes>>;

    /// The validator set of an epoch, with its proofs.
    #[method(name = "chain_getSetChange")]
    fn set_change(&self, epoch: u64) -> RpcResult<Option<SetChangeView>>;

    /// A transaction's place and receipt.
    #[method(name = "tx_get")]
    fn tx(&self, id: Hash) -> RpcResult<Option<TxView>>;

    /// Runs a signed transaction, or an unsigned call, over the latest committed state as the
    /// next block's first transaction would run, and changes nothing: its receipt, gas and
    /// fee, events decoded.
    #[method(name = "tx_dryRun")]
    async fn dry_run(&self, tx: DryRunInput) -> RpcResult<DryRun>;

    /// Submits one transaction or a batch (hex); one verdict each, in order.
    #[method(name = "tx_submit")]
    async fn submit(&self, txs: TxInput) -> RpcResult<Vec<Admission>>;

    /// An account's balance of the native asset or `asset`.
    #[method(name = "state_getBalance")]
    async fn balance(&self, account: Address, asset: Option<u32>) -> RpcResult<Balance>;

    /// An account's next nonce.
    #[method(name = "state_getNonce")]
    async fn nonce(&self, account: Address) -> RpcResult<u64>;

    /// A raw state key's value (hex key), with a proof against the state root.
    #[method(name = "state_getValue")]
    async fn value(&self, key: String) -> RpcResult<ValueWithProof>;

    /// Several raw state keys' values (hex keys, at most 64), each with a proof, all against
    /// one state root.
    #[method(name = "state_getValues")]
    async fn values(&self, keys: Vec<String>) -> RpcResult<Vec<ValueWithProof>>;

    /// Asks `module` a query of its own (JSON), answered from committed state.
    #[method(name = "state_query")]
    async fn query(&self, module: String, query: serde_json::Value)
        -> RpcResult<serde_json::Value>;

    /// Encodes `call`, the JSON form of `module`'s call type, as a transaction carries it.
    #[method(name = "tx_encodeCall")]
    fn encode_call(&self, module: String, call: serde_json::Value) -> RpcResult<EncodedCall>;

    /// A header per new block.
    #[subscription(name = "chain_subscribeNewHeads" => "chain_newHead", unsubscribe = "chain_unsubscribeNewHeads", item = HeaderView)]
    async fn subscribe_new_heads(&self) -> SubscriptionResult;

    /// A header per finalized block.
    #[subscription(name = "chain_subscribeFinalizedHeads" => "chain_finalizedHead", unsubscribe = "chain_unsubscribeFinalizedHeads", item = HeaderView)]
    async fn subscribe_finalized_heads(&self) -> SubscriptionResult;

    /// Each block's events.
    #[subscription(name = "chain_subscribeEvents" => "chain_events", unsubscribe = "chain_unsubscribeEvents", item = serde_json::Value)]
    async fn subscribe_events(&self) -> SubscriptionResult;

    /// Submits a transaction and follows it: admitted or rejected, then included and finalized.
    #[subscription(name = "tx_submitAndWatch" => "tx_status", unsubscribe = "tx_unwatch", item = TxStatus)]
    async fn submit_and_watch(&self, tx: String) -> SubscriptionResult;
}
