//! A chain built on Lamina: its name, the modules it adds to the framework's, and their
//! genesis in the preset chain specs. [`Chain::run`] is the whole command line.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lamina_agreement::modules::bank::AssetGenesis;
use lamina_agreement::{Runtime, RuntimeBuilder, RuntimeConfig};
use lamina_incentive::staking::{FeesToValidators, Staking};
use lamina_interop::module::Module;

use crate::spec::{ChainSpec, Preset};

/// Adds a chain's modules to a runtime under construction.
type Compose = Arc<dyn Fn(RuntimeBuilder) -> RuntimeBuilder + Send + Sync>;

/// A chain: the framework's modules (`accounts` 0, `bank` 1, `staking` 2), then the chain's
/// own, in the order [`Chain::module`] adds them.
///
/// ```
/// let chain = lamina_node::Chain::new("mychain");
/// assert_eq!(chain.name(), "mychain");
/// ```
#[derive(Clone)]
pub struct Chain {
    name: String,
    compose: Compose,
    genesis: BTreeMap<String, serde_json::Value>,
    assets: Vec<AssetGenesis>,
}

impl Default for Chain {
    /// Lamina itself: the framework's modules and nothing else.
    fn default() -> Chain {
        Chain::new("lamina")
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("name", &self.name)
            .field("genesis", &self.genesis.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// A chain named `name` (its presets are `NAME-dev`, `NAME-local`, `NAME-local-pos`) with
    /// the framework's modules only.
    pub fn new(name: impl Into<String>) -> Chain {
        Chain {
            name: name.into(),
            compose: Arc::new(|builder| builder),
            genesis: BTreeMap::new(),
            assets: Vec::new(),
        }
    }

    /// Adds `module` at the next index, with `genesis` as its section of the preset chain
    /// specs (`dev`, `local`, `local-pos`). A chain spec file gives its own section.
    pub fn module<M: Module + Clone>(mut self, module: M, genesis: M::Genesis) -> Chain {
        let before = self.compose;
        self.compose = Arc::new(move |builder| before(builder).module(module.clone()));
        // A genesis type that cannot be written as JSON is a bug in the module: its preset
        // section is left out, and the module starts from its default genesis.
        match serde_json::to_value(&genesis) {
            Ok(section) => {
                self.genesis.insert(M::NAME.to_string(), section);
            }
            Err(err) => {
                tracing::error!(module = M::NAME, %err, "genesis is not JSON; left out of the presets");
            }
        }
        self
    }

    /// Adds `asset` to the bank's genesis in the preset chain specs, beside the native one.
    pub fn asset(mut self, asset: AssetGenesis) -> Chain {
        self.assets.push(asset);
        self
    }

    /// The chain's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the command line (`std::env::args`).
    pub fn run(self) -> anyhow::Result<()> {
        crate::cli::main(self)
    }

    /// The runtime of `spec`: the framework's modules, then the chain's. With a staking
    /// section, base fees are paid to the validators with the block reward.
    pub(crate) fn runtime(&self, spec: &ChainSpec) -> anyhow::Result<Runtime> {
        let mut config = RuntimeConfig::new(spec.chain_id);
        config.gas_price = spec.runtime.gas_price as u128;
        config.tx_base_gas = spec.runtime.tx_base_gas;
        config.tx_byte_gas = spec.runtime.tx_byte_gas;
        // Staking is always composed (module 2); without a `staking` section it holds
        // nothing and does nothing, and the validator set is the spec's (proof of authority).
        let builder =
            Runtime::builder(config).module(Staking::new(lamina_agreement::modules::bank::Bank));
        let builder = match spec.staking()? {
            Some(_) => builder.fee_rule(FeesToValidators),
            None => builder,
        };
        Ok((self.compose)(builder).build()?)
    }

    /// The spec of `preset`, with the chain's name and its modules' genesis sections.
    pub(crate) fn preset(&self, preset: Preset) -> ChainSpec {
        let mut spec = ChainSpec::preset(preset);
        if let Some(suffix) = spec.name.strip_prefix("lamina") {
            spec.name = format!("{}{suffix}", self.name);
        }
        for (module, section) in &self.genesis {
            spec.genesis.insert(module.clone(), section.clone());
        }
        if !self.assets.is_empty() {
            spec.add_assets(&self.assets);
        }
        spec
    }

    /// A preset name (`dev`, `local`, `local-pos`) or a chain spec file.
    pub(crate) fn load(&self, chain: &str) -> anyhow::Result<ChainSpec> {
        match chain {
            "dev" => Ok(self.preset(Preset::Dev)),
            "local" => Ok(self.preset(Preset::Local)),
            "local-pos" => Ok(self.preset(Preset::LocalPos)),
            path => ChainSpec::from_file(Path::new(path)),
        }
    }
}
