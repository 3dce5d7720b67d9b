//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Amount, Context};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{Oracle, OracleError, OracleEvent, Report, FEEDERS, FEEDS, MAX_FEEDS, REPORTS};

/// A call. As JSON: `{"report": {"prices": [[1, "2000000000000000000"]]}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OracleCall {
    /// A feeder's prices: `(asset, value)`, the value in quote units per 10^18 units of the
    /// asset. Aggregated at the end of the block.
    Report {
        /// One to `MAX_FEEDS` distinct assets.
        prices: Vec<(u32, Amount)>,
    },
}

/// A report writes the sender's report of each asset and reads the lists: reports of
/// different feeders never conflict.
pub(super) fn access(call: &OracleCall, sender: &Address) -> AccessSet {
    let mut access = AccessSet::new().read(FEEDERS.key()).read(FEEDS.key());
    match call {
        OracleCall::Report { prices } => {
            for (asset, _) in prices.iter().take(MAX_FEEDS) {
                access = access.write(REPORTS.key(&(*asset, *sender)));
            }
        }
    }
    access
}

pub(super) fn execute(
    call: OracleCall,
    ctx: &mut Context<'_, '_, Oracle>,
) -> Result<(), OracleError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let OracleCall::Report { prices } = call;
    if prices.is_empty() || prices.len() > MAX_FEEDS {
        return Err(OracleError::BadReport);
    }
    for (i, (asset, _)) in prices.iter().enumerate() {
        if prices[..i].iter().any(|(a, _)| a == asset) {
            return Err(OracleError::BadReport);
        }
    }
    let feeders = FEEDERS.get(ctx.state())?.unwrap_or_default();
    if !feeders.contains(&sender) {
        return Err(OracleError::NotFeeder(sender));
    }
    let feeds = FEEDS.get(ctx.state())?.unwrap_or_default();
    let height = ctx.env().height;
    for (asset, Amount(value)) in prices {
        let feed = feeds
            .iter()
            .find(|f| f.asset == asset)
            .ok_or(OracleError::UnknownAsset(asset))?;
        if feed.fixed {
            return Err(OracleError::FixedPrice(asset));
        }
        if value == 0 {
            return Err(OracleError::ZeroPrice);
        }
        REPORTS.set(ctx.state(), &(asset, sender), &Report { value, height })?;
        ctx.emit(&OracleEvent::Reported {
            feeder: sender,
            asset,
            value,
        })?;
    }
    Ok(())
}
