//! Gas: what a call's state access costs, charged as it happens.

use serde::{Deserialize, Serialize};

use super::StateError;

/// The price of each kind of state access, in gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GasSchedule {
    /// Per read.
    pub read: u64,
    /// Per byte of key and value read.
    pub read_byte: u64,
    /// Per write or delete.
    pub write: u64,
    /// Per byte of key and value written.
    pub write_byte: u64,
    /// Per event emitted.
    pub event: u64,
    /// Per byte of event data.
    pub event_byte: u64,
}

impl Default for GasSchedule {
    fn default() -> Self {
        GasSchedule {
            read: 100,
            read_byte: 1,
            write: 300,
            write_byte: 3,
            event: 50,
            event_byte: 1,
        }
    }
}

/// Counts gas against a limit. Gas spent stays spent when a call's state is reverted: a
/// failed call still pays for the work it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasMeter {
    limit: u64,
    used: u64,
}

impl GasMeter {
    /// A meter allowing `limit` gas.
    pub fn new(limit: u64) -> GasMeter {
        GasMeter { limit, used: 0 }
    }

    /// A meter without a limit, for genesis and block hooks.
    pub fn unlimited() -> GasMeter {
        GasMeter::new(u64::MAX)
    }

    /// Charges `amount`; fails, charging nothing, when it would pass the limit.
    pub fn charge(&mut self, amount: u64) -> Result<(), StateError> {
        match self.used.checked_add(amount) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(StateError::OutOfGas {
                limit: self.limit,
                used: self.used,
                needed: amount,
            }),
        }
    }

    /// Gas used so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// `base + per_byte * bytes`, saturating: an absurd size costs more than any limit.
pub(crate) fn cost(base: u64, per_byte: u64, bytes: usize) -> u64 {
    base.saturating_add(per_byte.saturating_mul(bytes as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_stops_at_the_limit_without_charging() {
        let mut meter = GasMeter::new(100);
        assert_eq!(meter.charge(60), Ok(()));
        assert_eq!(
            meter.charge(41),
            Err(StateError::OutOfGas {
                limit: 100,
                used: 60,
                needed: 41
            })
        );
        assert_eq!(meter.used(), 60);
        assert_eq!(meter.charge(40), Ok(()));
        assert!(meter.charge(u64::MAX).is_err(), "no overflow");
    }

    #[test]
    fn cost_saturates() {
        assert_eq!(cost(10, 2, 5), 20);
        assert_eq!(cost(u64::MAX, 1, 1), u64::MAX);
        assert_eq!(cost(1, u64::MAX, 2), u64::MAX);
    }
}
