//! Two chains with the `interchain` module side by side, in one process: each runs blocks of
//! signed transactions through the real runtime, commits each block's changes to its own QMDB
//! state (so its state proofs are the ones a node serves), and has its headers certified by
//! its own validator keys. A relayer's steps ([`Relay::deliver`], [`update`], [`recv_msg`]
//! and the rest) move packets, acknowledgements and timeouts with real finality and state
//! proofs.
//!
//! A header at height `h` names the state after block `h` (`state_height = h`): the harness
//! runs no pipeline, and the module asks only that a header names a root.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use commonware_runtime::deterministic;
use commonware_runtime::Supervisor as _;
use lamina_agreement::modules::accounts;
use lamina_agreement::modules::bank::{self, AssetGenesis, AssetInfo, Bank, BankGenesis};
use lamina_agreement::{execute_block, MemoryState, Mode, Runtime, RuntimeConfig, SignedTx};
use lamina_agreement::{UnsignedTx, VerifiedTx};
use lamina_app::interchain::{Interchain, InterchainEvent, InterchainGenesis};
use lamina_data_layer::state::{AuthenticatedState as _, QmdbState, StateConfig};
use lamina_interop::block::MAX_EVENT_LEN;
use lamina_interop::block::{Header, Outcome, Receipt, StateChange, StateDelta};
use lamina_interop::codec::{self, BoundedBytes, BoundedVec, Canonical};
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::{FinalityCertificate, FinalityProof, ValidatorSet};
use lamina_interop::interchain::{
    ack_path, commitment_path, prefixed, receipt_path, Acknowledgement, InterchainMsg, Packet,
    LAMINA_PREFIX,
};
use lamina_interop::light::NEXT_SET_KEY;
use lamina_interop::module::{Amount, Env};
use lamina_interop::state_proof::StateProof;
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

/// The first block's time on every harness chain.
pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;
/// Each block's time step.
pub const BLOCK_MS: u64 = 1_000;
/// A client's trusting period in the harness.
pub const TRUSTING_PERIOD_MS: u64 = 3_600_000;
/// A second native asset each chain has, besides asset 0.
pub const TOKEN: u32 = 1;
/// What each account holds of asset 0 and of [`TOKEN`].
pub const FUNDS: u128 = 1_000_000_000_000;

/// The key of test account `i` (the authority is account 0).
pub fn account(i: u64) -> SecretKey {
    lamina_agreement::testing::key(i)
}

/// Its address.
pub fn address(i: u64) -> Address {
    Address::of(&account(i).public_key())
}

/// One chain.
pub struct Chain {
    /// Its id.
    pub chain_id: ChainId,
    runtime: Runtime,
    state: MemoryState,
    qmdb: QmdbState<deterministic::Context>,
    /// Each epoch's validators and set (epoch 0 from the start).
    sets: BTreeMap<u64, (Arc<Vec<SecretKey>>, ValidatorSet)>,
    /// Blocks per epoch; `None`: one set forever.
    pub epoch_blocks: Option<u64>,
    /// The set change of each epoch after the first, captured when its epoch's last block
    /// was the latest (as a node's set-change store does): that block's finality proof and
    /// the proof of the next set against its state.
    set_changes: BTreeMap<u64, (FinalityProof, StateProof)>,
    /// The keys of the set decided for the next epoch, not yet written.
    rotation: Option<Vec<SecretKey>>,
    headers: BTreeMap<u64, Header>,
    height: u64,
    /// The next block's time, in milliseconds.
    pub time_ms: u64,
}

/// The runtime of a harness chain: accounts, bank, interchain.
pub fn runtime(chain_id: ChainId) -> Result<Runtime> {
    Ok(Runtime::builder(RuntimeConfig::new(chain_id))
        .module(Interchain::new(Bank))
        .build()?)
}

impl Chain {
    /// Chain `chain_id` with accounts 0 to 5 funded, account 0 the module's authority, and
    /// `validators` keys (seeded by `chain_id`) certifying its blocks.
    pub async fn new(
        ctx: &deterministic::Context,
        chain_id: ChainId,
        validators: usize,
    ) -> Result<Chain> {
        Chain::with_runtime(ctx, runtime(chain_id)?, validators).await
    }

    /// As [`Chain::new`] over `runtime`, which must compose `interchain` as [`runtime`] does.
    pub async fn with_runtime(
        ctx: &deterministic::Context,
        runtime: Runtime,
        validators: usize,
    ) -> Result<Chain> {
        let chain_id = runtime.config().chain_id;
        let holders: Vec<(Address, u128)> = (0..6).map(|i| (address(i), FUNDS)).collect();
        let mut bank = BankGenesis::native(holders.clone());
        bank.assets.push(AssetGenesis {
            id: TOKEN,
            info: AssetInfo {
                symbol: "TOK".into(),
                decimals: 6,
            },
            balances: holders.iter().map(|(a, n)| (*a, Amount(*n))).collect(),
            minters: Vec::new(),
        });
        let interchain = InterchainGenesis {
            authority: Some(address(0)),
            ..InterchainGenesis::default()
        };
        let sections = BTreeMap::from([
            ("bank".to_string(), bank.to_section()),
            ("interchain".to_string(), serde_json::to_value(interchain)?),
        ]);
        let env = env(chain_id, 0, GENESIS_TIME_MS);
        let delta = runtime.genesis(&sections, &env)?;
        let mut state = MemoryState::with_capacity(delta.len());
        state.apply(&delta);
        let mut qmdb = QmdbState::open(
            ctx.child("chain"),
            &StateConfig {
                partition: format!("chain-{}", chain_id.0),
                cache_pages: 256,
                ..StateConfig::default()
            },
        )
        .await?;
        qmdb.commit(Height(0), delta.changes()).await?;
        let validators: Vec<SecretKey> = (0..validators)
            .map(|i| {
                SecretKey::from_seed([
                    chain_id.0 as u8,
                    i as u8 + 1,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    7,
                ])
            })
            .collect();
        let set = ValidatorSet::new(0, validators.iter().map(SecretKey::public_key).collect())
            .map_err(|e| anyhow!("{e}"))?;
        let sets = BTreeMap::from([(0, (Arc::new(validators), set))]);
        Ok(Chain {
            chain_id,
            runtime,
            state,
            qmdb,
            sets,
            epoch_blocks: None,
            set_changes: BTreeMap::new(),
            rotation: None,
            headers: BTreeMap::new(),
            height: 0,
            time_ms: GENESIS_TIME_MS + BLOCK_MS,
        })
    }

    /// The last block's height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The header at `height`.
    pub fn header(&self, height: u64) -> Option<&Header> {
        self.headers.get(&height)
    }

    /// The committed state.
    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// `who`'s balance of `asset`.
    pub fn balance(&self, asset: u32, who: &Address) -> u128 {
        bank::committed_balance(&self.state, asset, who).unwrap_or(0)
    }

    /// `asset`'s total supply.
    pub fn supply(&self, asset: u32) -> u128 {
        bank::SUPPLY
            .get_committed(&self.state, &asset)
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Runs `txs` as the next block, commits it to QMDB and certifies its header (state
    /// height = its own height). Returns the receipts.
    pub async fn block(&mut self, txs: &[SignedTx]) -> Result<Vec<Receipt>> {
        let verified = txs
            .iter()
            .map(|tx| VerifiedTx::verify(tx.to_raw().as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("transaction: {e}"))?;
        self.height += 1;
        let env = env(self.chain_id, self.height, self.time_ms);
        let output = execute_block(
            &self.runtime,
            &env,
            &verified,
            &self.state,
            Mode::Sequential,
        )?;
        let delta = self.with_next_set(output.delta)?;
        self.state.apply(&delta);
        let root = self
            .qmdb
            .commit(Height(self.height), delta.changes())
            .await?;
        self.push_header(root, txs.len() as u32);
        self.capture_set_change().await?;
        Ok(output.receipts)
    }

    /// A block that writes `changes` without a transaction, certified by this chain's
    /// validators: what a chain whose validators lie can make its state say.
    pub async fn forge(&mut self, changes: Vec<StateChange>) -> Result<()> {
        let delta = StateDelta::from_changes(changes);
        self.height += 1;
        self.state.apply(&delta);
        let root = self
            .qmdb
            .commit(Height(self.height), delta.changes())
            .await?;
        self.push_header(root, 0);
        Ok(())
    }

    /// The epoch that orders `height`.
    pub fn epoch_of(&self, height: u64) -> u64 {
        match self.epoch_blocks {
            Some(blocks) if height > 0 => (height - 1) / blocks,
            _ => 0,
        }
    }

    /// From the next epoch on, `keys` sign this chain's blocks: the set is written under
    /// `staking/next_set` a few blocks before the boundary, as staking does.
    pub fn rotate(&mut self, keys: Vec<SecretKey>) {
        self.rotation = Some(keys);
    }

    /// `delta`, plus the next epoch's set when this block is the one that decides it (two
    /// blocks before the epoch's last): the rotated keys, or the same keys again.
    fn with_next_set(&mut self, delta: StateDelta) -> Result<StateDelta> {
        let Some(blocks) = self.epoch_blocks else {
            return Ok(delta);
        };
        if self.height % blocks != blocks.saturating_sub(2) % blocks {
            return Ok(delta);
        }
        let epoch = self.epoch_of(self.height);
        let keys = match self.rotation.take() {
            Some(keys) => Arc::new(keys),
            None => self
                .sets
                .get(&epoch)
                .map(|(k, _)| k.clone())
                .unwrap_or_default(),
        };
        let next = epoch + 1;
        let set = ValidatorSet::new(next, keys.iter().map(SecretKey::public_key).collect())
            .map_err(|e| anyhow!("{e}"))?;
        let mut changes = delta.changes().to_vec();
        changes.push(StateChange {
            key: NEXT_SET_KEY.to_vec(),
            value: Some(set.encode()),
        });
        self.sets.insert(next, (keys, set));
        Ok(StateDelta::from_changes(changes))
    }

    /// At an epoch's last block, with the next set decided: its finality proof and the proof
    /// of the next set against its state.
    async fn capture_set_change(&mut self) -> Result<()> {
        let Some(blocks) = self.epoch_blocks else {
            return Ok(());
        };
        let next = self.height / blocks;
        if !self.height.is_multiple_of(blocks) || !self.sets.contains_key(&next) {
            return Ok(());
        }
        let finality = self.finality(self.height, self.height)?;
        let proof = self.qmdb.prove(NEXT_SET_KEY).await?;
        self.set_changes.insert(next, (finality, proof));
        Ok(())
    }

    /// The updates that take a client knowing sets up to `known` to this chain's latest epoch.
    pub fn set_change_updates(&self, client: &str, known: u64) -> Result<Vec<InterchainMsg>> {
        let latest = self.epoch_of(self.height + 1);
        (known + 1..=latest)
            .map(|epoch| {
                let (finality, proof) = self
                    .set_changes
                    .get(&epoch)
                    .with_context(|| format!("no set change into epoch {epoch}"))?;
                Ok(InterchainMsg::UpdateClient {
                    client: id(client),
                    proof: BoundedBytes::try_from_vec(finality.encode())
                        .map_err(|_| anyhow!("too large"))?,
                    next_set: Some(
                        BoundedBytes::try_from_vec(proof.encode())
                            .map_err(|_| anyhow!("too large"))?,
                    ),
                })
            })
            .collect()
    }

    fn push_header(&mut self, root: Hash, tx_count: u32) {
        let parent = self
            .headers
            .get(&(self.height - 1))
            .map(Header::id)
            .unwrap_or(Hash::ZERO);
        let header = Header {
            chain_id: self.chain_id,
            height: Height(self.height),
            parent,
            timestamp: Timestamp(self.time_ms),
            proposer: Address([0; 32]),
            tx_root: Hash::ZERO,
            tx_count,
            state_height: Height(self.height),
            state_root: root,
        };
        self.headers.insert(self.height, header);
        self.time_ms += BLOCK_MS;
    }

    /// `call` from `from` signed with its next nonce (counting `pending` earlier ones).
    pub fn sign(&self, from: &SecretKey, call: &InterchainMsg, pending: u64) -> Result<SignedTx> {
        let module = self
            .runtime
            .module_index("interchain")
            .context("no interchain module")?;
        let sender = Address::of(&from.public_key());
        let nonce = accounts::committed_nonce(&self.state, &sender)? + pending;
        let call = BoundedBytes::try_from_vec(codec::encode(call))
            .map_err(|_| anyhow!("call too large"))?;
        let gas_limit = 20_000_000;
        Ok(UnsignedTx {
            chain_id: self.chain_id,
            sender: from.public_key(),
            nonce,
            max_fee: self.runtime.required_fee(gas_limit, 0).unwrap_or(u128::MAX),
            tip: 0,
            gas_limit,
            module,
            call,
        }
        .sign(from))
    }

    /// Runs `call` from `from` in a block of its own; its receipt.
    pub async fn call(&mut self, from: &SecretKey, call: &InterchainMsg) -> Result<Receipt> {
        let tx = self.sign(from, call, 0)?;
        self.block(&[tx]).await?.pop().context("no receipt")
    }

    /// The interchain events in `receipt`.
    pub fn events(&self, receipt: &Receipt) -> Vec<InterchainEvent> {
        let Some(index) = self.runtime.module_index("interchain") else {
            return Vec::new();
        };
        receipt
            .events
            .iter()
            .filter(|r| r.module == index)
            .filter_map(|r| codec::decode_limited(r.data.as_ref(), "event", MAX_EVENT_LEN).ok())
            .collect()
    }

    /// The client a `create_client` in `receipt` created, if it did.
    pub fn created_client(&self, receipt: &Receipt) -> Option<String> {
        self.events(receipt).into_iter().find_map(|e| match e {
            InterchainEvent::ClientCreated { client, .. } => Some(client),
            _ => None,
        })
    }

    /// The message that creates a client of this chain from its genesis.
    pub fn create_client(&self) -> InterchainMsg {
        InterchainMsg::CreateClient {
            chain_id: self.chain_id,
            epoch_blocks: self.epoch_blocks,
            trusting_period_ms: TRUSTING_PERIOD_MS,
            checkpoint_height: Height(0),
            checkpoint_block: Hash::ZERO,
            checkpoint_time: Timestamp(GENESIS_TIME_MS),
            set: BoundedBytes::try_from_vec(self.sets[&0].1.encode()).unwrap_or_default(),
        }
    }

    /// The finality proof of headers `from..=to`, signed by a quorum.
    pub fn finality(&self, from: u64, to: u64) -> Result<FinalityProof> {
        let headers: Vec<Header> = (from..=to)
            .map(|h| self.headers.get(&h).cloned().context("no header"))
            .collect::<Result<_>>()?;
        self.certify(headers)
    }

    /// `headers` (consecutive) with a certificate of the last, signed by a quorum of this
    /// chain's validators: also a forged chain, when the headers are not this chain's.
    pub fn certify(&self, headers: Vec<Header>) -> Result<FinalityProof> {
        let last = headers.last().context("no headers")?;
        let (keys, set) = self
            .sets
            .get(&self.epoch_of(last.height.0))
            .context("no set for the epoch")?;
        let signers: Vec<&SecretKey> = keys.iter().take(set.quorum()).collect();
        Ok(FinalityProof {
            certificate: FinalityCertificate::sign(
                self.chain_id,
                set,
                (last.height.0, last.height.0 - 1),
                last.id(),
                &signers,
            ),
            headers: BoundedVec::try_from_vec(headers).map_err(|_| anyhow!("too many"))?,
        })
    }

    /// The update of a client of this chain to its latest block (headers `from..=latest`).
    pub fn update_from(&self, client: &str, from: u64) -> Result<InterchainMsg> {
        let proof = self.finality(from.max(1), self.height)?;
        Ok(InterchainMsg::UpdateClient {
            client: id(client),
            proof: BoundedBytes::try_from_vec(proof.encode()).map_err(|_| anyhow!("too large"))?,
            next_set: None,
        })
    }

    /// The update of a client of this chain by the header at `height` alone.
    pub fn update_at(&self, client: &str, height: u64) -> Result<InterchainMsg> {
        let proof = self.finality(height, height)?;
        Ok(InterchainMsg::UpdateClient {
            client: id(client),
            proof: BoundedBytes::try_from_vec(proof.encode()).map_err(|_| anyhow!("too large"))?,
            next_set: None,
        })
    }

    /// The proof of `path` (under [`LAMINA_PREFIX`]) in the latest state.
    pub async fn prove(
        &self,
        path: &[u8],
    ) -> Result<BoundedBytes<{ lamina_interop::interchain::MAX_MESSAGE_PROOF_LEN }>> {
        let proof: StateProof = self.qmdb.prove(&prefixed(LAMINA_PREFIX, path)).await?;
        BoundedBytes::try_from_vec(proof.encode()).map_err(|_| anyhow!("proof too large"))
    }

    /// The packets sent in `receipts`.
    pub fn sent(&self, receipts: &[Receipt]) -> Vec<Packet> {
        receipts
            .iter()
            .flat_map(|r| self.events(r))
            .filter_map(|e| match e {
                InterchainEvent::PacketSent { packet } => Some(packet),
                _ => None,
            })
            .collect()
    }

    /// The acknowledgement written for a packet received in `receipt`.
    pub fn written_ack(&self, receipt: &Receipt) -> Option<Acknowledgement> {
        self.events(receipt).into_iter().find_map(|e| match e {
            InterchainEvent::PacketReceived {
                acknowledgement, ..
            } => Some(acknowledgement),
            _ => None,
        })
    }
}

/// The block environment at `height` and `time_ms`.
pub fn env(chain_id: ChainId, height: u64, time_ms: u64) -> Env {
    Env {
        chain_id,
        height: Height(height),
        timestamp: Timestamp(time_ms),
        proposer: Address([0; 32]),
    }
}

/// `text` as a client id or port.
pub fn id(text: &str) -> lamina_interop::interchain::Id {
    serde_json::from_value(serde_json::Value::String(text.to_string())).unwrap_or_default()
}

/// Whether `receipt` succeeded; the module's error code otherwise.
pub fn code(receipt: &Receipt) -> Option<u32> {
    match &receipt.outcome {
        Outcome::Success => None,
        Outcome::Failed { code, .. } => Some(*code),
    }
}

/// The relayer's steps between a source and a destination chain. Each brings the receiving
/// side's client up to date first, as a relayer does, then submits the proven message.
pub struct Relay {
    /// The source's client of the destination.
    pub a_client: String,
    /// The destination's client of the source.
    pub b_client: String,
}

/// Sets up clients both ways and registers them as counterparties; account 5 relays.
pub async fn connect(a: &mut Chain, b: &mut Chain) -> Result<Relay> {
    let relayer = account(5);
    let on_a = a.call(&relayer, &b.create_client()).await?;
    let on_b = b.call(&relayer, &a.create_client()).await?;
    let a_client = a.created_client(&on_a).context("no client on a")?;
    let b_client = b.created_client(&on_b).context("no client on b")?;
    let register = |client: &str, counterparty: &str| InterchainMsg::RegisterCounterparty {
        client: id(client),
        counterparty_client: id(counterparty),
        prefix: BoundedBytes::try_from_vec(LAMINA_PREFIX.to_vec()).unwrap_or_default(),
    };
    for (chain, ours, theirs) in [
        (&mut *a, &a_client, &b_client),
        (&mut *b, &b_client, &a_client),
    ] {
        let receipt = chain.call(&relayer, &register(ours, theirs)).await?;
        if code(&receipt).is_some() {
            return Err(anyhow!("register: {:?}", receipt.outcome));
        }
    }
    Ok(Relay { a_client, b_client })
}

/// Brings `on`'s client `client` of `of` up to `of`'s latest block (that header alone),
/// proving the set changes it has not seen first.
pub async fn update(on: &mut Chain, client: &str, of: &Chain) -> Result<Receipt> {
    let known = known_epoch(on, client)?;
    let mut msgs = of.set_change_updates(client, known)?;
    msgs.push(of.update_from(client, of.height())?);
    let txs = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| on.sign(&account(5), m, i as u64))
        .collect::<Result<Vec<_>>>()?;
    let receipts = on.block(&txs).await?;
    for receipt in &receipts {
        if let Some(c) = code(receipt) {
            return Err(anyhow!(
                "update of {client} refused ({c}): {:?}",
                receipt.outcome
            ));
        }
    }
    receipts.into_iter().last().context("no receipt")
}

/// The newest epoch whose set `on`'s client `client` holds.
pub fn known_epoch(on: &Chain, client: &str) -> Result<u64> {
    let state = lamina_app::interchain::CLIENTS
        .get_committed(on.state(), &client.to_string())?
        .context("no such client")?;
    Ok(state.sets.iter().map(|s| s.epoch).max().unwrap_or(0))
}

/// `packet` (sent on `src`) delivered to `dst`, with the proof at `src`'s latest state.
pub async fn recv_msg(src: &Chain, packet: &Packet) -> Result<InterchainMsg> {
    let path = commitment_path(packet.source_client.as_str(), packet.sequence);
    Ok(InterchainMsg::RecvPacket {
        packet: packet.clone(),
        proof: src.prove(&path).await?,
        proof_height: Height(src.height()),
    })
}

/// The acknowledgement of `packet` (received on `dst`), with the proof at `dst`'s latest state.
pub async fn ack_msg(dst: &Chain, packet: &Packet, ack: &Acknowledgement) -> Result<InterchainMsg> {
    let path = ack_path(packet.dest_client.as_str(), packet.sequence);
    Ok(InterchainMsg::Acknowledge {
        packet: packet.clone(),
        ack: ack.clone(),
        proof: dst.prove(&path).await?,
        proof_height: Height(dst.height()),
    })
}

/// The timeout of `packet` (sent to `dst`), with the receipt's proof at `dst`'s latest state.
pub async fn timeout_msg(dst: &Chain, packet: &Packet) -> Result<InterchainMsg> {
    let path = receipt_path(packet.dest_client.as_str(), packet.sequence);
    Ok(InterchainMsg::Timeout {
        packet: packet.clone(),
        proof: dst.prove(&path).await?,
        proof_height: Height(dst.height()),
    })
}

impl Relay {
    /// The same link seen from the other side.
    pub fn reversed(&self) -> Relay {
        Relay {
            a_client: self.b_client.clone(),
            b_client: self.a_client.clone(),
        }
    }

    /// Delivers `packet` from `src` to `dst` (updating `dst`'s client first), then brings
    /// the acknowledgement back (updating `src`'s client). Returns the two receipts.
    pub async fn deliver(
        &self,
        src: &mut Chain,
        dst: &mut Chain,
        packet: &Packet,
    ) -> Result<(Receipt, Receipt)> {
        update(dst, &self.b_client, src).await?;
        let recv = dst.call(&account(5), &recv_msg(src, packet).await?).await?;
        let ack = dst.written_ack(&recv).context("no ack written")?;
        update(src, &self.a_client, dst).await?;
        let acked = src
            .call(&account(5), &ack_msg(dst, packet, &ack).await?)
            .await?;
        Ok((recv, acked))
    }

    /// A transfer from account `from` on `src` to account `to` on the other chain.
    pub fn transfer(
        &self,
        to: u64,
        asset: u32,
        amount: u128,
        timeout_after_s: u64,
    ) -> InterchainMsg {
        InterchainMsg::Transfer {
            client: id(&self.a_client),
            receiver: serde_json::from_value(serde_json::Value::String(address(to).to_string()))
                .unwrap_or_default(),
            asset,
            amount: Amount(amount),
            timeout_after_s,
            memo: Default::default(),
        }
    }
}
