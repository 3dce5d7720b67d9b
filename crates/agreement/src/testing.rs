//! Helpers for tests and benchmarks of chains built on Lamina: deterministic keys, a funded
//! genesis state, and signed transfers.

use std::collections::BTreeMap;

use hashbrown::HashMap;

use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::Env;
use lamina_interop::{Address, ChainId, Height, Timestamp};

use crate::memory_state::MemoryState;
use crate::modules::bank::{self, AssetGenesis, AssetId, AssetInfo, BankCall, BankGenesis, NATIVE};
use crate::runtime::{Runtime, RuntimeError};
use crate::tx::{SignedTx, UnsignedTx};

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
    let mut state = MemoryState::with_capacity(accounts.len() + 2);
    let balance = codec::encode(&amount);
    for account in accounts {
        state.insert(&bank::balance_key(NATIVE, account), &balance);
    }
    let info = AssetInfo {
        symbol: format!("A{NATIVE}"),
        decimals: 0,
    };
    state.insert(&bank::ASSETS.key(&NATIVE), &codec::encode(&info));
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
