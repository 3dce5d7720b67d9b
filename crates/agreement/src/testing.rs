//! Helpers for tests and benchmarks of chains built on Lamina: deterministic keys, a funded
//! genesis state, signed transfers, and [`TestChain`], a runtime on an in-memory state that
//! runs blocks of signed calls, for a module's tests.

use std::collections::BTreeMap;

use hashbrown::HashMap;

use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::Env;
use lamina_interop::{Address, ChainId, Height, Timestamp};

use lamina_interop::block::{Receipt, MAX_EVENT_LEN};
use lamina_interop::module::Module;

use crate::execute::{execute_block, Mode};
use crate::memory_state::MemoryState;
use crate::modules::accounts;
use crate::modules::bank::{self, AssetGenesis, AssetId, AssetInfo, BankCall, BankGenesis, NATIVE};
use crate::runtime::{Runtime, RuntimeError};
use crate::tx::{SignedTx, UnsignedTx, VerifiedTx};

/// Account `i`'s key: the seed is `i` little-endian, zero-padded. Never use these keys for
/// anything of value.
pub fn key(i: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0x1a;
    SecretKey::from_seed(seed)
}

/// The environment of block `height` of `chain`, proposed by `proposer`.
pub fn env(chain: ChainId, height: u64, proposer: Address) -> Env {
    Env {
        chain_id: chain,
        height: Height(height),
        timestamp: Timestamp(height * 1_000),
        proposer,
    }
}

/// The state after genesis with `accounts` each holding `amount` of every asset in `assets`
/// (asset 0, the native one, always included).
pub fn funded_state(
    runtime: &Runtime,
    accounts: &[Address],
    amount: u128,
    assets: &[AssetId],
) -> Result<HashMap<Vec<u8>, Vec<u8>>, RuntimeError> {
    let mut ids = vec![NATIVE];
    ids.extend(assets.iter().copied().filter(|a| *a != NATIVE));
    let bank = BankGenesis {
        assets: ids
            .into_iter()
            .map(|id| AssetGenesis {
                id,
                info: AssetInfo {
                    symbol: format!("A{id}"),
                    decimals: 0,
                },
                balances: accounts
                    .iter()
                    .map(|a| (*a, bank::Amount(amount)))
                    .collect(),
                minters: Vec::new(),
            })
            .collect(),
    };
    let sections = BTreeMap::from([(
        "bank".to_string(),
        serde_json::to_value(bank).map_err(|e| RuntimeError::Genesis(e.to_string()))?,
    )]);
    let genesis_env = env(runtime.config().chain_id, 0, Address([0; 32]));
    let delta = runtime.genesis(&sections, &genesis_env)?;
    Ok(delta
        .changes()
        .iter()
        .filter_map(|c| c.value.clone().map(|v| (c.key.clone(), v)))
        .collect())
}

/// The same state as [`funded_state`] with only the native asset, written directly rather
/// than through genesis: for benchmarks with millions of accounts.
pub fn funded_native_state(accounts: &[Address], amount: u128) -> MemoryState {
    let mut state = MemoryState::with_capacity(accounts.len() + 3);
    let record = codec::encode(&accounts::Account {
        nonce: 0,
        native: amount,
    });
    for account in accounts {
        state.insert(&accounts::account_key(account), &record);
    }
    let info = AssetInfo {
        symbol: format!("A{NATIVE}"),
        decimals: 0,
    };
    state.insert(&bank::ASSETS.key(&NATIVE), &codec::encode(&info));
    state.insert(&bank::ASSET_IDS.key(), &codec::encode(&vec![NATIVE]));
    let supply = amount.saturating_mul(accounts.len() as u128);
    state.insert(&bank::SUPPLY.key(&NATIVE), &codec::encode(&supply));
    state
}

/// A signed bank transfer with generous gas and fee limits for `runtime`.
pub fn transfer(
    runtime: &Runtime,
    from: &SecretKey,
    nonce: u64,
    to: Address,
    asset: AssetId,
    amount: u128,
    tip: u128,
) -> SignedTx {
    let gas_limit = 50_000;
    let call = codec::encode(&BankCall::Transfer { to, asset, amount });
    UnsignedTx {
        chain_id: runtime.config().chain_id,
        sender: from.public_key(),
        nonce,
        max_fee: runtime.required_fee(gas_limit, tip).unwrap_or(u128::MAX),
        tip,
        gas_limit,
        module: 1,
        call: BoundedBytes::try_from_vec(call)
            .unwrap_or_else(|_| unreachable!("a transfer call is a few dozen bytes")),
    }
    .sign(from)
}

/// A runtime over an in-memory state: each call runs as a block of its own, through the same
/// checks, gas and fees as on a node (signatures included), and its receipt comes back.
///
/// ```
/// # use lamina_agreement::testing::{key, TestChain};
/// # use lamina_agreement::modules::bank::{Bank, BankCall, NATIVE};
/// # use lamina_agreement::{Runtime, RuntimeConfig};
/// # use lamina_interop::{Address, ChainId};
/// let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7))).build().unwrap();
/// let (alice, bob) = (key(1), key(2));
/// let mut chain = TestChain::funded(runtime, &[&alice, &bob], 1_000_000_000).unwrap();
/// let to = Address::of(&bob.public_key());
/// let receipt = chain.call::<Bank>(&alice, &BankCall::Transfer { to, asset: NATIVE, amount: 5 }).unwrap();
/// assert_eq!(receipt.outcome, lamina_interop::block::Outcome::Success);
/// ```
pub struct TestChain {
    runtime: Runtime,
    state: MemoryState,
    height: u64,
    /// Gas limit of each call.
    pub gas_limit: u64,
}

impl TestChain {
    /// The chain after genesis from `sections` (module name -> its genesis, as in a chain
    /// spec).
    pub fn new(
        runtime: Runtime,
        sections: &BTreeMap<String, serde_json::Value>,
    ) -> Result<TestChain, RuntimeError> {
        let genesis_env = env(runtime.config().chain_id, 0, Address([0; 32]));
        let delta = runtime.genesis(sections, &genesis_env)?;
        let mut state = MemoryState::with_capacity(delta.len());
        state.apply(&delta);
        Ok(TestChain {
            runtime,
            state,
            height: 0,
            gas_limit: 200_000,
        })
    }

    /// The chain after a genesis in which each of `accounts` holds `amount` of the native
    /// asset, and every other module starts from its default genesis.
    pub fn funded(
        runtime: Runtime,
        accounts: &[&SecretKey],
        amount: u128,
    ) -> Result<TestChain, RuntimeError> {
        let bank = BankGenesis::native(
            accounts
                .iter()
                .map(|key| (Address::of(&key.public_key()), amount)),
        );
        TestChain::new(
            runtime,
            &BTreeMap::from([("bank".to_string(), bank.to_section())]),
        )
    }

    /// Signs `call` to module `M` from `from` with its next nonce, runs it in a block of its
    /// own, and returns its receipt (a failed call is a receipt too).
    pub fn call<M: Module>(
        &mut self,
        from: &SecretKey,
        call: &M::Call,
    ) -> Result<Receipt, RuntimeError> {
        let module = self
            .runtime
            .module_index(M::NAME)
            .ok_or_else(|| RuntimeError::Call(format!("no module named {}", M::NAME)))?;
        let sender = Address::of(&from.public_key());
        let nonce = accounts::committed_nonce(&self.state, &sender)?;
        let call = BoundedBytes::try_from_vec(codec::encode(call))
            .map_err(|_| RuntimeError::Call(format!("call to {} too large", M::NAME)))?;
        let tx = UnsignedTx {
            chain_id: self.runtime.config().chain_id,
            sender: from.public_key(),
            nonce,
            max_fee: self
                .runtime
                .required_fee(self.gas_limit, 0)
                .unwrap_or(u128::MAX),
            tip: 0,
            gas_limit: self.gas_limit,
            module,
            call,
        }
        .sign(from);
        let mut receipts = self.block(&[tx])?;
        receipts
            .pop()
            .ok_or_else(|| RuntimeError::Call("the block returned no receipt".into()))
    }

    /// Runs `txs` as the next block, proposed by the zero address; one receipt each.
    pub fn block(&mut self, txs: &[SignedTx]) -> Result<Vec<Receipt>, RuntimeError> {
        let verified = txs
            .iter()
            .map(|tx| VerifiedTx::verify(tx.to_raw().as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RuntimeError::Call(format!("transaction: {e}")))?;
        self.height += 1;
        let block_env = env(
            self.runtime.config().chain_id,
            self.height,
            Address([0; 32]),
        );
        let output = execute_block(
            &self.runtime,
            &block_env,
            &verified,
            &self.state,
            Mode::Sequential,
        )?;
        self.state.apply(&output.delta);
        Ok(output.receipts)
    }

    /// Module `M`'s answer to `query` on the current state.
    pub fn query<M: Module>(&self, query: M::Query) -> Result<M::QueryResponse, RuntimeError> {
        let query = serde_json::to_value(query).map_err(|e| RuntimeError::Query(e.to_string()))?;
        let answer = self.runtime.query(M::NAME, query, &self.state)?;
        serde_json::from_value(answer).map_err(|e| RuntimeError::Query(e.to_string()))
    }

    /// The events module `M` emitted in `receipt`, decoded.
    pub fn events<M: Module>(&self, receipt: &Receipt) -> Vec<M::Event> {
        let Some(index) = self.runtime.module_index(M::NAME) else {
            return Vec::new();
        };
        receipt
            .events
            .iter()
            .filter(|record| record.module == index)
            .filter_map(|record| {
                codec::decode_limited::<M::Event>(record.data.as_ref(), M::NAME, MAX_EVENT_LEN).ok()
            })
            .collect()
    }

    /// The state.
    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The last block's height.
    pub fn height(&self) -> u64 {
        self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeConfig;

    #[test]
    fn the_direct_state_equals_genesis() {
        let runtime = Runtime::builder(RuntimeConfig::new(ChainId(1)))
            .build()
            .unwrap();
        let accounts: Vec<Address> = (0..5).map(|i| Address([i; 32])).collect();
        let direct = funded_native_state(&accounts, 77);
        let genesis = funded_state(&runtime, &accounts, 77, &[]).unwrap();
        assert_eq!(direct.len(), genesis.len());
        for (key, value) in &genesis {
            assert_eq!(direct.value(key), Some(value.as_slice()));
        }
    }
}
