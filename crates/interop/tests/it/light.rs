//! The light client against forged certificates and headers, the trusting period and
//! conflicting final blocks. (State proofs of set changes and values are tested where a
//! prover is: the data layer's tests.)

use lamina_interop::block::Header;
use lamina_interop::codec::{BoundedVec, Canonical};
use lamina_interop::crypto::{SecretKey, Signature};
use lamina_interop::finality::{
    vote_message, FinalityCertificate, FinalityError, FinalityProof, ValidatorSet, Vote,
};
use lamina_interop::light::{Checkpoint, LightClient, LightError, LightParams};
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

const CHAIN: ChainId = ChainId(7);
const HOUR: u64 = 3_600_000;
const GENESIS_TIME: u64 = 1_700_000_000_000;

fn keys(seed: u8, n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| SecretKey::from_seed([seed.wrapping_add(i as u8); 32]))
        .collect()
}

fn set(epoch: u64, keys: &[SecretKey]) -> ValidatorSet {
    ValidatorSet::new(epoch, keys.iter().map(|k| k.public_key()).collect()).unwrap()
}

fn params() -> LightParams {
    LightParams {
        chain_id: CHAIN,
        epoch_blocks: Some(10),
        trusting_period_ms: 24 * HOUR,
    }
}

/// Headers 1..=n of a chain whose block `h` is `h` seconds after genesis; `salt` makes a
/// different chain.
fn chain(n: u64, salt: u8) -> Vec<Header> {
    let mut parent = Hash::ZERO;
    (1..=n)
        .map(|h| {
            let header = Header {
                chain_id: CHAIN,
                height: Height(h),
                parent,
                timestamp: Timestamp(GENESIS_TIME + h * 1000),
                proposer: Address::of(&SecretKey::from_seed([0; 32]).public_key()),
                tx_root: Hash::of(&[salt]),
                tx_count: 0,
                state_height: Height(h - 1),
                state_root: Hash::of(&h.to_be_bytes()),
            };
            parent = header.id();
            header
        })
        .collect()
}

fn proof(headers: &[Header], set: &ValidatorSet, signers: &[&SecretKey]) -> FinalityProof {
    let last = headers.last().unwrap();
    FinalityProof {
        certificate: FinalityCertificate::sign(
            CHAIN,
            set,
            (last.height.0, last.height.0 - 1),
            last.id(),
            signers,
        ),
        headers: BoundedVec::try_from_vec(headers.to_vec()).unwrap(),
    }
}

fn genesis(set: ValidatorSet) -> Checkpoint {
    Checkpoint {
        height: Height(0),
        block: Hash::ZERO,
        timestamp: Timestamp(GENESIS_TIME),
        set,
    }
}

fn client(set: ValidatorSet) -> LightClient {
    LightClient::new(params(), genesis(set), Timestamp(GENESIS_TIME + 1000)).unwrap()
}

fn now() -> Timestamp {
    Timestamp(GENESIS_TIME + 60_000)
}

#[test]
fn a_quorum_certificate_verifies_a_header_and_its_ancestors() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let headers = chain(5, 0);
    let signers: Vec<&SecretKey> = vals.iter().take(3).collect();
    let verified = light
        .update(&proof(&headers[2..5], &s, &signers), now())
        .unwrap();
    assert_eq!(verified.height, Height(3));
    assert_eq!(verified.latest, Height(5));
    assert_eq!(light.latest(), (Height(5), headers[4].id()));
    assert_eq!(light.header(Height(3)), Some(&headers[2]));
    assert_eq!(
        light.latest_root(),
        Some((Height(4), headers[4].state_root))
    );
    // A proof rebuilt by the client verifies again.
    let again = light.proof_of(Height(3)).unwrap();
    assert_eq!(again.verify(CHAIN, &s).unwrap(), &headers[2]);
}

#[test]
fn too_few_signers_are_refused() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let headers = chain(1, 0);
    let signers: Vec<&SecretKey> = vals.iter().take(2).collect();
    let err = light
        .update(&proof(&headers, &s, &signers), now())
        .unwrap_err();
    assert_eq!(
        err,
        LightError::Finality(FinalityError::TooFewSigners {
            signers: 2,
            quorum: 3
        })
    );
    assert_eq!(light.latest().0, Height(0));
}

#[test]
fn a_signer_outside_the_set_is_refused() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let headers = chain(1, 0);
    // Signed by a quorum of another set, relabelled as this set's indices.
    let outsiders = keys(100, 4);
    let mut forged = proof(
        &headers,
        &set(0, &outsiders),
        &outsiders.iter().collect::<Vec<_>>(),
    );
    let err = light.update(&forged, now()).unwrap_err();
    assert!(
        matches!(
            err,
            LightError::Finality(FinalityError::BadSignature { .. })
        ),
        "{err}"
    );
    // An index past the set's end.
    let mut votes = forged.certificate.votes.clone().into_inner();
    votes[0].signer = 9;
    forged.certificate.votes = BoundedVec::try_from_vec(votes).unwrap();
    let err = light.update(&forged, now()).unwrap_err();
    assert_eq!(
        err,
        LightError::Finality(FinalityError::UnknownSigner {
            signer: 9,
            set_size: 4
        })
    );
}

#[test]
fn a_signer_counted_twice_is_refused() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let headers = chain(1, 0);
    let mut forged = proof(&headers, &s, &[&vals[0], &vals[1]]);
    let mut votes = forged.certificate.votes.clone().into_inner();
    votes.push(votes[1]);
    forged.certificate.votes = BoundedVec::try_from_vec(votes).unwrap();
    let err = light.update(&forged, now()).unwrap_err();
    assert!(
        matches!(
            err,
            LightError::Finality(FinalityError::RepeatedSigner { .. })
        ),
        "{err}"
    );
}

#[test]
fn signatures_over_another_block_or_chain_are_refused() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let signers: Vec<&SecretKey> = vals.iter().collect();
    let headers = chain(2, 0);
    // Votes for block 1 relabelled as a certificate of block 2.
    let mut light = client(s.clone());
    let mut forged = proof(&headers[..1], &s, &signers);
    forged.certificate.block = headers[1].id();
    forged.headers = BoundedVec::try_from_vec(headers[1..2].to_vec()).unwrap();
    let err = light.update(&forged, now()).unwrap_err();
    assert!(
        matches!(
            err,
            LightError::Finality(FinalityError::BadSignature { .. })
        ),
        "{err}"
    );
    // A certificate of one block with the header of another.
    let mut forged = proof(&headers[..1], &s, &signers);
    forged.headers = BoundedVec::try_from_vec(headers[1..2].to_vec()).unwrap();
    let err = light.update(&forged, now()).unwrap_err();
    assert!(
        matches!(err, LightError::Finality(FinalityError::WrongBlock { .. })),
        "{err}"
    );
    // Votes signed for another chain id over the same block.
    let message = vote_message(ChainId(8), 0, 1, 0, &headers[0].id());
    let mut forged = proof(&headers[..1], &s, &signers);
    let votes: Vec<Vote> = forged
        .certificate
        .votes
        .iter()
        .map(|v| Vote {
            signer: v.signer,
            signature: signers
                .iter()
                .find(|k| s.keys[v.signer as usize] == k.public_key())
                .unwrap()
                .sign_raw(&message),
        })
        .collect();
    forged.certificate.votes = BoundedVec::try_from_vec(votes).unwrap();
    let err = light.update(&forged, now()).unwrap_err();
    assert!(
        matches!(
            err,
            LightError::Finality(FinalityError::BadSignature { .. })
        ),
        "{err}"
    );
    // A header of another chain.
    let mut other = chain(1, 0);
    other[0].chain_id = ChainId(8);
    let err = light
        .update(&proof(&other, &s, &signers), now())
        .unwrap_err();
    assert!(
        matches!(err, LightError::Finality(FinalityError::WrongChain { .. })),
        "{err}"
    );
    // A garbage signature.
    let mut forged = proof(&headers[..1], &s, &signers);
    let mut votes = forged.certificate.votes.clone().into_inner();
    votes[2].signature = Signature([7; 64]);
    forged.certificate.votes = BoundedVec::try_from_vec(votes).unwrap();
    let err = light.update(&forged, now()).unwrap_err();
    assert!(
        matches!(
            err,
            LightError::Finality(FinalityError::BadSignature { .. })
        ),
        "{err}"
    );
    assert_eq!(light.latest().0, Height(0), "nothing forged was taken in");
}

#[test]
fn headers_that_do_not_link_are_refused() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let mut headers = chain(3, 0);
    headers[1] = chain(3, 1)[1].clone();
    let err = light
        .update(
            &proof(&headers, &s, &vals.iter().collect::<Vec<_>>()),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(err, LightError::Finality(FinalityError::BrokenChain { .. })),
        "{err}"
    );
}

#[test]
fn a_header_of_the_next_epoch_needs_a_proven_set() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let headers = chain(11, 0);
    let signers: Vec<&SecretKey> = vals.iter().collect();
    light
        .update(&proof(&headers[..10], &s, &signers), now())
        .unwrap();
    // The old set signing a header of epoch 1 under its own epoch number.
    let mut stale = proof(&headers[10..], &s, &signers);
    let err = light.update(&stale, now()).unwrap_err();
    assert_eq!(
        err,
        LightError::EpochMismatch {
            height: Height(11),
            certificate: 0,
            expected: 1
        }
    );
    // Relabelled as epoch 1: the client has no proven set for it.
    stale.certificate.epoch = 1;
    let err = light.update(&stale, now()).unwrap_err();
    assert_eq!(
        err,
        LightError::SetChangeUnproven {
            epoch: 1,
            current: 0
        }
    );
}

#[test]
fn a_checkpoint_past_the_trusting_period_is_refused_and_a_client_expires() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let late = Timestamp(GENESIS_TIME + 25 * HOUR);
    let err = LightClient::new(params(), genesis(s.clone()), late).unwrap_err();
    assert!(matches!(err, LightError::CheckpointExpired { .. }), "{err}");
    let mut light = client(s.clone());
    let headers = chain(1, 0);
    let err = light
        .update(&proof(&headers, &s, &vals.iter().collect::<Vec<_>>()), late)
        .unwrap_err();
    assert!(matches!(err, LightError::Expired { .. }), "{err}");
    // A checkpoint whose set is not the next block's epoch's.
    let err = LightClient::new(params(), genesis(set(3, &vals)), now()).unwrap_err();
    assert!(matches!(err, LightError::StaleSet { .. }), "{err}");
}

#[test]
fn two_final_blocks_at_one_height_freeze_the_client_with_evidence() {
    let vals = keys(1, 4);
    let s = set(0, &vals);
    let mut light = client(s.clone());
    let honest = chain(3, 0);
    let fork = chain(3, 1);
    // Validators 0 and 1 equivocate: both quorums hold.
    light
        .update(&proof(&honest, &s, &[&vals[0], &vals[1], &vals[2]]), now())
        .unwrap();
    let forged = proof(&fork[..2], &s, &[&vals[0], &vals[1], &vals[3]]);
    let err = light.update(&forged, now()).unwrap_err();
    let LightError::Misbehaviour(evidence) = err else {
        panic!("expected misbehaviour, got {err}");
    };
    assert_eq!(evidence.height, Height(1));
    assert_eq!(evidence.second, forged);
    // Both sides verify: the evidence convinces anyone holding the set.
    let first = evidence.first.verify(CHAIN, &s).unwrap();
    let second = evidence.second.verify(CHAIN, &s).unwrap();
    assert_eq!(first.height, second.height);
    assert_ne!(first.id(), second.id());
    assert_eq!(light.frozen().map(|m| m.height), Some(Height(1)));
    // Frozen: even the honest chain's next block is refused.
    let next = chain(4, 0);
    let err = light
        .update(
            &proof(&next[3..], &s, &vals.iter().collect::<Vec<_>>()),
            now(),
        )
        .unwrap_err();
    assert_eq!(err, LightError::Frozen { height: Height(1) });
}

#[test]
fn a_set_is_refused_unless_sorted_unique_and_small() {
    let vals = keys(1, 4);
    let mut keys: Vec<_> = vals.iter().map(|k| k.public_key()).collect();
    keys.push(keys[0]);
    assert!(ValidatorSet::new(0, keys).is_err());
    assert!(ValidatorSet::new(0, Vec::new()).is_err());
    let mut s = set(0, &vals);
    let mut unsorted = s.keys.clone().into_inner();
    unsorted.reverse();
    s.keys = BoundedVec::try_from_vec(unsorted).unwrap();
    assert!(!s.is_well_formed());
    let decoded = ValidatorSet::decode(&s.encode()).unwrap();
    let err = LightClient::new(params(), genesis(decoded), now()).unwrap_err();
    assert!(
        matches!(err, LightError::Finality(FinalityError::BadSet { .. })),
        "{err}"
    );
}

#[test]
fn quorums_follow_simplex() {
    for (n, q) in [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 3),
        (5, 4),
        (7, 5),
        (10, 7),
        (100, 67),
    ] {
        assert_eq!(set(0, &keys(1, n)).quorum(), q, "n = {n}");
    }
}

#[test]
fn oversized_encodings_are_refused_before_decoding() {
    let big = vec![0u8; FinalityProof::MAX_ENCODED_LEN + 1];
    assert!(FinalityProof::decode(&big).is_err());
    let big = vec![0u8; FinalityCertificate::MAX_ENCODED_LEN + 1];
    assert!(FinalityCertificate::decode(&big).is_err());
    // A count past the bound is refused without allocating it.
    let mut lying =
        FinalityCertificate::sign(CHAIN, &set(0, &keys(1, 1)), (1, 0), Hash::ZERO, &[]).encode();
    let n = lying.len();
    lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(FinalityCertificate::decode(&lying).is_err());
}
