//! {{project-name}}: a DeFi chain built on Lamina.
//!
//! Besides the native asset (LAM), the dev chain has USD (asset 1), issued by alice through
//! this chain's own `assets` module, and Lamina's DeFi modules: `oracle` (alice feeds LAM's
//! price), `dex` (a LAM/USD pool from genesis) and `lending` (a market in each asset):
//!
//! ```text
//! cargo run -- node --dev
//! cargo run -- query module dex '{"quote_exact_in": {"path": [0, 1], "amount_in": "1000000000000000000"}}'
//! cargo run -- tx call dex '{"swap_exact_in": {"path": [0, 1], "amount_in": "1000000000000000000", "min_out": "1900000000000000000"}}' --from bob
//! cargo run -- tx call lending '{"supply": {"asset": 0, "amount": "100000000000000000000"}}' --from bob
//! cargo run -- tx call lending '{"borrow": {"asset": 1, "amount": "50000000000000000000"}}' --from bob
//! ```

use assets::{Assets, AssetsGenesis, IssuedAsset};
use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank};
use lamina_interop::module::Amount;

/// The dev chain's dollar.
const USD: u32 = 1;
/// One dollar, in its smallest unit.
const DOLLAR: u128 = 1_000_000_000_000_000_000;

/// mimalloc, which `Chain::run` tunes for a node.
#[global_allocator]
static ALLOCATOR: lamina_node::Allocator = lamina_node::Allocator;

fn main() -> anyhow::Result<()> {
    let dev = |name: &str| lamina_node::dev_account(name);
    let usd = AssetGenesis {
        id: USD,
        info: AssetInfo {
            symbol: "USD".into(),
            decimals: 18,
        },
        balances: lamina_node::DEV_ACCOUNTS
            .iter()
            .map(|name| (dev(name), Amount(1_000_000 * DOLLAR)))
            .collect(),
        // Only the assets module changes its supply.
        minters: vec!["assets".into()],
    };
    let issued = IssuedAsset {
        asset: USD,
        admin: dev("alice"),
        cap: Amount(1_000_000_000 * DOLLAR),
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
        // Lamina's oracle, dex and lending, priced in USD.
        .defi(USD)
        // lamina:modules (`lamina new module NAME` adds a line here)
        .run()
}
