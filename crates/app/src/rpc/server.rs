//! The JSON-RPC server.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::server::{ServerBuilder, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::PendingSubscriptionSink;
use lamina_agreement::modules::{accounts, bank};
use lamina_agreement::tx::MAX_TX_SIZE;
use lamina_agreement::Runtime;
use lamina_interop::block::{Block, RawTx};
use lamina_interop::bus::{Bus, RecvError, Requester};
use lamina_interop::chain::{ChainReader, TxRecord};
use lamina_interop::messages::{
    Admission, OpenSnapshot, ProveState, Rejection, StateCommitted, SubmitTxs,
};
use lamina_interop::{Address, ChainId, Hash, Height};

use lamina_interop::codec::Canonical as _;
use lamina_interop::finality::{FinalityCertificate, ValidatorSet};
use lamina_interop::state_proof::StateProof;

use super::api::LaminaApiServer;
use super::{
    Balance, BlockView, ChainInfo, EncodedCall, FinalityProofView, Head, HeaderView, Health,
    SetChangeView, TxInput, TxStatus, ValueWithProof, MAX_PROVEN_KEYS, MAX_SUBMIT_BATCH,
};

/// What the server reads and whom it asks.
pub struct RpcContext {
    /// The chain's name.
    pub name: String,
    /// The chain id.
    pub chain_id: ChainId,
    /// Native units per unit of gas.
    pub gas_price: u64,
    /// The node's version.
    pub version: String,
    /// Finalized blocks.
    pub chain: Arc<dyn ChainReader>,
    /// Admission.
    pub submit: Requester<SubmitTxs>,
    /// State snapshots.
    pub snapshots: Requester<OpenSnapshot>,
    /// State proofs.
    pub prove: Requester<ProveState>,
    /// The bus, for subscriptions to committed blocks.
    pub bus: Bus,
    /// The runtime, for modules' queries and for encoding calls.
    pub runtime: Arc<Runtime>,
}

/// Limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcLimits {
    /// Largest request body, in bytes.
    pub max_request_bytes: u32,
    /// Largest response body, in bytes.
    pub max_response_bytes: u32,
    /// Most open connections.
    pub max_connections: u32,
    /// Most calls in one JSON-RPC batch.
    pub max_batch: u32,
    /// How long a client has to send a request's whole body.
    pub body_deadline: std::time::Duration,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            // A full tx_submit batch of hex transactions.
            max_request_bytes: 64 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            max_connections: 256,
            max_batch: 256,
            body_deadline: std::time::Duration::from_secs(10),
        }
    }
}

/// A running server.
pub struct RpcServer {
    /// Where it listens.
    pub address: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// Stops accepting requests and waits for the server to wind down.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

/// `-32602` with the reason in `data`, where jsonrpsee puts the reason of the parameter errors
/// it finds itself, and in the message too.
fn invalid(detail: impl std::fmt::Display) -> ErrorObjectOwned {
    let detail = detail.to_string();
    ErrorObject::owned(-32602, format!("invalid params: {detail}"), Some(detail))
}

fn failed(detail: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(-32000, detail.to_string(), None::<()>)
}

/// A submitted transaction: its bytes, or, when they are over any transaction's size, the
/// `too_large` verdict admission gives a transaction over its limit (bad hex is an error).
fn parse_tx(text: &str) -> Result<Result<RawTx, (Hash, Rejection)>, ErrorObjectOwned> {
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(hex_text).map_err(|e| invalid(format!("transaction hex: {e}")))?;
    Ok(RawTx::try_from_vec(bytes).map_err(|bytes| {
        let reason = Rejection::TooLarge {
            len: bytes.len(),
            max: MAX_TX_SIZE,
        };
        (Hash::of(&bytes), reason)
    }))
}

fn block_view(block: Block, certificate: Option<FinalityCertificate>) -> BlockView {
    BlockView {
        hash: block.id(),
        header: block.header,
        txs: block.txs.into_inner(),
        certificate: certificate.map(|c| hex_of(&c.encode())),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The methods, registered on a module.
/// The server side of [`LaminaApiServer`].
struct Api {
    ctx: Arc<RpcContext>,
    methods: Arc<OnceLock<Vec<String>>>,
}

#[jsonrpsee::core::async_trait]
impl LaminaApiServer for Api {
    fn health(&self) -> RpcResult<Health> {
        let height = self
            .ctx
            .chain
            .finalized()
            .map_err(failed)?
            .unwrap_or(Height::GENESIS);
        Ok(Health {
            height,
            is_syncing: false,
            peers: 0,
        })
    }

    fn version(&self) -> RpcResult<String> {
        Ok(self.ctx.version.clone())
    }

    fn chain(&self) -> RpcResult<ChainInfo> {
        Ok(ChainInfo {
            name: self.ctx.name.clone(),
            chain_id: self.ctx.chain_id,
            gas_price: self.ctx.gas_price,
            modules: self
                .ctx
                .runtime
                .module_names()
                .map(str::to_string)
                .collect(),
        })
    }

    fn methods(&self) -> RpcResult<Vec<String>> {
        Ok(self.methods.get().cloned().unwrap_or_default())
    }

    fn finalized_head(&self) -> RpcResult<Head> {
        head(&self.ctx)
    }

    fn header(&self, height: Option<Height>) -> RpcResult<Option<HeaderView>> {
        let height = match height {
            Some(height) => height,
            None => head(&self.ctx)?.height,
        };
        let header = self.ctx.chain.header(height).map_err(failed)?;
        Ok(header.map(|header| HeaderView {
            hash: header.id(),
            header,
        }))
    }

    fn block(&self, height: Height) -> RpcResult<Option<BlockView>> {
        let Some(block) = self.ctx.chain.block(height).map_err(failed)? else {
            return Ok(None);
        };
        let certificate = self.ctx.chain.certificate(height).map_err(failed)?;
        Ok(Some(block_view(block, certificate)))
    }

    fn finality_proof(&self, height: Height) -> RpcResult<Option<FinalityProofView>> {
        let Some(proof) = self.ctx.chain.finality_proof(height).map_err(failed)? else {
            return Ok(None);
        };
        Ok(Some(FinalityProofView {
            height,
            certified: proof.certified().map_or(height, |h| h.height),
            epoch: proof.certificate.epoch,
            signers: proof.certificate.votes.iter().map(|v| v.signer).collect(),
            proof: hex_of(&proof.encode()),
        }))
    }

    fn set_change(&self, epoch: u64) -> RpcResult<Option<SetChangeView>> {
        let Some((height, state)) = self.ctx.chain.set_change(epoch).map_err(failed)? else {
            return Ok(None);
        };
        let Some(finality) = self.ctx.chain.finality_proof(height).map_err(failed)? else {
            return Ok(None);
        };
        let keys = match &state {
            StateProof::Member { value, .. } => ValidatorSet::decode(value)
                .map_err(failed)?
                .keys
                .into_inner(),
            StateProof::NonMember { .. } => {
                return Err(failed("the stored set proof proves no set"))
            }
        };
        Ok(Some(SetChangeView {
            epoch,
            height,
            keys,
            finality: hex_of(&finality.encode()),
            proof: hex_of(&state.encode()),
        }))
    }

    fn block_by_hash(&self, hash: Hash) -> RpcResult<Option<BlockView>> {
        let Some(height) = self.ctx.chain.height_of(&hash).map_err(failed)? else {
            return Ok(None);
        };
        self.block(height)
    }

    fn tx(&self, id: Hash) -> RpcResult<Option<TxRecord>> {
        self.ctx.chain.tx(&id).map_err(failed)
    }

    async fn submit(&self, txs: TxInput) -> RpcResult<Vec<Admission>> {
        let texts = match txs {
            TxInput::One(one) => vec![one],
            TxInput::Many(many) => many,
        };
        if texts.len() > MAX_SUBMIT_BATCH {
            return Err(invalid(format!(
                "{} transactions exceed the batch limit of {MAX_SUBMIT_BATCH}",
                texts.len()
            )));
        }
        let parsed = texts
            .iter()
            .map(|t| parse_tx(t))
            .collect::<Result<Vec<_>, _>>()?;
        let txs: Vec<RawTx> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let mut admitted = self
            .ctx
            .submit
            .request(SubmitTxs::from_client(txs))
            .await
            .map_err(|_| failed("the node is shutting down"))?
            .into_iter();
        // The verdicts in the order submitted, the oversize ones where they stood.
        parsed
            .into_iter()
            .map(|p| match p {
                Ok(_) => admitted
                    .next()
                    .ok_or_else(|| failed("admission gave fewer verdicts than transactions")),
                Err((id, reason)) => Ok(Admission::Rejected { id, reason }),
            })
            .collect()
    }

    async fn balance(&self, account: Address, asset: Option<u32>) -> RpcResult<Balance> {
        let view = snapshot(&self.ctx).await?;
        let amount = bank::committed_balance(&*view, asset.unwrap_or(bank::NATIVE), &account)
            .map_err(failed)?;
        Ok(Balance {
            amount: amount.to_string(),
        })
    }

    async fn nonce(&self, account: Address) -> RpcResult<u64> {
        let view = snapshot(&self.ctx).await?;
        accounts::committed_nonce(&*view, &account).map_err(failed)
    }

    async fn query(
        &self,
        module: String,
        query: serde_json::Value,
    ) -> RpcResult<serde_json::Value> {
        if self.ctx.runtime.module_index(&module).is_none() {
            return Err(invalid(format!("no module named {module}")));
        }
        let view = snapshot(&self.ctx).await?;
        self.ctx
            .runtime
            .query(&module, query, &*view)
            .map_err(invalid)
    }

    fn encode_call(&self, module: String, call: serde_json::Value) -> RpcResult<EncodedCall> {
        let (module, bytes) = self
            .ctx
            .runtime
            .encode_call(&module, call)
            .map_err(invalid)?;
        Ok(EncodedCall {
            module,
            call: format!("0x{}", hex::encode(bytes)),
        })
    }

    async fn value(&self, key: String) -> RpcResult<ValueWithProof> {
        prove(&self.ctx, parse_key(&key)?).await
    }

    async fn values(&self, keys: Vec<String>) -> RpcResult<Vec<ValueWithProof>> {
        if keys.len() > MAX_PROVEN_KEYS {
            return Err(invalid(format!(
                "{} keys asked for, at most {MAX_PROVEN_KEYS} at once",
                keys.len()
            )));
        }
        let keys = keys
            .iter()
            .map(|key| parse_key(key))
            .collect::<RpcResult<Vec<_>>>()?;
        // Each proof is against the latest root: a commit between two of them starts over.
        for _ in 0..PROVE_TRIES {
            let mut answers = Vec::with_capacity(keys.len());
            for key in &keys {
                answers.push(prove(&self.ctx, key.clone()).await?);
            }
            if answers
                .windows(2)
                .all(|pair| pair[0].height == pair[1].height)
            {
                return Ok(answers);
            }
        }
        Err(failed(format!(
            "the state moved on during each of {PROVE_TRIES} tries; ask again"
        )))
    }

    async fn subscribe_new_heads(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        follow_blocks(pending, self.ctx.clone(), committed_header).await
    }

    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        // With the engines so far a block is final when it is committed; a BFT engine's heads
        // will arrive before their finality.
        follow_blocks(pending, self.ctx.clone(), committed_header).await
    }

    async fn subscribe_events(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        follow_blocks(pending, self.ctx.clone(), |ctx, event| {
            let receipts = ctx.chain.receipts(event.height).map_err(failed)?;
            let events: Vec<serde_json::Value> = receipts
                .iter()
                .flat_map(|r| {
                    r.events.iter().map(move |e| {
                        serde_json::json!({ "tx": r.tx, "module": e.module, "data": e.data })
                    })
                })
                .collect();
            Ok(Some(serde_json::json!({
                "height": event.height,
                "block": event.block,
                "events": events,
            })))
        })
        .await
    }

    async fn submit_and_watch(
        &self,
        pending: PendingSubscriptionSink,
        tx: String,
    ) -> SubscriptionResult {
        let tx = match parse_tx(&tx) {
            Ok(Ok(tx)) => tx,
            Ok(Err((id, reason))) => {
                let sink = pending.accept().await?;
                let status = TxStatus::Rejected { id, reason };
                sink.send(serde_json::value::to_raw_value(&status)?).await?;
                return Ok(());
            }
            Err(e) => {
                pending.reject(e).await;
                return Ok(());
            }
        };
        let ctx = &self.ctx;
        if !ctx.chain.indexes_txs() {
            // Finding the transaction takes the index; refuse before submitting anything.
            pending
                .reject(failed(lamina_interop::messages::StoreError::NoTxIndex))
                .await;
            return Ok(());
        }
        // Subscribe before submitting, so the block that includes it cannot be missed.
        let mut events = ctx.bus.subscribe::<StateCommitted>();
        let verdict = ctx.submit.request(SubmitTxs::from_client(vec![tx])).await;
        let sink = pending.accept().await?;
        let send = |status: TxStatus| serde_json::value::to_raw_value(&status);
        let id = match verdict.ok().and_then(|mut v| v.pop()) {
            Some(Admission::Accepted { id }) => {
                sink.send(send(TxStatus::Admitted { id })?).await?;
                id
            }
            Some(Admission::Rejected { id, reason }) => {
                sink.send(send(TxStatus::Rejected { id, reason })?).await?;
                return Ok(());
            }
            None => return Err("the node is shutting down".into()),
        };
        loop {
            let event = tokio::select! {
                _ = sink.closed() => return Ok(()),
                event = events.recv() => event,
            };
            match event {
                Ok(_) | Err(RecvError::Lagged { .. }) => {}
                Err(RecvError::Closed) => return Ok(()),
            }
            if let Some(record) = ctx.chain.tx(&id).map_err(|e| e.to_string())? {
                sink.send(send(TxStatus::Included {
                    id,
                    height: record.height,
                    index: record.index,
                })?)
                .await?;
                sink.send(send(TxStatus::Finalized {
                    id,
                    height: record.height,
                    receipt: record.receipt,
                })?)
                .await?;
                return Ok(());
            }
        }
    }
}

/// One notification per committed block, built by `make` (`None`: nothing to send), until
/// the client unsubscribes or the node stops. A subscriber that falls behind skips blocks.
async fn follow_blocks<T: serde::Serialize>(
    pending: PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
    make: impl Fn(&RpcContext, StateCommitted) -> Result<Option<T>, ErrorObjectOwned>,
) -> SubscriptionResult {
    let mut events = ctx.bus.subscribe::<StateCommitted>();
    let sink = pending.accept().await?;
    loop {
        let event = tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = events.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(RecvError::Lagged { .. }) => continue,
            Err(RecvError::Closed) => return Ok(()),
        };
        if let Some(item) = make(&ctx, event).map_err(|e| e.message().to_string())? {
            sink.send(serde_json::value::to_raw_value(&item)?).await?;
        }
    }
}

fn committed_header(
    ctx: &RpcContext,
    event: StateCommitted,
) -> Result<Option<HeaderView>, ErrorObjectOwned> {
    Ok(ctx
        .chain
        .header(event.height)
        .map_err(failed)?
        .map(|header| HeaderView {
            hash: header.id(),
            header,
        }))
}

fn head(ctx: &RpcContext) -> Result<Head, ErrorObjectOwned> {
    match ctx.chain.finalized().map_err(failed)? {
        None => Ok(Head {
            height: Height::GENESIS,
            hash: Hash::ZERO,
        }),
        Some(height) => {
            let header = ctx
                .chain
                .header(height)
                .map_err(failed)?
                .ok_or_else(|| failed(format!("header {height} is missing")))?;
            Ok(Head {
                height,
                hash: header.id(),
            })
        }
    }
}

async fn snapshot(
    ctx: &RpcContext,
) -> Result<Arc<dyn lamina_interop::module::StateView + Send + Sync>, ErrorObjectOwned> {
    match ctx.snapshots.request(OpenSnapshot { height: None }).await {
        Ok(Ok(snapshot)) => Ok(snapshot.view),
        Ok(Err(err)) => Err(failed(err)),
        Err(_) => Err(failed("the node is shutting down")),
    }
}

/// Starts the server on `address` (HTTP and WebSocket on one port).
pub async fn serve(
    address: SocketAddr,
    context: RpcContext,
    limits: RpcLimits,
) -> std::io::Result<RpcServer> {
    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(limits.max_response_bytes)
        .max_connections(limits.max_connections)
        .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Limit(
            limits.max_batch,
        ))
        .build();
    let gate = super::http::GateLayer {
        body_deadline: limits.body_deadline,
        max_body: limits.max_request_bytes as usize,
    };
    let server = ServerBuilder::with_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(gate))
        .build(address)
        .await?;
    let address = server.local_addr()?;
    let names = Arc::new(OnceLock::new());
    let module = Api {
        ctx: Arc::new(context),
        methods: names.clone(),
    }
    .into_rpc();
    let _ = names.set(module.method_names().map(str::to_string).collect());
    let handle = server.start(module);
    Ok(RpcServer { address, handle })
}

/// Times `state_getValues` proves its keys again when a commit came between two proofs.
const PROVE_TRIES: usize = 8;

/// A state key given in hex, within the key length limit.
fn parse_key(key: &str) -> RpcResult<Vec<u8>> {
    let key = hex::decode(key.strip_prefix("0x").unwrap_or(key))
        .map_err(|e| invalid(format!("key hex: {e}")))?;
    if key.len() > lamina_interop::module::MAX_KEY_LEN {
        return Err(invalid(format!(
            "key of {} bytes exceeds {}",
            key.len(),
            lamina_interop::module::MAX_KEY_LEN
        )));
    }
    Ok(key)
}

/// `key`'s value with its proof against the latest committed root.
async fn prove(ctx: &RpcContext, key: Vec<u8>) -> RpcResult<ValueWithProof> {
    let answer = match ctx.prove.request(ProveState { key }).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) => return Err(failed(err)),
        Err(_) => return Err(failed("the node is shutting down")),
    };
    let value = match &answer.proof {
        StateProof::Member { value, .. } => Some(format!("0x{}", hex::encode(value))),
        StateProof::NonMember { .. } => None,
    };
    Ok(ValueWithProof {
        height: answer.height,
        root: answer.root,
        value,
        proof: format!("0x{}", hex::encode(answer.proof.encode())),
    })
}
