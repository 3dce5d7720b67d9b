//! The chain spec: what a chain is before its first block. Presets `dev` and `local`, or a
//! JSON file (`lamina chain-spec export --preset dev` writes one to start from).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use lamina_agreement::modules::bank::{AssetGenesis, BankGenesis};
use lamina_agreement::RuntimeConfig;
use lamina_incentive::simplex::MIN_EPOCH_BLOCKS;
use lamina_incentive::staking::{GenesisValidator, Params, StakingGenesis};
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::module::Amount;
use lamina_interop::{Address, ChainId, Hash};
use serde::{Deserialize, Serialize};

/// The well-known development accounts, funded in the `dev` and `local` presets. Their keys
/// are public knowledge: never use them on a chain with anything of value.
pub const DEV_ACCOUNTS: [&str; 4] = ["alice", "bob", "charlie", "dave"];

/// The address of development account `name` (see [`DEV_ACCOUNTS`]), for preset genesis
/// sections.
pub fn dev_account(name: &str) -> Address {
    Address::of(&dev_key(name).public_key())
}

/// Each development account's balance of the native asset.
pub(crate) const DEV_BALANCE: u128 = 1_000_000_000_000_000_000_000;

/// The development accounts' public keys, in order.
pub(crate) fn dev_public_keys() -> Vec<PublicKey> {
    DEV_ACCOUNTS
        .iter()
        .map(|name| dev_key(name).public_key())
        .collect()
}

/// A development account's key: seeded by `SHA-256("lamina/dev/" | name)`.
pub(crate) fn dev_key(name: &str) -> SecretKey {
    let mut seed = b"lamina/dev/".to_vec();
    seed.extend_from_slice(name.as_bytes());
    SecretKey::from_seed(Hash::of(&seed).0)
}

/// The `bank` genesis section: the native asset (LAM, 18 decimals), `accounts` funded, no
/// minters.
fn native_genesis(accounts: impl IntoIterator<Item = (Address, u128)>) -> serde_json::Value {
    BankGenesis::native(accounts).to_section()
}

// ANCHOR: chain_spec
/// The chain spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// The chain's name.
    pub name: String,
    /// The id transactions are signed for.
    pub chain_id: ChainId,
    /// The consensus engine and its settings.
    pub consensus: ConsensusSpec,
    /// Prices of gas.
    pub runtime: RuntimeSpec,
    /// Each module's genesis section, by module name.
    pub genesis: BTreeMap<String, serde_json::Value>,
}
// ANCHOR_END: chain_spec

// ANCHOR: consensus_spec
/// Which engine orders blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "engine", rename_all = "snake_case")]
pub enum ConsensusSpec {
    /// One validator, instant finality.
    Solo {
        /// Milliseconds between blocks when the pool does not fill them.
        block_time_ms: u64,
    },
    /// Byzantine fault tolerant consensus among `validators` (a fixed set: proof of
    /// authority), over the authenticated network.
    Simplex {
        /// The validators' consensus keys, which are also their network identities.
        validators: Vec<PublicKey>,
        /// Nodes a new node dials first: `PUBLIC_KEY@HOST:PORT`.
        bootnodes: Vec<Bootnode>,
        /// Milliseconds a leader waits before building its block.
        block_time_ms: u64,
        /// Milliseconds a view waits for its leader's proposal.
        leader_timeout_ms: u64,
        /// Milliseconds a view waits for a notarization before voting to skip it.
        notarization_timeout_ms: u64,
    },
}
// ANCHOR_END: consensus_spec

/// A node to dial at start: its network key and address, written `PUBLIC_KEY@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bootnode {
    /// Its network (and consensus) key.
    pub key: PublicKey,
    /// Where it listens.
    pub address: SocketAddr,
}

impl std::fmt::Display for Bootnode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.key, self.address)
    }
}

impl std::str::FromStr for Bootnode {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Bootnode> {
        let (key, address) = text
            .split_once('@')
            .ok_or_else(|| anyhow::anyhow!("boot node {text:?} is not PUBLIC_KEY@HOST:PORT"))?;
        Ok(Bootnode {
            key: PublicKey::from_hex(key)
                .map_err(|e| anyhow::anyhow!("boot node {text:?}: key: {e}"))?,
            address: address
                .parse()
                .map_err(|e| anyhow::anyhow!("boot node {text:?}: address: {e}"))?,
        })
    }
}

impl TryFrom<String> for Bootnode {
    type Error = anyhow::Error;

    fn try_from(text: String) -> anyhow::Result<Bootnode> {
        text.parse()
    }
}

impl From<Bootnode> for String {
    fn from(node: Bootnode) -> String {
        node.to_string()
    }
}

/// The staking module's name, its section in `genesis`.
pub(crate) const STAKING: &str = "staking";

/// The network port of the `local` chain's first validator, its boot node.
pub(crate) const LOCAL_P2P_PORT: u16 = 30333;

/// Prices of gas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSpec {
    /// Native units per unit of gas.
    pub gas_price: u64,
    /// Gas every transaction pays before its call.
    pub tx_base_gas: u64,
    /// Gas per byte of a transaction.
    pub tx_byte_gas: u64,
}

/// A preset spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Preset {
    /// One validator, the development accounts funded, a block a second.
    Dev,
    /// Four validators on this machine (alice, bob, charlie, dave, with `--instance` 0 to
    /// 3), the development accounts funded, BFT consensus with a fixed set (proof of
    /// authority).
    Local,
    /// `local` with proof of stake: the four validators bonded, block rewards, slashing.
    LocalPos,
}

impl ChainSpec {
    /// The spec of `preset`.
    pub(crate) fn preset(preset: Preset) -> ChainSpec {
        let (name, chain_id) = match preset {
            Preset::Dev => ("lamina-dev", 1337),
            Preset::Local => ("lamina-local", 1338),
            Preset::LocalPos => ("lamina-local-pos", 1339),
        };
        let funded = DEV_ACCOUNTS
            .iter()
            .map(|name| (Address::of(&dev_key(name).public_key()), DEV_BALANCE));
        let defaults = RuntimeConfig::new(ChainId(chain_id));
        let consensus = match preset {
            Preset::Dev => ConsensusSpec::Solo {
                block_time_ms: 1_000,
            },
            Preset::Local | Preset::LocalPos => ChainSpec::local_consensus(dev_public_keys()),
        };
        let mut spec = ChainSpec {
            name: name.into(),
            chain_id: ChainId(chain_id),
            consensus,
            runtime: RuntimeSpec {
                gas_price: defaults.gas_price as u64,
                tx_base_gas: defaults.tx_base_gas,
                tx_byte_gas: defaults.tx_byte_gas,
            },
            genesis: BTreeMap::from([("bank".to_string(), native_genesis(funded))]),
        };
        if preset == Preset::LocalPos {
            spec.stake(&dev_public_keys());
        }
        spec
    }

    /// Makes the chain proof of stake: each of `validators` bonds a tenth of a development
    /// account's balance at genesis from its own account (which the bank must fund), and
    /// staking may mint (rewards) and burn (slashes) the native asset.
    pub(crate) fn stake(&mut self, validators: &[PublicKey]) {
        let max_validators = validators.len().max(DEV_ACCOUNTS.len()) as u32;
        let validators = validators
            .iter()
            .map(|key| GenesisValidator {
                operator: Address::of(key),
                key: *key,
                bond: Amount(DEV_BALANCE / 10),
            })
            .collect();
        let staking = StakingGenesis {
            params: Some(Params {
                max_validators,
                min_bond: DEV_BALANCE / 1_000,
                unbonding_blocks: 600,
                epoch_blocks: 300,
                slash_per_mille: 50,
                reward_per_block: 1_000_000_000_000_000,
            }),
            validators,
        };
        self.genesis
            .insert(STAKING.to_string(), staking.to_section());
        if let Some(bank) = self.genesis.get_mut("bank") {
            if let Some(minters) = bank["assets"][0]["minters"].as_array_mut() {
                minters.push(serde_json::Value::from(STAKING));
            }
        }
    }

    /// BFT consensus among `keys`, the first of them the boot node on [`LOCAL_P2P_PORT`] of
    /// this machine.
    pub(crate) fn local_consensus(keys: Vec<PublicKey>) -> ConsensusSpec {
        ConsensusSpec::Simplex {
            bootnodes: keys
                .first()
                .map(|key| Bootnode {
                    key: *key,
                    address: SocketAddr::from(([127, 0, 0, 1], LOCAL_P2P_PORT)),
                })
                .into_iter()
                .collect(),
            validators: keys,
            block_time_ms: 200,
            leader_timeout_ms: 1_000,
            notarization_timeout_ms: 2_000,
        }
    }

    /// Adds `assets` to the `bank` genesis, after the native asset. A section that does not
    /// read as the bank's is left alone (the spec check reports it at start).
    pub(crate) fn add_assets(&mut self, assets: &[AssetGenesis]) {
        let Some(section) = self.genesis.get("bank") else {
            return;
        };
        if let Ok(mut bank) = serde_json::from_value::<BankGenesis>(section.clone()) {
            bank.assets.extend(assets.iter().cloned());
            self.genesis.insert("bank".to_string(), bank.to_section());
        }
    }

    /// Funds `accounts` in the native asset besides those the `bank` genesis funds already.
    /// A section that does not read as the bank's is left alone (the spec check reports it at
    /// start).
    pub(crate) fn fund_more(&mut self, accounts: impl IntoIterator<Item = (Address, u128)>) {
        let Some(section) = self.genesis.get("bank") else {
            return;
        };
        if let Ok(mut bank) = serde_json::from_value::<BankGenesis>(section.clone()) {
            if let Some(native) = bank.assets.first_mut() {
                native
                    .balances
                    .extend(accounts.into_iter().map(|(a, amount)| (a, Amount(amount))));
            }
            self.genesis.insert("bank".to_string(), bank.to_section());
        }
    }

    /// Replaces the `bank` genesis with one funding `accounts` in the native asset.
    pub(crate) fn fund(&mut self, accounts: impl IntoIterator<Item = (Address, u128)>) {
        self.genesis
            .insert("bank".to_string(), native_genesis(accounts));
    }

    /// Reads a spec from a JSON file.
    pub(crate) fn from_file(path: &Path) -> anyhow::Result<ChainSpec> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read chain spec {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("chain spec {}: {e}", path.display()))
    }

    /// The staking section, if the chain has one (proof of stake).
    pub(crate) fn staking(&self) -> anyhow::Result<Option<StakingGenesis>> {
        self.genesis
            .get(STAKING)
            .map(|section| {
                serde_json::from_value::<StakingGenesis>(section.clone())
                    .map_err(|e| anyhow::anyhow!("chain spec, staking section: {e}"))
            })
            .transpose()
    }

    /// Checks that a proof-of-stake chain's consensus starts with the validators its staking
    /// section bonds: the spec's validator list must be the genesis set.
    /// Refuses small-order validator keys, for which anyone can sign (ZIP-215).
    pub(crate) fn check_validators(&self) -> anyhow::Result<()> {
        if let ConsensusSpec::Simplex { validators, .. } = &self.consensus {
            if let Some(weak) = validators.iter().find(|key| key.is_small_order()) {
                anyhow::bail!(
                    "chain spec: validator key {weak} is a small-order point, for which anyone can sign; use a key made from a secret key"
                );
            }
        }
        let (Some(staking), ConsensusSpec::Simplex { validators, .. }) =
            (self.staking()?, &self.consensus)
        else {
            return Ok(());
        };
        let Some(params) = &staking.params else {
            return Ok(());
        };
        if params.epoch_blocks < MIN_EPOCH_BLOCKS {
            anyhow::bail!(
                "chain spec: staking's epoch_blocks is {}; consensus needs epochs of at least {MIN_EPOCH_BLOCKS} blocks",
                params.epoch_blocks
            );
        }
        let mut genesis_set = staking.initial_set();
        let mut listed = validators.clone();
        genesis_set.sort();
        listed.sort();
        if genesis_set != listed {
            anyhow::bail!(
                "chain spec: consensus lists {} validators, but staking's genesis set is {} others; list the largest bonds",
                listed.len(),
                genesis_set.len()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's Quick start says how a development key is made, with alice's values; a
    /// client in another language is written from it.
    #[test]
    fn the_quickstart_derives_alices_key_as_the_node_does() {
        let page = include_str!("../../../book/src/quickstart.md");
        let seed = Hash::of(b"lamina/dev/alice");
        let key = dev_key("alice").public_key();
        for shown in [
            seed.to_string(),
            key.to_string(),
            Address::of(&key).to_string(),
        ] {
            assert!(page.contains(&shown), "the Quick start lacks {shown}");
        }
        assert!(page.contains("SHA-256 of `lamina/dev/` followed by its name"));
    }

    #[test]
    fn presets_round_trip_through_json_and_build_a_genesis() {
        for preset in [Preset::Dev, Preset::Local, Preset::LocalPos] {
            let spec = crate::Chain::default().preset(preset);
            let text = serde_json::to_string_pretty(&spec).unwrap();
            let back: ChainSpec = serde_json::from_str(&text).unwrap();
            assert_eq!(back, spec);
            let runtime = crate::Chain::default().runtime(&spec).unwrap();
            let env = lamina_interop::module::Env {
                chain_id: spec.chain_id,
                height: lamina_interop::Height(0),
                timestamp: lamina_interop::Timestamp(0),
                proposer: Address([0; 32]),
            };
            let delta = runtime.genesis(&spec.genesis, &env).unwrap();
            assert!(delta.len() >= DEV_ACCOUNTS.len());
        }
        assert_ne!(dev_key("alice").public_key(), dev_key("bob").public_key());
    }

    #[test]
    fn proof_of_stake_genesis_bonds_the_listed_validators() {
        let spec = crate::Chain::default().preset(Preset::LocalPos);
        spec.check_validators().unwrap();
        let runtime = crate::Chain::default().runtime(&spec).unwrap();
        let env = lamina_interop::module::Env {
            chain_id: spec.chain_id,
            height: lamina_interop::Height(0),
            timestamp: lamina_interop::Timestamp(0),
            proposer: Address([0; 32]),
        };
        let delta = runtime.genesis(&spec.genesis, &env).unwrap();
        let state: BTreeMap<Vec<u8>, Vec<u8>> = delta
            .changes()
            .iter()
            .filter_map(|c| c.value.clone().map(|v| (c.key.clone(), v)))
            .collect();
        let active = lamina_incentive::staking::ACTIVE
            .get_committed(&state)
            .unwrap()
            .unwrap();
        assert_eq!(active.members.len(), DEV_ACCOUNTS.len());
        let alice = Address::of(&dev_key("alice").public_key());
        assert_eq!(
            lamina_agreement::modules::bank::committed_balance(&state, 0, &alice).unwrap(),
            DEV_BALANCE - DEV_BALANCE / 10,
            "the bond left alice's balance"
        );

        // A spec whose consensus lists other validators than staking bonds is refused.
        let mut wrong = spec.clone();
        if let ConsensusSpec::Simplex { validators, .. } = &mut wrong.consensus {
            validators.pop();
        }
        assert!(wrong.check_validators().is_err());
        // A small-order validator key is refused, whatever staking says.
        let mut weak = spec.clone();
        if let ConsensusSpec::Simplex { validators, .. } = &mut weak.consensus {
            let mut identity = [0u8; 32];
            identity[0] = 1;
            validators[0] = PublicKey(identity);
        }
        let refused = weak.check_validators().unwrap_err().to_string();
        assert!(refused.contains("small-order"), "{refused}");

        // So is one whose epochs are too short for consensus to change sets safely.
        let mut short = spec.clone();
        if let Some(section) = short.genesis.get_mut(STAKING) {
            section["params"]["epoch_blocks"] = serde_json::json!(MIN_EPOCH_BLOCKS - 1);
        }
        let refused = short.check_validators().unwrap_err().to_string();
        assert!(refused.contains("epoch_blocks"), "{refused}");
        // The consensus set comes from the genesis state, in epoch 0.
        assert_eq!(
            lamina_incentive::staking::consensus_set(&state).unwrap(),
            Some((0, active.keys.clone()))
        );
    }
}
