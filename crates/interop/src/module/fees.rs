//! The fee seam: who receives the fees a block collected.
//!
//! The runtime (agreement layer) collects fees and asks the chain's [`FeeRule`] how to split
//! them; the incentive layer supplies a rule of its own (for example, base fees to the
//! validators' reward pool) without depending on the runtime's crate.

use crate::types::Address;

use super::ledger::module_account;

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

/// Where the collected fees go. The three parts must add up to [`FeeTotals::total`]; the
/// runtime refuses a rule that breaks this rather than create or destroy value by mistake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeeSplit {
    /// Paid to the block's proposer.
    pub producer: u128,
    /// Paid into the reward pool ([`reward_pool`]), which a rewards module pays out.
    pub pool: u128,
    /// Removed from the supply.
    pub burned: u128,
}

/// The account that holds fees set aside for rewards until a module pays them out.
pub fn reward_pool() -> Address {
    module_account("rewards")
}

// ANCHOR: fee_rule
/// Decides how a block's fees are shared.
pub trait FeeRule: Send + Sync + 'static {
    /// Splits `totals` between the producer, the reward pool and the burn.
    fn split(&self, totals: FeeTotals) -> FeeSplit;
}
// ANCHOR_END: fee_rule

/// The default: the producer receives the tips, base fees are burned.
#[derive(Debug, Clone, Copy, Default)]
pub struct TipsToProducer;

impl FeeRule for TipsToProducer {
    fn split(&self, totals: FeeTotals) -> FeeSplit {
        FeeSplit {
            producer: totals.tips,
            pool: 0,
            burned: totals.base,
        }
    }
}
