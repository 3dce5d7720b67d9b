//! Authenticated state: commits, reads, proofs that verify, proofs that must not.

use commonware_runtime::{deterministic, Runner as _, Supervisor as _};

use super::*;

fn set(key: &str, value: &str) -> StateChange {
    StateChange {
        key: key.as_bytes().to_vec(),
        value: Some(value.as_bytes().to_vec()),
    }
}

fn delete(key: &str) -> StateChange {
    StateChange {
        key: key.as_bytes().to_vec(),
        value: None,
    }
}

fn config() -> StateConfig {
    StateConfig {
        cache_pages: 64,
        prune_every: 1,
        ..StateConfig::default()
    }
}

/// Runs `f` on the deterministic runtime with a fresh state.
fn with_state<T: Send + 'static>(
    seed: u64,
    f: impl FnOnce(
            QmdbState<deterministic::Context>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>
        + Send
        + 'static,
) -> T {
    deterministic::Runner::seeded(seed).start(|ctx| async move {
        let state = QmdbState::open(ctx.child("state"), &config())
            .await
            .unwrap();
        f(state).await
    })
}

#[test]
fn commits_reads_and_proves() {
    with_state(1, |mut state| {
        Box::pin(async move {
            assert_eq!(state.height(), Height::GENESIS);
            let empty_root = state.root();
            let proof = state.prove(b"alice").await.unwrap();
            assert_eq!(
                StateProof::decode(&proof.encode()).as_ref(),
                Ok(&proof),
                "encoding round trip"
            );
            assert_eq!(
                verify(&empty_root, b"alice", &proof),
                Ok(None),
                "absent from the empty state"
            );

            let r1 = state
                .commit(Height(1), &[set("alice", "10"), set("bob", "20")])
                .await
                .unwrap();
            assert_ne!(r1, empty_root);
            let r2 = state
                .commit(
                    Height(2),
                    &[set("alice", "11"), delete("bob"), set("carol", "5")],
                )
                .await
                .unwrap();
            assert_ne!(r2, r1);
            assert_eq!((state.height(), state.root()), (Height(2), r2));

            assert_eq!(state.get(b"alice").await.unwrap(), Some(b"11".to_vec()));
            assert_eq!(state.get(b"bob").await.unwrap(), None);
            assert_eq!(state.get(b"carol").await.unwrap(), Some(b"5".to_vec()));

            for key in ["alice", "carol"] {
                let proof = state.prove(key.as_bytes()).await.unwrap();
                assert_eq!(
                    StateProof::decode(&proof.encode()).as_ref(),
                    Ok(&proof),
                    "encoding round trip"
                );
                let value = state.get(key.as_bytes()).await.unwrap();
                assert!(matches!(proof, StateProof::Member { .. }));
                assert_eq!(verify(&r2, key.as_bytes(), &proof), Ok(value));
            }
            for key in ["bob", "dave", ""] {
                let proof = state.prove(key.as_bytes()).await.unwrap();
                assert_eq!(
                    StateProof::decode(&proof.encode()).as_ref(),
                    Ok(&proof),
                    "encoding round trip"
                );
                assert!(matches!(proof, StateProof::NonMember { .. }), "{key}");
                assert_eq!(verify(&r2, key.as_bytes(), &proof), Ok(None), "{key}");
            }
        })
    });
}

#[test]
fn tampered_proofs_fail() {
    with_state(2, |mut state| {
        Box::pin(async move {
            let root = state
                .commit(
                    Height(1),
                    &[set("alice", "10"), set("bob", "20"), set("erin", "1")],
                )
                .await
                .unwrap();
            let member = state.prove(b"alice").await.unwrap();
            // Every single-byte change of the encoded proof is refused or fails to verify.
            let bytes = member.encode();
            for i in 0..bytes.len() {
                let mut flipped = bytes.clone();
                flipped[i] ^= 0x01;
                if let Ok(decoded) = StateProof::decode(&flipped) {
                    assert!(
                        verify(&root, b"alice", &decoded) != Ok(Some(b"10".to_vec()))
                            || decoded == member,
                        "byte {i}"
                    );
                }
            }
            let absent = state.prove(b"carl").await.unwrap();

            // Wrong value.
            let StateProof::Member { proof, .. } = member.clone() else {
                panic!("alice is present")
            };
            let forged = StateProof::Member {
                value: b"1000".to_vec(),
                proof,
            };
            assert_eq!(verify(&root, b"alice", &forged), Err(InvalidProof));
            // Right proof, other key.
            assert_eq!(verify(&root, b"bob", &member), Err(InvalidProof));
            // Other root.
            let mut other_root = root;
            other_root.0[0] ^= 1;
            assert_eq!(verify(&other_root, b"alice", &member), Err(InvalidProof));
            assert_eq!(verify(&other_root, b"carl", &absent), Err(InvalidProof));
            // A non-membership proof does not cover a key that is present.
            assert_eq!(verify(&root, b"alice", &absent), Err(InvalidProof));
            // Proofs go stale when the state moves on.
            let new_root = state.commit(Height(2), &[set("carl", "3")]).await.unwrap();
            assert_eq!(verify(&new_root, b"carl", &absent), Err(InvalidProof));
            assert_eq!(
                verify(&root, b"carl", &absent),
                Ok(None),
                "still valid for the old root"
            );
        })
    });
}

#[test]
fn heights_must_follow() {
    with_state(3, |mut state| {
        Box::pin(async move {
            state.commit(Height(5), &[set("a", "1")]).await.unwrap();
            assert!(matches!(
                state.commit(Height(7), &[set("a", "2")]).await,
                Err(Error::OutOfOrder {
                    expected: Height(6),
                    got: Height(7)
                })
            ));
            assert!(matches!(
                state.commit(Height(5), &[]).await,
                Err(Error::OutOfOrder { .. })
            ));
            let too_big = StateChange {
                key: b"k".to_vec(),
                value: Some(vec![0; MAX_VALUE_LEN + 1]),
            };
            assert!(matches!(
                state.commit(Height(6), &[too_big]).await,
                Err(Error::Mismatch { .. })
            ));
            assert_eq!(state.height(), Height(5), "refused commits change nothing");
            assert_eq!(state.get(b"a").await.unwrap(), Some(b"1".to_vec()));
        })
    });
}

#[test]
fn same_changes_give_the_same_root() {
    let run = |seed| {
        with_state(seed, |mut state| {
            Box::pin(async move {
                let changes: Vec<StateChange> = (0..200)
                    .map(|i| set(&format!("key{i}"), &format!("value{}", i * 7)))
                    .collect();
                state.commit(Height(1), &changes).await.unwrap();
                state
                    .commit(Height(2), &[delete("key3"), set("key4", "x")])
                    .await
                    .unwrap()
            })
        })
    };
    // Different seeds schedule tasks differently; the root must not care.
    assert_eq!(run(10), run(11));
}

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().to_path_buf();
    let open = move || {
        commonware_runtime::tokio::Runner::new(
            commonware_runtime::tokio::Config::new().with_storage_directory(storage.clone()),
        )
    };
    let committed = open().start(|ctx| async move {
        let mut state = QmdbState::open(ctx.child("state"), &config())
            .await
            .unwrap();
        state
            .commit(Height(1), &[set("alice", "10")])
            .await
            .unwrap();
        state.commit(Height(2), &[set("bob", "20")]).await.unwrap()
    });
    let (height, root, alice) = open().start(|ctx| async move {
        let state = QmdbState::open(ctx.child("state"), &config())
            .await
            .unwrap();
        (
            state.height(),
            state.root(),
            state.get(b"alice").await.unwrap(),
        )
    });
    assert_eq!(
        (height, root, alice),
        (Height(2), committed, Some(b"10".to_vec()))
    );
}

fn key(i: usize) -> Vec<u8> {
    format!("account/{i:06}").into_bytes()
}

fn commit_values(keys: impl Iterator<Item = usize>, round: usize) -> Vec<StateChange> {
    keys.map(|i| StateChange {
        key: key(i),
        value: Some(round.to_be_bytes().to_vec()),
    })
    .collect()
}

/// The floor policy keeps the log within a bound of the live keys whatever the workload: when
/// a few hot keys are written again and again while every other key waits at the floor (the
/// worst case), and when writes are spread uniformly.
#[test]
fn the_log_stays_proportional_to_the_live_keys() {
    const KEYS: usize = 512;
    // A pruned log keeps up to a bitmap chunk of operations below the floor.
    let slack = (STATE_CHUNK * 8) as u64 + 64;
    let worst = ((SUPERSEDED_PER_MOVE + 1) * KEYS) as u64 + slack;
    let uniform = (5 * KEYS / 2) as u64 + slack;
    with_state(7, move |mut state| {
        Box::pin(async move {
            state
                .commit(Height::GENESIS, &commit_values(0..KEYS, 0))
                .await
                .unwrap();
            let mut height = Height::GENESIS;
            let mut longest = 0;
            // Hot keys: one fewer than a move's worth, written by every block, so that each
            // block moves one cold key and appends the most operations per move.
            for round in 1..=2500 {
                height = height.next().unwrap();
                state
                    .commit(height, &commit_values(0..SUPERSEDED_PER_MOVE - 1, round))
                    .await
                    .unwrap();
                longest = longest.max(state.live_log_len().unwrap());
            }
            assert!(
                longest <= worst,
                "hot keys: the log reached {longest} operations for {KEYS} keys (bound {worst})"
            );
            assert!(
                longest > (2 * KEYS) as u64,
                "hot keys: {longest} operations; the case is meant to stretch the log"
            );
            // Uniform: 64 keys of a pseudo-random walk per block.
            let mut next = 1usize;
            let mut settled = 0;
            for round in 0..600 {
                height = height.next().unwrap();
                let keys: std::collections::BTreeSet<usize> = (0..64)
                    .map(|_| {
                        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        (next >> 33) % KEYS
                    })
                    .collect();
                state
                    .commit(height, &commit_values(keys.into_iter(), round))
                    .await
                    .unwrap();
                if round >= 300 {
                    settled = settled.max(state.live_log_len().unwrap());
                }
            }
            assert!(
                settled <= uniform,
                "uniform: the log reached {settled} operations for {KEYS} keys (bound {uniform})"
            );
            for i in [0, 2, 3, KEYS - 1] {
                assert!(state.get(&key(i)).await.unwrap().is_some(), "key {i} lost");
            }
        })
    });
}
