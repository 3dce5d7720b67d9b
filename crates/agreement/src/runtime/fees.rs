//! The fee rule: who receives the fees a block collected. The incentive layer replaces the
//! default (for example, to pay part of the base fees to a rewards pool).

/// Fees collected from a block's transactions, in the fee asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeeTotals {
    /// `gas_used * gas_price`, summed.
    pub base: u128,
    /// Tips, summed.
    pub tips: u128,
}

impl FeeTotals {
    /// Everything collected. Saturates: totals are bounded by the supply, far below `u128::MAX`.
    pub fn total(&self) -> u128 {
        self.base.saturating_add(self.tips)
    }
}

/// Where the collected fees go. The two parts must add up to [`FeeTotals::total`]; the
/// runtime refuses a rule that breaks this rather than create or destroy value by mistake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeeSplit {
    /// Paid to the block's proposer.
    pub producer: u128,
    /// Removed from the supply.
    pub burned: u128,
}

/// Decides the producer's share of a block's fees.
pub trait FeeRule: Send + Sync + 'static {
    /// Splits `totals` between the producer and the burn.
    fn split(&self, totals: FeeTotals) -> FeeSplit;
}

/// The default: the producer receives the tips, base fees are burned.
#[derive(Debug, Clone, Copy, Default)]
pub struct TipsToProducer;

impl FeeRule for TipsToProducer {
    fn split(&self, totals: FeeTotals) -> FeeSplit {
        FeeSplit {
            producer: totals.tips,
            burned: totals.base,
        }
    }
}
