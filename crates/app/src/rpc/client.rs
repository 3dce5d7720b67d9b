//! The typed client, over HTTP.

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use lamina_interop::block::RawTx;
use lamina_interop::chain::TxRecord;
use lamina_interop::messages::Admission;
use lamina_interop::{Address, Hash, Height};
use serde::de::DeserializeOwned;

use super::{Balance, BlockView, ChainInfo, Head, HeaderView, Health};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcClientError {
    /// The transport or the server reported an error.
    #[error("{0}")]
    Rpc(#[from] jsonrpsee::core::ClientError),
    /// The server answered something this client does not understand.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// A typed client of a node's JSON-RPC.
#[derive(Clone)]
pub struct RpcClient {
    http: HttpClient,
}

impl RpcClient {
    /// A client of the node at `url` (`http://127.0.0.1:9944`).
    pub fn new(url: &str) -> Result<RpcClient, RpcClientError> {
        let http = HttpClientBuilder::default()
            .max_request_size(64 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .request_timeout(std::time::Duration::from_secs(60))
            .build(url)?;
        Ok(RpcClient { http })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> Result<T, RpcClientError> {
        Ok(self.http.request(method, params).await?)
    }

    /// `system_health`.
    pub async fn health(&self) -> Result<Health, RpcClientError> {
        self.call("system_health", rpc_params![]).await
    }

    /// `system_chain`.
    pub async fn chain(&self) -> Result<ChainInfo, RpcClientError> {
        self.call("system_chain", rpc_params![]).await
    }

    /// `system_version`.
    pub async fn version(&self) -> Result<String, RpcClientError> {
        self.call("system_version", rpc_params![]).await
    }

    /// `rpc_methods`.
    pub async fn methods(&self) -> Result<Vec<String>, RpcClientError> {
        self.call("rpc_methods", rpc_params![]).await
    }

    /// `chain_getFinalizedHead`.
    pub async fn finalized_head(&self) -> Result<Head, RpcClientError> {
        self.call("chain_getFinalizedHead", rpc_params![]).await
    }

    /// `chain_getHeader`; the latest when `height` is `None`.
    pub async fn header(
        &self,
        height: Option<Height>,
    ) -> Result<Option<HeaderView>, RpcClientError> {
        match height {
            Some(height) => self.call("chain_getHeader", rpc_params![height]).await,
            None => self.call("chain_getHeader", rpc_params![]).await,
        }
    }

    /// `chain_getBlock`.
    pub async fn block(&self, height: Height) -> Result<Option<BlockView>, RpcClientError> {
        self.call("chain_getBlock", rpc_params![height]).await
    }

    /// `chain_getBlockByHash`.
    pub async fn block_by_hash(&self, hash: Hash) -> Result<Option<BlockView>, RpcClientError> {
        self.call("chain_getBlockByHash", rpc_params![hash]).await
    }

    /// `tx_submit` of one transaction.
    pub async fn submit(&self, tx: &RawTx) -> Result<Admission, RpcClientError> {
        let mut verdicts: Vec<Admission> = self.submit_batch(std::slice::from_ref(tx)).await?;
        verdicts
            .pop()
            .ok_or_else(|| RpcClientError::Unexpected("no verdict".into()))
    }

    /// `tx_submit` of a batch: one verdict per transaction, in order.
    pub async fn submit_batch(&self, txs: &[RawTx]) -> Result<Vec<Admission>, RpcClientError> {
        let hex: Vec<String> = txs
            .iter()
            .map(|tx| format!("0x{}", hex::encode(tx.as_ref())))
            .collect();
        self.call("tx_submit", rpc_params![hex]).await
    }

    /// `tx_get`.
    pub async fn tx(&self, id: Hash) -> Result<Option<TxRecord>, RpcClientError> {
        self.call("tx_get", rpc_params![id]).await
    }

    /// `state_getBalance` of the native asset or `asset`.
    pub async fn balance(
        &self,
        account: Address,
        asset: Option<u32>,
    ) -> Result<u128, RpcClientError> {
        let balance: Balance = match asset {
            Some(asset) => {
                self.call("state_getBalance", rpc_params![account, asset])
                    .await?
            }
            None => self.call("state_getBalance", rpc_params![account]).await?,
        };
        balance
            .amount
            .parse()
            .map_err(|_| RpcClientError::Unexpected(format!("balance {:?}", balance.amount)))
    }

    /// `state_getValue`, with the proof checked here against the root the node names:
    /// `(height, root, value)`. A light client also checks that root against a header it
    /// trusts (a block's header names the state root of the height before it).
    pub async fn value(
        &self,
        key: &[u8],
    ) -> Result<(Height, Hash, Option<Vec<u8>>), RpcClientError> {
        let answer: super::ValueWithProof = self
            .call(
                "state_getValue",
                rpc_params![format!("0x{}", hex::encode(key))],
            )
            .await?;
        let bytes = hex::decode(answer.proof.trim_start_matches("0x"))
            .map_err(|e| RpcClientError::Unexpected(format!("proof hex: {e}")))?;
        let proof = lamina_interop::state_proof::StateProof::decode(&bytes)
            .map_err(|e| RpcClientError::Unexpected(format!("proof: {e}")))?;
        let value = lamina_interop::state_proof::verify(&answer.root, key, &proof)
            .map_err(|e| RpcClientError::Unexpected(e.to_string()))?;
        let claimed = match answer.value {
            Some(text) => Some(
                hex::decode(text.trim_start_matches("0x"))
                    .map_err(|e| RpcClientError::Unexpected(format!("value hex: {e}")))?,
            ),
            None => None,
        };
        if claimed != value {
            return Err(RpcClientError::Unexpected(
                "the value does not match its proof".into(),
            ));
        }
        Ok((answer.height, answer.root, value))
    }

    /// `state_getNonce`.
    pub async fn nonce(&self, account: Address) -> Result<u64, RpcClientError> {
        self.call("state_getNonce", rpc_params![account]).await
    }
}
