//! The module on a runtime over in-memory state, as on a node.

#![allow(clippy::unwrap_used)]

use lamina_agreement::testing::{key, TestChain};
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_interop::block::Outcome;
use lamina_interop::{Address, ChainId};

use super::*;

fn record(chain: &TestChain, account: Address) -> Record {
    match chain
        .query::<Attendance>(AttendanceQuery::Record { account })
        .unwrap()
    {
        AttendanceResponse::Record(record) => record,
    }
}

#[test]
fn every_block_counts_for_its_proposer_and_monikers_are_checked() {
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
        .module(Attendance)
        .build()
        .unwrap();
    let alice = key(1);
    let mut chain = TestChain::funded(runtime, &[&alice], 10u128.pow(12)).unwrap();
    let account = Address::of(&alice.public_key());
    let set = AttendanceCall::SetMoniker {
        moniker: "validator one".into(),
    };
    let receipt = chain.call::<Attendance>(&alice, &set).unwrap();
    assert_eq!(receipt.outcome, Outcome::Success);
    assert_eq!(
        chain.events::<Attendance>(&receipt),
        vec![AttendanceEvent::Named {
            account,
            moniker: "validator one".into()
        }]
    );
    for bad in ["", "tab\there", &"x".repeat(MAX_MONIKER + 1)] {
        let call = AttendanceCall::SetMoniker {
            moniker: bad.to_string(),
        };
        let receipt = chain.call::<Attendance>(&alice, &call).unwrap();
        assert!(
            matches!(receipt.outcome, Outcome::Failed { code: 1, .. }),
            "{bad:?}"
        );
    }
    assert_eq!(
        record(&chain, account).moniker.as_deref(),
        Some("validator one")
    );
    // TestChain's blocks are proposed by the zero address: one per call.
    chain.block(&[]).unwrap();
    assert_eq!(record(&chain, Address([0; 32])).proposed, chain.height());
    assert_eq!(record(&chain, account).proposed, 0);
}
