//! The module's section of the chain spec: the rules, the feeders, the feeds.

use lamina_interop::module::{Context, Price};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{
    Feed, Oracle, OracleError, Params, FEEDERS, FEEDS, MAX_FEEDERS, MAX_FEEDS, PARAMS, PRICES,
};

/// An asset's feed in genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedGenesis {
    /// The asset.
    pub asset: u32,
    /// Its price at genesis, if any (quote units per 10^18 units).
    #[serde(default, with = "lamina_interop::module::amount::option")]
    pub price: Option<u128>,
    /// Whether the price never changes (the quote asset itself).
    #[serde(default)]
    pub fixed: bool,
}

/// `"oracle": {"params": {...}, "feeders": [...], "feeds": [...]}` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleGenesis {
    /// The rules.
    pub params: Params,
    /// Who reports.
    pub feeders: Vec<Address>,
    /// The assets with a feed.
    pub feeds: Vec<FeedGenesis>,
}

impl Default for OracleGenesis {
    /// No feeds; reports valid for 10 blocks; one report makes a price; 20% a block at most.
    fn default() -> Self {
        OracleGenesis {
            params: Params {
                max_report_age_blocks: 10,
                min_reports: 1,
                max_move_bps: 2_000,
            },
            feeders: Vec::new(),
            feeds: Vec::new(),
        }
    }
}

pub(super) fn init(
    genesis: &OracleGenesis,
    ctx: &mut Context<'_, '_, Oracle>,
) -> Result<(), OracleError> {
    let bad = |why: String| Err(OracleError::Genesis(why));
    if genesis.feeders.len() > MAX_FEEDERS {
        return bad(format!("more than {MAX_FEEDERS} feeders"));
    }
    if genesis.feeds.len() > MAX_FEEDS {
        return bad(format!("more than {MAX_FEEDS} feeds"));
    }
    if genesis.params.min_reports == 0 {
        return bad("min_reports must be at least 1".into());
    }
    if genesis.params.min_reports as usize > genesis.feeders.len()
        && genesis.feeds.iter().any(|f| !f.fixed)
    {
        return bad("min_reports is more than there are feeders".into());
    }
    let mut feeds = Vec::with_capacity(genesis.feeds.len());
    for feed in &genesis.feeds {
        if feeds.iter().any(|f: &Feed| f.asset == feed.asset) {
            return bad(format!("asset {} has two feeds", feed.asset));
        }
        match (feed.price, feed.fixed) {
            (Some(0), _) => return bad(format!("asset {} has a price of zero", feed.asset)),
            (None, true) => return bad(format!("fixed asset {} needs a price", feed.asset)),
            (Some(value), _) => {
                let env = *ctx.env();
                let price = Price {
                    value,
                    height: env.height,
                    timestamp: env.timestamp,
                    fixed: feed.fixed,
                };
                PRICES.set(ctx.state(), &feed.asset, &price)?;
            }
            (None, false) => {}
        }
        feeds.push(Feed {
            asset: feed.asset,
            fixed: feed.fixed,
        });
    }
    PARAMS.set(ctx.state(), &genesis.params)?;
    FEEDERS.set(ctx.state(), &genesis.feeders)?;
    FEEDS.set(ctx.state(), &feeds)?;
    Ok(())
}
