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
    /// What `module` could not accept; `run` reports the first.
    problems: Vec<String>,
}

impl Default for Chain {
    /// Lamina itself: the framework's modules and the application layer's DeFi modules
    /// (`oracle`, `dex`, `lending`), with a dollar (asset 1) for the dev accounts.
    fn default() -> Chain {
        crate::defi::compose(Chain::new("lamina"))
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
            problems: Vec::new(),
        }
    }

    /// Adds `module` at the next index, with `genesis` as its section of the preset chain
    /// specs (`dev`, `local`, `local-pos`). A chain spec file gives its own section.
    pub fn module<M: Module + Clone>(mut self, module: M, genesis: M::Genesis) -> Chain {
        let before = self.compose;
        self.compose = Arc::new(move |builder| before(builder).module(module.clone()));
        // A genesis type that cannot be written as JSON is a bug in the module: `run` refuses
        // to start with it.
        match serde_json::to_value(&genesis) {
            Ok(section) => {
                self.genesis.insert(M::NAME.to_string(), section);
            }
            Err(err) => self.problems.push(format!(
                "module {}: its genesis is not JSON: {err}",
                M::NAME
            )),
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

    /// Runs the command line (`std::env::args`). Tunes the allocator first
    /// ([`lamina_alloc::tune`]); a binary installs it with
    /// `#[global_allocator] static ALLOCATOR: lamina_node::Allocator = lamina_node::Allocator;`.
    pub fn run(self) -> anyhow::Result<()> {
        lamina_alloc::tune();
        if let Some(problem) = self.problems.first() {
            anyhow::bail!("chain {}: {problem}", self.name);
        }
        crate::cli::main(self)
    }

    /// The runtime of `spec`: the framework's modules, then the chain's. With a staking
    /// section, base fees are paid to the validators with the block reward.
    pub fn runtime(&self, spec: &ChainSpec) -> anyhow::Result<Runtime> {
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

    /// The spec of a preset (`dev`, `local`, `local-pos`) or of a chain spec file, with the
    /// chain's name and its modules' genesis sections in a preset.
    pub fn spec(&self, chain: &str) -> anyhow::Result<ChainSpec> {
        match chain {
            "dev" => Ok(self.preset(Preset::Dev)),
            "local" => Ok(self.preset(Preset::Local)),
            "local-pos" => Ok(self.preset(Preset::LocalPos)),
            path => ChainSpec::from_file(Path::new(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use lamina_agreement::modules::bank::AssetInfo;
    use lamina_interop::module::{AccessSet, Amount, Context, ModuleError, StateError, StateView};
    use lamina_interop::Address;

    use super::*;

    /// A module that does nothing, with a genesis of one number.
    #[derive(Clone)]
    struct Idle;

    #[derive(Debug, thiserror::Error)]
    #[error("idle")]
    struct IdleError(#[from] StateError);

    impl ModuleError for IdleError {
        fn code(&self) -> u32 {
            1
        }
    }

    impl Module for Idle {
        const NAME: &'static str = "idle";
        type Call = ();
        type Event = ();
        type Genesis = u32;
        type Query = ();
        type QueryResponse = ();
        type Error = IdleError;

        fn init_genesis(&self, _: &u32, _: &mut Context<'_, '_, Self>) -> Result<(), IdleError> {
            Ok(())
        }

        fn access(&self, _: &(), _: &Address) -> AccessSet {
            AccessSet::new()
        }

        fn call(&self, _: (), _: &mut Context<'_, '_, Self>) -> Result<(), IdleError> {
            Ok(())
        }

        fn query(&self, _: (), _: &dyn StateView) -> Result<(), IdleError> {
            Ok(())
        }
    }

    #[test]
    fn a_chains_modules_follow_the_frameworks_and_reach_its_presets() {
        let usd = AssetGenesis {
            id: 1,
            info: AssetInfo {
                symbol: "USD".into(),
                decimals: 6,
            },
            balances: vec![(Address([1; 32]), Amount(5))],
            minters: Vec::new(),
        };
        let chain = Chain::new("mychain").module(Idle, 7).asset(usd);
        let spec = chain.preset(Preset::Dev);
        assert_eq!(spec.name, "mychain-dev");
        assert_eq!(spec.genesis["idle"], serde_json::json!(7));
        assert_eq!(spec.genesis["bank"]["assets"][1]["symbol"], "USD");
        let runtime = chain.runtime(&spec).unwrap();
        let names: Vec<&str> = runtime.module_names().collect();
        assert_eq!(names, ["accounts", "bank", "staking", "idle"]);
        // The genesis of every module, the chain's included, is written.
        let env = lamina_interop::module::Env {
            chain_id: spec.chain_id,
            height: lamina_interop::Height(0),
            timestamp: lamina_interop::Timestamp(0),
            proposer: Address([0; 32]),
        };
        assert!(runtime.genesis(&spec.genesis, &env).is_ok());
        // A spec file keeps its own name; a preset of the default chain is Lamina's.
        assert_eq!(Chain::default().preset(Preset::Local).name, "lamina-local");
        assert_eq!(chain.spec("local-pos").unwrap().name, "mychain-local-pos");
    }
}
