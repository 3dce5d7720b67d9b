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
use lamina_agreement::{SignedTx, UnsignedTx, VerifiedTx};
use lamina_interop::block::{Block, Outcome, RawTx, Receipt};
use lamina_interop::bus::{Bus, RecvError, Requester};
use lamina_interop::chain::{ChainReader, TxRecord};
use lamina_interop::messages::{
    Admission, OpenSnapshot, ProveState, Rejection, StateCommitted, SubmitTxs,
};
use lamina_interop::module::Env;
use lamina_interop::timeline::BlockTimes;
use lamina_interop::Timestamp;
use lamina_interop::{Address, ChainId, Hash, Height};

use lamina_interop::codec::Canonical as _;
use lamina_interop::finality::{FinalityCertificate, ValidatorSet};
use lamina_interop::state_proof::StateProof;

use super::api::LaminaApiServer;
use super::validators;
use super::{
    Balance, BlockView, CallView, ChainInfo, Decoded, DryRun, DryRunInput, EncodedCall, EventView,
    FinalityProofView, Head, HeaderView, Health, SetChangeView, TxInput, TxStatus, TxView,
    UnsignedCall, ValidatorSchedule, ValidatorsView, ValueWithProof, DEFAULT_WINDOW, DRY_RUN_GAS,
    MAX_PROVEN_KEYS, MAX_SUBMIT_BATCH, MAX_WINDOW,
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
    /// Whether `GET /` on the same port serves the explorer page.
    pub explorer: bool,
    /// The genesis set and the epoch length, for `chain_getValidators`.
    pub validators: ValidatorSchedule,
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

fn block_view(
    runtime: &Runtime,
    block: Block,
    certificate: Option<FinalityCertificate>,
) -> BlockView {
    let calls = block
        .txs
        .iter()
        .map(|raw| call_view(runtime, raw))
        .collect();
    BlockView {
        hash: block.id(),
        header: block.header,
        txs: block.txs.into_inner(),
        certificate: certificate.map(|c| hex_of(&c.encode())),
        calls,
    }
}

/// A block's transaction, decoded as far as it goes.
fn call_view(runtime: &Runtime, raw: &RawTx) -> CallView {
    let bytes: &[u8] = raw.as_ref();
    let id = Hash::of(bytes);
    match SignedTx::decode_raw(bytes) {
        Ok(tx) => CallView {
            id,
            sender: Some(tx.sender_address()),
            nonce: Some(tx.body.nonce),
            module: Some(tx.body.module),
            decoded: decoded(
                runtime,
                tx.body.module,
                runtime.call_json(tx.body.module, tx.body.call.as_ref()),
            ),
        },
        Err(e) => CallView {
            id,
            sender: None,
            nonce: None,
            module: None,
            decoded: Decoded::Undecoded {
                undecoded: format!("the transaction does not decode: {e}"),
            },
        },
    }
}

fn decoded(runtime: &Runtime, module: u16, json: Result<serde_json::Value, String>) -> Decoded {
    match (runtime.module_name(module), json) {
        (Some(name), Ok(value)) => Decoded::Module {
            module_name: name.to_string(),
            value,
        },
        (_, Err(why)) => Decoded::Undecoded { undecoded: why },
        (None, Ok(_)) => Decoded::Undecoded {
            undecoded: format!("no module at index {module}"),
        },
    }
}

/// A receipt's events, decoded by the modules that emitted them.
fn event_views(runtime: &Runtime, receipt: &Receipt) -> Vec<EventView> {
    receipt
        .events
        .iter()
        .map(|e| EventView {
            module: e.module,
            data: hex_of(e.data.as_ref()),
            decoded: decoded(
                runtime,
                e.module,
                runtime.event_json(e.module, e.data.as_ref()),
            ),
        })
        .collect()
}

fn tx_view(runtime: &Runtime, record: TxRecord) -> TxView {
    let failed_in = match &record.receipt.outcome {
        Outcome::Failed { module, .. } => runtime.module_name(*module).map(str::to_string),
        Outcome::Success => None,
    };
    TxView {
        events: event_views(runtime, &record.receipt),
        record,
        failed_in,
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
        Ok(Some(block_view(&self.ctx.runtime, block, certificate)))
    }

    fn timeline(&self, blocks: Option<u32>) -> RpcResult<Vec<BlockTimes>> {
        let blocks = blocks
            .unwrap_or(64)
            .min(lamina_interop::timeline::KEPT as u32);
        Ok(lamina_interop::timeline::latest(blocks as usize))
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

    fn validators(&self, blocks: Option<u32>) -> RpcResult<ValidatorsView> {
        let window = blocks.unwrap_or(DEFAULT_WINDOW);
        if window == 0 || window > MAX_WINDOW {
            return Err(invalid(format!(
                "blocks must be 1 to {MAX_WINDOW}, not {window}"
            )));
        }
        validators::activity(self.ctx.chain.as_ref(), &self.ctx.validators, window).map_err(failed)
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

    fn tx(&self, id: Hash) -> RpcResult<Option<TxView>> {
        let record = self.ctx.chain.tx(&id).map_err(failed)?;
        Ok(record.map(|r| tx_view(&self.ctx.runtime, r)))
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
        // The oversize ones keep their place (with their verdict); the rest go to admission.
        let mut txs = Vec::with_capacity(texts.len());
        let mut refused = Vec::new();
        for (position, text) in texts.iter().enumerate() {
            match parse_tx(text)? {
                Ok(tx) => txs.push(tx),
                Err((id, reason)) => refused.push((position, Admission::Rejected { id, reason })),
            }
        }
        let admitted = self
            .ctx
            .submit
            .request(SubmitTxs::from_client(txs))
            .await
            .map_err(|_| failed("the node is shutting down"))?;
        if admitted.len() + refused.len() != texts.len() {
            return Err(failed("admission gave fewer verdicts than transactions"));
        }
        // The verdicts in the order submitted: each refused one back where it stood.
        let (mut admitted, mut refused) = (admitted.into_iter(), refused.into_iter().peekable());
        Ok((0..texts.len())
            .filter_map(|position| match refused.peek() {
                Some((at, _)) if *at == position => refused.next().map(|(_, verdict)| verdict),
                _ => admitted.next(),
            })
            .collect())
    }

    async fn dry_run(&self, input: DryRunInput) -> RpcResult<DryRun> {
        let ctx = &self.ctx;
        let snapshot = snapshot(ctx).await?;
        let tx = match input {
            DryRunInput::Signed(text) => {
                let raw = match parse_tx(&text)? {
                    Ok(raw) => raw,
                    Err((_, reason)) => return Err(invalid(reason)),
                };
                VerifiedTx::verify(raw.as_ref()).map_err(invalid)?
            }
            DryRunInput::Unsigned(call) => unsigned(ctx, call, &*snapshot.view)?,
        };
        // As the first transaction of the block after the latest, from the same proposer.
        let latest = ctx.chain.header(snapshot.height).map_err(failed)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let env = Env {
            chain_id: ctx.chain_id,
            height: Height(snapshot.height.0 + 1),
            timestamp: Timestamp(now.max(latest.as_ref().map_or(0, |h| h.timestamp.0 + 1))),
            proposer: latest.map_or(Address([0; 32]), |h| h.proposer),
        };
        let receipt = ctx
            .runtime
            .dry_run(&env, &tx, &*snapshot.view)
            .map_err(failed)?;
        let view = tx_view(
            &ctx.runtime,
            TxRecord {
                height: env.height,
                index: 0,
                receipt,
            },
        );
        Ok(DryRun {
            height: snapshot.height,
            receipt: view.record.receipt,
            events: view.events,
            failed_in: view.failed_in,
        })
    }

    async fn balance(&self, account: Address, asset: Option<u32>) -> RpcResult<Balance> {
        let view = snapshot(&self.ctx).await?.view;
        let amount = bank::committed_balance(&*view, asset.unwrap_or(bank::NATIVE), &account)
            .map_err(failed)?;
        Ok(Balance {
            amount: amount.to_string(),
        })
    }

    async fn nonce(&self, account: Address) -> RpcResult<u64> {
        let view = snapshot(&self.ctx).await?.view;
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
        let view = snapshot(&self.ctx).await?.view;
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
                    event_views(&ctx.runtime, r)
                        .into_iter()
                        .map(move |e| serde_json::json!({ "tx": r.tx, "event": e }))
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
                let events = event_views(&ctx.runtime, &record.receipt);
                sink.send(send(TxStatus::Finalized {
                    id,
                    height: record.height,
                    receipt: record.receipt,
                    events,
                })?)
                .await?;
                return Ok(());
            }
        }
    }
}

/// An unsigned call as the transaction it would be: the sender's next nonce unless given,
/// the least maximum fee that admits it, and an empty signature (the length of a real one, so
/// its base gas is the same).
fn unsigned(
    ctx: &RpcContext,
    call: UnsignedCall,
    view: &dyn lamina_interop::module::StateView,
) -> Result<VerifiedTx, ErrorObjectOwned> {
    let (module, bytes) = ctx
        .runtime
        .encode_call(&call.module, call.call)
        .map_err(invalid)?;
    let sender = Address::of(&call.sender);
    let nonce = match call.nonce {
        Some(nonce) => nonce,
        None => accounts::committed_nonce(view, &sender).map_err(failed)?,
    };
    let gas_limit = call.gas_limit.unwrap_or(DRY_RUN_GAS);
    let tip = call.tip.map_or(0, |t| t.0);
    let max_fee = ctx
        .runtime
        .required_fee(gas_limit, tip)
        .ok_or_else(|| invalid("the gas limit's fee plus the tip overflows 128 bits"))?;
    let body = UnsignedTx {
        chain_id: ctx.chain_id,
        sender: call.sender,
        nonce,
        max_fee,
        tip,
        gas_limit,
        module,
        call: lamina_interop::codec::BoundedBytes::try_from_vec(bytes)
            .map_err(|b| invalid(format!("a call of {} bytes is too large", b.len())))?,
    };
    Ok(VerifiedTx::assume_verified(SignedTx {
        body,
        signature: lamina_interop::crypto::Signature([0; 64]),
    }))
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

/// The latest committed state.
async fn snapshot(
    ctx: &RpcContext,
) -> Result<lamina_interop::messages::Snapshot, ErrorObjectOwned> {
    match ctx.snapshots.request(OpenSnapshot { height: None }).await {
        Ok(Ok(snapshot)) => Ok(snapshot),
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
        explorer: context.explorer,
    };
    let server = ServerBuilder::with_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(gate))
        .build(address)
        .await?;
    let address = server.local_addr()?;
    let names = Arc::new(OnceLock::new());
    let discover = super::openrpc::document(&context.version);
    let mut module = Api {
        ctx: Arc::new(context),
        methods: names.clone(),
    }
    .into_rpc();
    module
        .register_method("rpc.discover", move |_, _, _| discover.clone())
        .map_err(std::io::Error::other)?;
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

#[cfg(test)]
mod tests {
    use lamina_agreement::modules::bank::{BankEvent, NATIVE};
    use lamina_agreement::runtime::RuntimeConfig;
    use lamina_interop::block::{EventRecord, Outcome, Receipt};
    use lamina_interop::codec::{self, BoundedBytes, BoundedString, BoundedVec};
    use lamina_interop::{Address, ChainId, Hash};

    use super::{event_views, tx_view, Decoded, Runtime};

    fn record(module: u16, data: Vec<u8>) -> EventRecord {
        EventRecord {
            module,
            data: BoundedBytes::try_from_vec(data).unwrap(),
        }
    }

    #[test]
    fn events_are_decoded_by_their_module_and_the_rest_kept_raw_with_the_reason() {
        let runtime = Runtime::builder(RuntimeConfig::new(ChainId(1)))
            .build()
            .unwrap();
        let transfer = BankEvent::Transfer {
            from: Address([1; 32]),
            to: Address([2; 32]),
            asset: NATIVE,
            amount: u128::MAX,
        };
        let receipt = Receipt {
            tx: Hash::ZERO,
            outcome: Outcome::Success,
            gas_used: 1,
            fee_paid: 1,
            events: BoundedVec::try_from_vec(vec![
                record(1, codec::encode(&transfer)),
                record(9, vec![0xde, 0xad]),
                record(1, vec![7]),
            ])
            .unwrap(),
        };
        let views = event_views(&runtime, &receipt);
        match &views[0].decoded {
            Decoded::Module { module_name, value } => {
                assert_eq!(module_name, "bank");
                // Amounts past 2^64 survive as decimal strings.
                assert_eq!(value["transfer"]["amount"], u128::MAX.to_string());
            }
            other => panic!("a bank event was not decoded: {other:?}"),
        }
        assert_eq!(views[1].module, 9);
        assert_eq!(views[1].data, "0xdead", "the raw bytes stay");
        assert_eq!(
            views[1].decoded,
            Decoded::Undecoded {
                undecoded: "no module at index 9".into()
            }
        );
        assert!(
            matches!(&views[2].decoded, Decoded::Undecoded { .. }),
            "bytes the bank refuses are not decoded"
        );
        let json = serde_json::to_value(&views[1]).unwrap();
        assert_eq!(json["undecoded"], "no module at index 9");

        // A failed call names its module.
        let failed = Receipt {
            outcome: Outcome::Failed {
                module: 1,
                code: 2,
                reason: BoundedString::truncate_from("insufficient".into()),
            },
            events: BoundedVec::new(),
            ..receipt
        };
        let view = tx_view(
            &runtime,
            lamina_interop::chain::TxRecord {
                height: lamina_interop::Height(1),
                index: 0,
                receipt: failed,
            },
        );
        assert_eq!(view.failed_in.as_deref(), Some("bank"));
        // The typed client reads the record back out of the view.
        let round: super::TxView =
            serde_json::from_value(serde_json::to_value(&view).unwrap()).unwrap();
        assert_eq!(round, view);
    }
}
