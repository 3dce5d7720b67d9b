//! Arbitrary bytes as what a light client reads from an untrusted endpoint: headers,
//! finality certificates and proofs, validator sets and state proofs. Never a panic; what
//! decodes re-encodes to the same bytes; a decoded proof goes through verification and the
//! light client without panicking, and is refused (no key here signs).

#![no_main]

use std::sync::OnceLock;

use lamina_interop::block::Header;
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::{FinalityCertificate, FinalityProof, ValidatorSet};
use lamina_interop::light::{Checkpoint, LightClient, LightParams};
use lamina_interop::state_proof::{self, StateProof};
use lamina_interop::{ChainId, Hash, Height, Timestamp};
use libfuzzer_sys::fuzz_target;

fn set() -> &'static ValidatorSet {
    static SET: OnceLock<ValidatorSet> = OnceLock::new();
    SET.get_or_init(|| {
        let keys = (0..4u8)
            .map(|i| SecretKey::from_seed([i; 32]).public_key())
            .collect();
        ValidatorSet::new(0, keys).unwrap()
    })
}

mod canonical;
use canonical::round_trips;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % 5 {
        0 => {
            round_trips::<Header>(data);
        }
        1 => {
            if let Some(certificate) = round_trips::<FinalityCertificate>(data) {
                assert!(certificate.verify(ChainId(1), set(), &certificate.block).is_err());
            }
        }
        2 => {
            if let Some(proof) = round_trips::<FinalityProof>(data) {
                assert!(proof.verify(ChainId(1), set()).is_err());
                let params = LightParams {
                    chain_id: ChainId(1),
                    epoch_blocks: Some(8),
                    trusting_period_ms: u64::MAX,
                };
                let checkpoint = Checkpoint {
                    height: Height(0),
                    block: Hash::ZERO,
                    timestamp: Timestamp(0),
                    set: set().clone(),
                };
                let mut client = LightClient::new(params, checkpoint, Timestamp(0)).unwrap();
                assert!(client.update(&proof, Timestamp(0)).is_err());
            }
        }
        3 => {
            if let Some(set) = round_trips::<ValidatorSet>(data) {
                let _ = set.is_well_formed();
                let _ = set.quorum();
            }
        }
        _ => {
            if let Ok(proof) = StateProof::decode(data) {
                let _ = state_proof::verify(&Hash::ZERO, b"key", &proof);
            }
        }
    }
});
