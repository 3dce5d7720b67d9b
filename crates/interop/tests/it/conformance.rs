//! Conformance fixtures: the encodings of a fixed set of values, hashed. Everything hashed,
//! signed or stored is covered. A failure here means a format changed: if that was
//! deliberate, it is a breaking change of the chain format, and the new hash goes here with
//! a note in the changelog.

use lamina_interop::block::{
    merkle_root, tx_root, Block, EventRecord, Header, Outcome, RawTx, Receipt,
};
use lamina_interop::codec::{self, BoundedBytes, BoundedString, BoundedVec, Canonical};
use lamina_interop::crypto::SecretKey;
use lamina_interop::finality::{vote_message, FinalityCertificate, FinalityProof, ValidatorSet};
use lamina_interop::signing::{Domain, SigningPayload};
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

fn header() -> Header {
    Header {
        chain_id: ChainId(7),
        height: Height(42),
        parent: Hash::of(b"parent"),
        timestamp: Timestamp(1_700_000_000_000),
        proposer: Address::of(&SecretKey::from_seed([1; 32]).public_key()),
        tx_root: Hash::of(b"txs"),
        tx_count: 3,
        state_height: Height(41),
        state_root: Hash::of(b"state"),
    }
}

fn txs() -> Vec<RawTx> {
    (0u8..3)
        .map(|i| RawTx::try_from_vec(vec![i; usize::from(i) * 10 + 1]).unwrap())
        .collect()
}

fn receipt(outcome: Outcome) -> Receipt {
    Receipt {
        tx: Hash::of(b"tx"),
        outcome,
        gas_used: 21_000,
        fee_paid: 1_000_000_000_000_000_000,
        events: BoundedVec::try_from_vec(vec![EventRecord {
            module: 2,
            data: BoundedBytes::try_from_vec(b"moved".to_vec()).unwrap(),
        }])
        .unwrap(),
    }
}

/// The set of epoch 3: four keys from seeds 1 to 4.
fn validator_set() -> ValidatorSet {
    let keys = (1u8..=4)
        .map(|i| SecretKey::from_seed([i; 32]).public_key())
        .collect();
    ValidatorSet::new(3, keys).unwrap()
}

/// Three of the four sign `header()` in view 12 (parent view 11).
fn certificate() -> FinalityCertificate {
    let keys: Vec<SecretKey> = (1u8..=3).map(|i| SecretKey::from_seed([i; 32])).collect();
    let signers: Vec<&SecretKey> = keys.iter().collect();
    FinalityCertificate::sign(
        ChainId(7),
        &validator_set(),
        (12, 11),
        header().id(),
        &signers,
    )
}

/// `(fixture name, bytes)` for every format.
fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let key = SecretKey::from_seed([9; 32]);
    let block = Block {
        header: header(),
        txs: BoundedVec::try_from_vec(txs()).unwrap(),
    };
    let failed = Outcome::Failed {
        module: 4,
        code: 17,
        reason: BoundedString::truncate_from("insufficient balance".to_string()),
    };
    vec![
        ("header", header().encode()),
        ("header_id", header().id().0.to_vec()),
        ("block", block.encode()),
        ("receipt_success", receipt(Outcome::Success).encode()),
        ("receipt_failed", receipt(failed).encode()),
        ("tx_root", tx_root(txs().iter()).0.to_vec()),
        (
            "merkle_root_5",
            merkle_root(&(0u8..5).map(|i| Hash::of(&[i])).collect::<Vec<_>>())
                .0
                .to_vec(),
        ),
        ("address", Address::of(&key.public_key()).0.to_vec()),
        ("public_key", codec::encode(&key.public_key())),
        (
            "signing_payload_tx",
            SigningPayload::new(ChainId(7), Domain::TRANSACTION, b"payload").message(),
        ),
        (
            "signing_payload_consensus",
            SigningPayload::new(ChainId(7), Domain::CONSENSUS, b"payload").message(),
        ),
        ("validator_set", validator_set().encode()),
        (
            "vote_message",
            vote_message(ChainId(7), 3, 12, 11, &header().id()),
        ),
        ("finality_certificate", certificate().encode()),
        (
            "finality_proof",
            FinalityProof {
                certificate: certificate(),
                headers: BoundedVec::try_from_vec(vec![header()]).unwrap(),
            }
            .encode(),
        ),
        // Ed25519 signing is deterministic, so the signature itself is a fixture.
        (
            "signature_tx",
            SigningPayload::new(ChainId(7), Domain::TRANSACTION, b"payload")
                .sign(&key)
                .0
                .to_vec(),
        ),
    ]
}

const EXPECTED: &[(&str, &str)] = &[
    (
        "validator_set",
        "0x9ced9162c7c98cf0a0f607ee647468dfdd74094b9291c21c14f3061f2e8adf34",
    ),
    (
        "vote_message",
        "0x6ec7f22b658d6ca7b10393eee96966d42abb83235eacd5b6f9c10eef6939ae96",
    ),
    (
        "finality_certificate",
        "0x23054f63496df7209e875be2618994581b043ed9d38620836fca890978682b40",
    ),
    (
        "finality_proof",
        "0xbca87dc620fdd75e7948ba859fbdce3ce15e804ea760e224cea95f923b36beea",
    ),
    (
        "header",
        "0x63d31190fa79cbd78e4dedf0feccb0cddb2bcb8575ef51dcf94562b9fdfa9bf1",
    ),
    (
        "header_id",
        "0xa5db2f43867d19dfebacdb19377f52bb91d4815b5eb038c5a7c9055f2e453bbb",
    ),
    (
        "block",
        "0x04ba670aa755f1c6f2fd2776805ed1dfad5d41a9a2213441eea8c2bb113941e8",
    ),
    (
        "receipt_success",
        "0xf5bbe491579a6852b821c1be67b8882ee844a7715e38945f4a5825e24095029e",
    ),
    (
        "receipt_failed",
        "0xac6e2ebdc4932fce65a236344f98d089d3a8e2a80cd7a614d88a7f33aaf9d892",
    ),
    (
        "tx_root",
        "0xaa2050fed1bfa2a177c214136718aa4cf249c0d4a13b44c9d4fd3580c0e482cc",
    ),
    (
        "merkle_root_5",
        "0xe45a824a3a86eca86a0c4c3915622c314edecb6dd0a812cdd5740cd87111da09",
    ),
    (
        "address",
        "0x3e9a2177281cbd4a4e4991e40f3e3c8be9b304f149bc6c2d8ca776bf8ebf5c40",
    ),
    (
        "public_key",
        "0xdbc298251c51321b7266e78d1c151c2b62aff8cb95b293096d3463018544face",
    ),
    (
        "signing_payload_tx",
        "0x70cdd9bccd04b90ec842db2b48211315a3d019310db6fa4a3c6e595648936de2",
    ),
    (
        "signing_payload_consensus",
        "0x3a3a5526e0c51b43cfbaaf633d5c62c86e6efc67a31088d894d664c91f01f129",
    ),
    (
        "signature_tx",
        "0xf5fda1d7b942696aa1f00680e9718a7f7afa4cffff8b9bbb7e57eda045e83244",
    ),
];

/// The vote message's bytes, spelled out as the book gives them, and the fixture certificate
/// verifies against its set.
#[test]
fn the_vote_message_is_as_documented() {
    let mut expected = vec![32u8];
    expected.extend_from_slice(b"lamina-simplex-");
    expected.extend_from_slice(&7u64.to_be_bytes());
    expected.extend_from_slice(b"_FINALIZE");
    expected.extend_from_slice(&[3, 12, 11]);
    expected.extend_from_slice(&header().id().0);
    assert_eq!(
        vote_message(ChainId(7), 3, 12, 11, &header().id()),
        expected
    );
    // Views of 128 and more take two varint bytes.
    let long = vote_message(ChainId(7), 0, 300, 128, &Hash::ZERO);
    assert_eq!(&long[33..38], &[0, 0xac, 0x02, 0x80, 0x01]);
    certificate()
        .verify(ChainId(7), &validator_set(), &header().id())
        .unwrap();
}

#[test]
fn encodings_match_their_fixtures() {
    let actual: Vec<(&str, String)> = fixtures()
        .into_iter()
        .map(|(name, bytes)| (name, Hash::of(&bytes).to_string()))
        .collect();
    let mut mismatches = Vec::new();
    for (name, hash) in &actual {
        match EXPECTED.iter().find(|(n, _)| n == name) {
            Some((_, expected)) if expected == hash => {}
            Some((_, expected)) => {
                mismatches.push(format!("{name}: expected {expected}, got {hash}"))
            }
            None => mismatches.push(format!("{name}: no fixture, got {hash}")),
        }
    }
    for (name, _) in EXPECTED {
        if !actual.iter().any(|(n, _)| n == name) {
            mismatches.push(format!("{name}: fixture without a value"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "format changed:\n{}",
        mismatches.join("\n")
    );
}
