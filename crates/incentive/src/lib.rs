//! Lamina's incentive layer: consensus engines and the economics modules that pay and punish validators.
