//! The JSON-RPC server.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{ServerBuilder, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use lamina_agreement::modules::{accounts, bank};
use lamina_interop::block::{Block, RawTx};
use lamina_interop::bus::{Bus, RecvError, Requester};
use lamina_interop::chain::ChainReader;
use lamina_interop::messages::{Admission, OpenSnapshot, ProveState, StateCommitted, SubmitTxs};
use lamina_interop::{Address, ChainId, Hash, Height};

use super::{Balance, BlockView, ChainInfo, Head, HeaderView, Health, MAX_SUBMIT_BATCH};

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
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            // A full tx_submit batch of hex transactions.
            max_request_bytes: 64 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            max_connections: 256,
            max_batch: 256,
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

fn invalid(detail: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(-32602, format!("invalid params: {detail}"), None::<()>)
}

fn failed(detail: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(-32000, detail.to_string(), None::<()>)
}

fn parse_hash(text: &str) -> Result<Hash, ErrorObjectOwned> {
    Hash::from_hex(text).map_err(|e| invalid(format!("{text:?} is not a 32-byte hex hash: {e}")))
}

fn parse_address(text: &str) -> Result<Address, ErrorObjectOwned> {
    text.parse()
        .map_err(|e| invalid(format!("{text:?} is not an address: {e:?}")))
}

fn parse_tx(text: &str) -> Result<RawTx, ErrorObjectOwned> {
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(hex_text).map_err(|e| invalid(format!("transaction hex: {e}")))?;
    RawTx::try_from_vec(bytes)
        .map_err(|b| invalid(format!("transaction of {} bytes is too large", b.len())))
}

fn block_view(block: Block) -> BlockView {
    BlockView {
        hash: block.id(),
        header: block.header,
        txs: block.txs.into_inner(),
    }
}

/// The methods, registered on a module.
fn methods(
    context: RpcContext,
) -> Result<RpcModule<RpcContext>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(context);
    module.register_method("system_version", |_, ctx, _| {
        Ok::<_, ErrorObjectOwned>(ctx.version.clone())
    })?;
    module.register_method("system_chain", |_, ctx, _| {
        Ok::<_, ErrorObjectOwned>(ChainInfo {
            name: ctx.name.clone(),
            chain_id: ctx.chain_id,
            gas_price: ctx.gas_price,
        })
    })?;
    module.register_method("system_health", |_, ctx, _| {
        let height = ctx
            .chain
            .finalized()
            .map_err(failed)?
            .unwrap_or(Height::GENESIS);
        Ok::<_, ErrorObjectOwned>(Health {
            height,
            is_syncing: false,
            peers: 0,
        })
    })?;
    module.register_method("chain_getFinalizedHead", |_, ctx, _| head(ctx))?;
    module.register_method("chain_getHeader", |params: Params<'_>, ctx, _| {
        let height: Option<Height> = params
            .sequence()
            .optional_next()
            .map_err(|e| invalid(e.message()))?;
        let height = match height {
            Some(height) => height,
            None => head(ctx)?.height,
        };
        let header = ctx.chain.header(height).map_err(failed)?;
        Ok::<_, ErrorObjectOwned>(header.map(|header| HeaderView {
            hash: header.id(),
            header,
        }))
    })?;
    module.register_method("chain_getBlock", |params: Params<'_>, ctx, _| {
        let height: Height = params.one().map_err(|e| invalid(e.message()))?;
        Ok::<_, ErrorObjectOwned>(ctx.chain.block(height).map_err(failed)?.map(block_view))
    })?;
    module.register_method("chain_getBlockByHash", |params: Params<'_>, ctx, _| {
        let text: String = params.one().map_err(|e| invalid(e.message()))?;
        let id = parse_hash(&text)?;
        let Some(height) = ctx.chain.height_of(&id).map_err(failed)? else {
            return Ok(None);
        };
        Ok::<_, ErrorObjectOwned>(ctx.chain.block(height).map_err(failed)?.map(block_view))
    })?;
    module.register_method("tx_get", |params: Params<'_>, ctx, _| {
        let text: String = params.one().map_err(|e| invalid(e.message()))?;
        ctx.chain.tx(&parse_hash(&text)?).map_err(failed)
    })?;
    module.register_async_method("tx_submit", |params: Params<'static>, ctx, _| async move {
        let value: serde_json::Value = params.one().map_err(|e| invalid(e.message()))?;
        let texts: Vec<String> = match value {
            serde_json::Value::String(one) => vec![one],
            serde_json::Value::Array(many) => many
                .into_iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid("transactions are hex strings"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid("expected a hex transaction or an array of them")),
        };
        if texts.len() > MAX_SUBMIT_BATCH {
            return Err(invalid(format!(
                "{} transactions exceed the batch limit of {MAX_SUBMIT_BATCH}",
                texts.len()
            )));
        }
        let txs = texts
            .iter()
            .map(|t| parse_tx(t))
            .collect::<Result<Vec<_>, _>>()?;
        ctx.submit
            .request(SubmitTxs { txs })
            .await
            .map_err(|_| failed("the node is shutting down"))
    })?;
    module.register_async_method(
        "state_getBalance",
        |params: Params<'static>, ctx, _| async move {
            let mut seq = params.sequence();
            let address: String = seq.next().map_err(|e| invalid(e.message()))?;
            let asset: Option<u32> = seq.optional_next().map_err(|e| invalid(e.message()))?;
            let account = parse_address(&address)?;
            let snapshot = snapshot(&ctx).await?;
            let amount =
                bank::committed_balance(&*snapshot, asset.unwrap_or(bank::NATIVE), &account)
                    .map_err(failed)?;
            Ok::<_, ErrorObjectOwned>(Balance {
                amount: amount.to_string(),
            })
        },
    )?;
    module.register_async_method(
        "state_getNonce",
        |params: Params<'static>, ctx, _| async move {
            let address: String = params.one().map_err(|e| invalid(e.message()))?;
            let account = parse_address(&address)?;
            let snapshot = snapshot(&ctx).await?;
            accounts::committed_nonce(&*snapshot, &account).map_err(failed)
        },
    )?;
    module.register_async_method(
        "state_getValue",
        |params: Params<'static>, ctx, _| async move {
            let text: String = params.one().map_err(|e| invalid(e.message()))?;
            let key = hex::decode(text.strip_prefix("0x").unwrap_or(&text))
                .map_err(|e| invalid(format!("key hex: {e}")))?;
            if key.len() > lamina_interop::module::MAX_KEY_LEN {
                return Err(invalid(format!(
                    "key of {} bytes exceeds {}",
                    key.len(),
                    lamina_interop::module::MAX_KEY_LEN
                )));
            }
            let answer = match ctx.prove.request(ProveState { key }).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => return Err(failed(err)),
                Err(_) => return Err(failed("the node is shutting down")),
            };
            let value = match &answer.proof {
                lamina_interop::state_proof::StateProof::Member { value, .. } => {
                    Some(format!("0x{}", hex::encode(value)))
                }
                lamina_interop::state_proof::StateProof::NonMember { .. } => None,
            };
            Ok::<_, ErrorObjectOwned>(super::ValueWithProof {
                height: answer.height,
                root: answer.root,
                value,
                proof: format!("0x{}", hex::encode(answer.proof.encode())),
            })
        },
    )?;
    register_subscriptions(&mut module)?;
    let names: Vec<String> = module
        .method_names()
        .map(str::to_string)
        .chain(["rpc_methods".to_string()])
        .collect();
    module.register_method("rpc_methods", move |_, _, _| {
        Ok::<_, ErrorObjectOwned>(names.clone())
    })?;
    Ok(module)
}

/// One notification per committed block, built by `make` (`None`: nothing to send), until
/// the client unsubscribes or the node stops. A subscriber that falls behind skips blocks.
async fn follow_blocks<T: serde::Serialize>(
    pending: jsonrpsee::PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
    make: impl Fn(&RpcContext, StateCommitted) -> Result<Option<T>, ErrorObjectOwned>,
) -> jsonrpsee::core::SubscriptionResult {
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

/// The notifications of `tx_submitAndWatch`.
#[derive(serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum TxStatus {
    /// In the pool.
    Admitted { id: Hash },
    /// Refused at admission.
    Rejected {
        id: Hash,
        reason: lamina_interop::messages::Rejection,
    },
    /// In a block.
    Included {
        id: Hash,
        height: Height,
        index: u32,
    },
    /// The block is final, with the receipt.
    Finalized {
        id: Hash,
        height: Height,
        receipt: lamina_interop::block::Receipt,
    },
}

fn register_subscriptions(
    module: &mut RpcModule<RpcContext>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        |_, pending, ctx, _| follow_blocks(pending, ctx, committed_header),
    )?;
    // With the engines so far a block is final when it is committed; a BFT engine's heads
    // will arrive before their finality.
    module.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |_, pending, ctx, _| follow_blocks(pending, ctx, committed_header),
    )?;
    module.register_subscription(
        "chain_subscribeEvents",
        "chain_events",
        "chain_unsubscribeEvents",
        |_, pending, ctx, _| {
            follow_blocks(pending, ctx, |ctx, event| {
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
        },
    )?;
    module.register_subscription(
        "tx_submitAndWatch",
        "tx_status",
        "tx_unwatch",
        |params, pending, ctx, _| async move {
            let text: String = match params.one() {
                Ok(text) => text,
                Err(e) => {
                    pending.reject(invalid(e.message())).await;
                    return Ok(());
                }
            };
            let tx = match parse_tx(&text) {
                Ok(tx) => tx,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            // Subscribe before submitting, so the block that includes it cannot be missed.
            let mut events = ctx.bus.subscribe::<StateCommitted>();
            let verdict = ctx.submit.request(SubmitTxs { txs: vec![tx] }).await;
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
        },
    )?;
    Ok(())
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
    let server = ServerBuilder::with_config(config).build(address).await?;
    let address = server.local_addr()?;
    let module = methods(context).map_err(std::io::Error::other)?;
    let handle = server.start(module);
    Ok(RpcServer { address, handle })
}
