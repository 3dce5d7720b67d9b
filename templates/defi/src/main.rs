//! {{project-name}}: a DeFi chain built on Lamina.
//!
//! Besides the native asset (LAM), the dev chain has USD (asset 1), issued by alice through
//! the `assets` module, and an `amm` module for constant-product pools:
//!
//! ```text
//! cargo run -- node --dev
//! cargo run -- tx call amm '{"create_pool": {"asset_a": 0, "asset_b": 1, "amount_a": 1000000, "amount_b": 4000000}}'
//! cargo run -- query module amm '{"quote": {"asset_in": 0, "asset_out": 1, "amount_in": 10000}}'
//! cargo run -- tx call amm '{"swap": {"asset_in": 0, "asset_out": 1, "amount_in": 10000, "min_out": 39000}}' --from bob
//! ```

use amm::{Amm, AmmGenesis};
use assets::{Assets, AssetsGenesis, IssuedAsset};
use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank};
use lamina_interop::module::Amount;

/// The dev chain's dollar.
const USD: u32 = 1;

/// mimalloc, which `Chain::run` tunes for a node.
#[global_allocator]
static ALLOCATOR: lamina_node::Allocator = lamina_node::Allocator;

fn main() -> anyhow::Result<()> {
    let dev = |name: &str| lamina_node::dev_account(name);
    let usd = AssetGenesis {
        id: USD,
        info: AssetInfo {
            symbol: "USD".into(),
            decimals: 6,
        },
        balances: lamina_node::DEV_ACCOUNTS
            .iter()
            .map(|name| (dev(name), Amount(1_000_000_000_000)))
            .collect(),
        // Only the assets module changes its supply.
        minters: vec!["assets".into()],
    };
    let issued = IssuedAsset {
        asset: USD,
        admin: dev("alice"),
        cap: Amount(1_000_000_000_000_000),
    };
    lamina_node::Chain::new("{{project-name}}")
        .asset(usd)
        // The chain's modules, after the framework's accounts, bank and staking.
        .module(
            Assets::new(Bank),
            AssetsGenesis {
                issued: vec![issued],
            },
        )
        .module(Amm::new(Bank), AmmGenesis::default())
        // lamina:modules (`lamina new module NAME` adds a line here)
        .run()
}
