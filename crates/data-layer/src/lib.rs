//! Lamina's data layer: storage backends, the block store, and authenticated state with proofs.
