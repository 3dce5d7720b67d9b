//! The typed client, over HTTP. Its calls are [`LaminaApiClient`]'s, which jsonrpsee derives
//! from the same trait the server implements; this wrapper adds connection settings and checks
//! state proofs.

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use lamina_interop::block::RawTx;
use lamina_interop::chain::TxRecord;
use lamina_interop::messages::Admission;
use lamina_interop::timeline::BlockTimes;
use lamina_interop::{Address, Hash, Height};

use super::api::LaminaApiClient;
use super::{BlockView, ChainInfo, DryRun, DryRunInput, Head, HeaderView, Health, TxInput, TxView};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcClientError {
    /// The transport or the server reported an error.
    #[error("{0}")]
    Rpc(#[from] jsonrpsee::core::ClientError),
    /// The server answered something this client does not accept.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// A typed client of a node's JSON-RPC.
#[derive(Clone)]
pub struct RpcClient {
    http: HttpClient,
}

fn hex_tx(tx: &RawTx) -> String {
    format!("0x{}", hex::encode(tx.as_ref()))
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

    /// The generated client, for calls this wrapper does not add to.
    pub fn api(&self) -> &HttpClient {
        &self.http
    }

    /// `system_health`.
    pub async fn health(&self) -> Result<Health, RpcClientError> {
        Ok(LaminaApiClient::health(&self.http).await?)
    }

    /// `system_chain`.
    pub async fn chain(&self) -> Result<ChainInfo, RpcClientError> {
        Ok(LaminaApiClient::chain(&self.http).await?)
    }

    /// `chain_getFinalizedHead`.
    pub async fn finalized_head(&self) -> Result<Head, RpcClientError> {
        Ok(LaminaApiClient::finalized_head(&self.http).await?)
    }

    /// `chain_getHeader`; the latest when `height` is `None`.
    pub async fn header(
        &self,
        height: Option<Height>,
    ) -> Result<Option<HeaderView>, RpcClientError> {
        Ok(LaminaApiClient::header(&self.http, height).await?)
    }

    /// `chain_getBlock`.
    pub async fn block(&self, height: Height) -> Result<Option<BlockView>, RpcClientError> {
        Ok(LaminaApiClient::block(&self.http, height).await?)
    }

    /// `chain_getBlockByHash`.
    pub async fn block_by_hash(&self, hash: Hash) -> Result<Option<BlockView>, RpcClientError> {
        Ok(LaminaApiClient::block_by_hash(&self.http, hash).await?)
    }

    /// `chain_getValidators`: the current epoch's validators and what each did over the last
    /// `blocks` finalized blocks.
    pub async fn validators(
        &self,
        blocks: Option<u32>,
    ) -> Result<super::ValidatorsView, RpcClientError> {
        Ok(LaminaApiClient::validators(&self.http, blocks).await?)
    }

    /// `chain_getTimeline`: when the node saw each of its last `blocks` finalized blocks
    /// reach each step.
    pub async fn timeline(&self, blocks: u32) -> Result<Vec<BlockTimes>, RpcClientError> {
        Ok(LaminaApiClient::timeline(&self.http, Some(blocks)).await?)
    }

    /// `chain_getFinalityProof`, decoded (not verified: that takes the set of its epoch,
    /// which a light client holds).
    pub async fn finality_proof(
        &self,
        height: Height,
    ) -> Result<Option<lamina_interop::finality::FinalityProof>, RpcClientError> {
        let Some(view) = LaminaApiClient::finality_proof(&self.http, height).await? else {
            return Ok(None);
        };
        Ok(Some(decode_hex(&view.proof, "finality proof")?))
    }

    /// `chain_getSetChange`, decoded: the block at the returned height, its finality proof,
    /// and the state proof of the set (not verified).
    pub async fn set_change(
        &self,
        epoch: u64,
    ) -> Result<
        Option<(
            Height,
            lamina_interop::finality::FinalityProof,
            lamina_interop::state_proof::StateProof,
        )>,
        RpcClientError,
    > {
        let Some(view) = LaminaApiClient::set_change(&self.http, epoch).await? else {
            return Ok(None);
        };
        let finality = decode_hex(&view.finality, "finality proof")?;
        let bytes = hex::decode(view.proof.trim_start_matches("0x"))
            .map_err(|e| RpcClientError::Unexpected(format!("set proof hex: {e}")))?;
        let proof = lamina_interop::state_proof::StateProof::decode(&bytes)
            .map_err(|e| RpcClientError::Unexpected(format!("set proof: {e}")))?;
        Ok(Some((view.height, finality, proof)))
    }

    /// `tx_submit` of one transaction.
    pub async fn submit(&self, tx: &RawTx) -> Result<Admission, RpcClientError> {
        let mut verdicts = LaminaApiClient::submit(&self.http, TxInput::One(hex_tx(tx))).await?;
        verdicts
            .pop()
            .ok_or_else(|| RpcClientError::Unexpected("no verdict".into()))
    }

    /// `tx_submit` of a batch: one verdict per transaction, in order.
    pub async fn submit_batch(&self, txs: &[RawTx]) -> Result<Vec<Admission>, RpcClientError> {
        let batch = TxInput::Many(txs.iter().map(hex_tx).collect());
        let verdicts = LaminaApiClient::submit(&self.http, batch).await?;
        if verdicts.len() != txs.len() {
            return Err(RpcClientError::Unexpected(format!(
                "{} verdicts for {} transactions",
                verdicts.len(),
                txs.len()
            )));
        }
        Ok(verdicts)
    }

    /// `tx_get`.
    pub async fn tx(&self, id: Hash) -> Result<Option<TxRecord>, RpcClientError> {
        Ok(self.tx_view(id).await?.map(|view| view.record))
    }

    /// `tx_dryRun`: the receipt `input` would get, changing nothing.
    pub async fn dry_run(&self, input: DryRunInput) -> Result<DryRun, RpcClientError> {
        Ok(LaminaApiClient::dry_run(&self.http, input).await?)
    }

    /// `tx_get`, with the receipt's events decoded by the chain's modules.
    pub async fn tx_view(&self, id: Hash) -> Result<Option<TxView>, RpcClientError> {
        Ok(LaminaApiClient::tx(&self.http, id).await?)
    }

    /// `state_getBalance` of the native asset or `asset`.
    pub async fn balance(
        &self,
        account: Address,
        asset: Option<u32>,
    ) -> Result<u128, RpcClientError> {
        let balance = LaminaApiClient::balance(&self.http, account, asset).await?;
        balance
            .amount
            .parse()
            .map_err(|_| RpcClientError::Unexpected(format!("balance {:?}", balance.amount)))
    }

    /// `state_getNonce`.
    pub async fn nonce(&self, account: Address) -> Result<u64, RpcClientError> {
        Ok(LaminaApiClient::nonce(&self.http, account).await?)
    }

    /// `state_query`: `module`'s answer to `query`.
    pub async fn query(
        &self,
        module: &str,
        query: serde_json::Value,
    ) -> Result<serde_json::Value, RpcClientError> {
        Ok(LaminaApiClient::query(&self.http, module.to_string(), query).await?)
    }

    /// `tx_encodeCall`: the index of `module` and the bytes of `call`.
    pub async fn encode_call(
        &self,
        module: &str,
        call: serde_json::Value,
    ) -> Result<(u16, Vec<u8>), RpcClientError> {
        let encoded = LaminaApiClient::encode_call(&self.http, module.to_string(), call).await?;
        let bytes = hex::decode(encoded.call.trim_start_matches("0x"))
            .map_err(|e| RpcClientError::Unexpected(format!("call hex: {e}")))?;
        Ok((encoded.module, bytes))
    }

    /// `state_getValue`, unchecked: the committed height the proof is for, and the proof.
    /// A light client checks it against the root a final header names for that height.
    pub async fn value_proof(
        &self,
        key: &[u8],
    ) -> Result<(Height, lamina_interop::state_proof::StateProof), RpcClientError> {
        let answer = LaminaApiClient::value(&self.http, format!("0x{}", hex::encode(key))).await?;
        let proof = decode_proof(&answer.proof)?;
        Ok((answer.height, proof))
    }

    /// `state_getValues`, unchecked: the committed height all proofs are for, and each
    /// key's proof in order.
    pub async fn value_proofs(
        &self,
        keys: &[Vec<u8>],
    ) -> Result<(Height, Vec<lamina_interop::state_proof::StateProof>), RpcClientError> {
        let hex_keys = keys
            .iter()
            .map(|key| format!("0x{}", hex::encode(key)))
            .collect();
        let answers = LaminaApiClient::values(&self.http, hex_keys).await?;
        if answers.len() != keys.len() {
            return Err(RpcClientError::Unexpected(format!(
                "{} proofs for {} keys",
                answers.len(),
                keys.len()
            )));
        }
        let height = answers.first().map_or(Height(0), |a| a.height);
        let mut proofs = Vec::with_capacity(answers.len());
        for answer in answers {
            if answer.height != height {
                return Err(RpcClientError::Unexpected(
                    "proofs against different heights".into(),
                ));
            }
            proofs.push(decode_proof(&answer.proof)?);
        }
        Ok((height, proofs))
    }

    /// `state_getValue`, with the proof checked here against the root the node names:
    /// `(height, root, value)`. A light client also checks that root against a header it
    /// trusts (a block's header names the state root of the height before it).
    pub async fn value(
        &self,
        key: &[u8],
    ) -> Result<(Height, Hash, Option<Vec<u8>>), RpcClientError> {
        let answer = LaminaApiClient::value(&self.http, format!("0x{}", hex::encode(key))).await?;
        let proof = decode_proof(&answer.proof)?;
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
}

/// A state proof's hex encoding (`0x` optional), decoded (not verified).
fn decode_proof(text: &str) -> Result<lamina_interop::state_proof::StateProof, RpcClientError> {
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| RpcClientError::Unexpected(format!("proof hex: {e}")))?;
    lamina_interop::state_proof::StateProof::decode(&bytes)
        .map_err(|e| RpcClientError::Unexpected(format!("proof: {e}")))
}

/// `text` (hex, `0x` optional) decoded as a `T`, limits checked.
fn decode_hex<T: lamina_interop::codec::Canonical>(
    text: &str,
    what: &str,
) -> Result<T, RpcClientError> {
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| RpcClientError::Unexpected(format!("{what} hex: {e}")))?;
    T::decode(&bytes).map_err(|e| RpcClientError::Unexpected(format!("{what}: {e}")))
}
