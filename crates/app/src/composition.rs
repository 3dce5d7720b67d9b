//! The DeFi modules composed in one runtime, their blocks run in parallel by declared access
//! and in sequence: the same receipts and the same state, and no call touches a key it did
//! not declare (`docs/adr/0028-module-composition.md`).

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::accounts;
use lamina_agreement::modules::bank::Bank;
use lamina_agreement::testing::{env, key, TestChain};
use lamina_agreement::{execute_block, Mode, UnsignedTx, VerifiedTx};
use lamina_interop::block::Outcome;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::module::{Amount, Module};
use lamina_interop::Address;
use proptest::prelude::*;

use crate::dex::{Dex, DexCall, DexGenesis, GenesisPool};
use crate::insurance::{Insurance, InsuranceCall, InsuranceGenesis, PoolGenesis, Trigger};
use crate::lending::{Lending, LendingCall, LendingGenesis, MarketConfig, MarketGenesis};
use crate::oracle::{FeedGenesis, Oracle, OracleCall, OracleGenesis, Params, ONE};
use crate::testkit::{self, address, ACCOUNTS};

const USD: u32 = 1;
const ETH: u32 = 2;
const E18: u128 = 1_000_000_000_000_000_000;

type Lend = Lending<Bank, Oracle>;
type Ins = Insurance<Bank, Lend>;

fn chain() -> TestChain {
    let oracle = OracleGenesis {
        params: Params {
            max_report_age_blocks: 100,
            min_reports: 1,
            max_move_bps: 0,
        },
        feeders: (1..=ACCOUNTS).map(address).collect(),
        feeds: vec![
            FeedGenesis {
                asset: USD,
                price: Some(ONE),
                fixed: true,
            },
            FeedGenesis {
                asset: ETH,
                price: Some(2_000 * ONE),
                fixed: false,
            },
        ],
    };
    let dex = DexGenesis {
        fee_bps: 30,
        pools: vec![GenesisPool {
            asset_a: ETH,
            asset_b: USD,
            amount_a: 1_000 * E18,
            amount_b: 2_000_000 * E18,
            provider: address(1),
        }],
    };
    let lending = LendingGenesis {
        markets: vec![
            MarketGenesis {
                asset: USD,
                config: MarketConfig::new(7_500, 8_000),
            },
            MarketGenesis {
                asset: ETH,
                config: MarketConfig::new(7_500, 8_000),
            },
        ],
        ..LendingGenesis::default()
    };
    let pool = |id, trigger| PoolGenesis {
        id,
        asset: USD,
        risk: "test".into(),
        trigger,
        base_rate_bps: 200,
        slope_bps: 1_000,
        max_utilisation_bps: 9_000,
    };
    let insurance = InsuranceGenesis {
        pools: vec![
            pool(0, Trigger::Vote),
            pool(1, Trigger::BadDebt { asset: USD }),
        ],
        ..InsuranceGenesis::default()
    };
    let mut chain = testkit::chain(
        |b| {
            let lending = Lending::new(Bank, Oracle, &[USD, ETH]);
            b.module(Oracle)
                .module(Dex::new(Bank))
                .module(lending.clone())
                .module(Insurance::new(Bank, lending, &[USD]))
        },
        &[USD, ETH],
        vec![
            ("oracle", serde_json::to_value(oracle).unwrap()),
            ("dex", serde_json::to_value(dex).unwrap()),
            ("lending", serde_json::to_value(lending).unwrap()),
            ("insurance", serde_json::to_value(insurance).unwrap()),
        ],
    );
    for pool in [0, 1] {
        chain
            .call::<Ins>(
                &key(3),
                &InsuranceCall::Deposit {
                    pool,
                    amount: 100_000 * E18,
                },
            )
            .unwrap();
    }
    // Liquidity to borrow, and a borrower near its limit.
    chain
        .call::<Lend>(
            &key(1),
            &LendingCall::Supply {
                asset: USD,
                amount: 1_000_000 * E18,
            },
        )
        .unwrap();
    chain
        .call::<Lend>(
            &key(2),
            &LendingCall::Supply {
                asset: ETH,
                amount: 10 * E18,
            },
        )
        .unwrap();
    chain
        .call::<Lend>(
            &key(2),
            &LendingCall::Borrow {
                asset: USD,
                amount: 14_000 * E18,
            },
        )
        .unwrap();
    chain
}

#[derive(Debug, Clone)]
enum Op {
    Report(u128),
    Swap(bool, u128),
    Supply(bool, u128),
    Borrow(u128),
    Liquidate,
    Cover(bool, u64, u128),
    Claim(bool, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1_000u128..2_500).prop_map(|p| Op::Report(p * ONE)),
        (any::<bool>(), 1u128..1 << 70).prop_map(|(d, a)| Op::Swap(d, a)),
        (any::<bool>(), 1u128..1 << 72).prop_map(|(e, a)| Op::Supply(e, a)),
        (1u128..1 << 72).prop_map(Op::Borrow),
        Just(Op::Liquidate),
        (any::<bool>(), 0u64..3, 1u128..1 << 70).prop_map(|(p, c, a)| Op::Cover(p, c, a)),
        (any::<bool>(), 0u64..3).prop_map(|(p, c)| Op::Claim(p, c)),
    ]
}

fn sign<M: Module>(chain: &TestChain, who: u64, nonce: u64, call: &M::Call) -> VerifiedTx {
    let runtime = chain.runtime();
    let tx = UnsignedTx {
        chain_id: runtime.config().chain_id,
        sender: key(who).public_key(),
        nonce,
        max_fee: runtime.required_fee(chain.gas_limit, 0).unwrap(),
        tip: 0,
        gas_limit: chain.gas_limit,
        module: runtime.module_index(M::NAME).unwrap(),
        call: BoundedBytes::try_from_vec(codec::encode(call)).unwrap(),
    }
    .sign(&key(who));
    VerifiedTx::verify(tx.to_raw().as_ref()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn parallel_execution_of_defi_blocks_equals_sequential(ops in proptest::collection::vec((1..=ACCOUNTS, op()), 1..48)) {
        let chain = chain();
        let mut nonces: Vec<u64> = (0..=ACCOUNTS).map(|i| if i == 0 { 0 } else { accounts::committed_nonce(chain.state(), &address(i)).unwrap() }).collect();
        let txs: Vec<VerifiedTx> = ops.into_iter().map(|(who, op)| {
            let nonce = nonces[who as usize];
            nonces[who as usize] += 1;
            match op {
                Op::Report(p) => sign::<Oracle>(&chain, who, nonce, &OracleCall::Report { prices: vec![(ETH, Amount(p))] }),
                Op::Swap(d, a) => sign::<Dex<Bank>>(&chain, who, nonce, &DexCall::SwapExactIn { path: if d { vec![ETH, USD] } else { vec![USD, ETH] }, amount_in: a, min_out: 0, deadline_ms: None }),
                Op::Supply(e, a) => sign::<Lend>(&chain, who, nonce, &LendingCall::Supply { asset: if e { ETH } else { USD }, amount: a }),
                Op::Borrow(a) => sign::<Lend>(&chain, who, nonce, &LendingCall::Borrow { asset: USD, amount: a }),
                Op::Liquidate => sign::<Lend>(&chain, who, nonce, &LendingCall::Liquidate { borrower: address(2), debt_asset: USD, collateral_asset: ETH, max_repay: u128::MAX }),
                Op::Cover(p, c, a) => sign::<Ins>(&chain, who, nonce, &InsuranceCall::BuyCover { pool: u32::from(p), cover: c, amount: a, period_blocks: 100, max_premium: u128::MAX }),
                Op::Claim(p, c) => sign::<Ins>(&chain, who, nonce, &InsuranceCall::FileClaim { pool: u32::from(p), cover: c }),
            }
        }).collect();
        let block_env = env(chain.runtime().config().chain_id, chain.height() + 1, Address([0; 32]));
        let sequential = execute_block(chain.runtime(), &block_env, &txs, chain.state(), Mode::Sequential).unwrap();
        let parallel = execute_block(chain.runtime(), &block_env, &txs, chain.state(), Mode::Parallel).unwrap();
        prop_assert_eq!(&sequential.receipts, &parallel.receipts);
        prop_assert_eq!(sequential.delta, parallel.delta);
        for receipt in &sequential.receipts {
            if let Outcome::Failed { reason, .. } = &receipt.outcome {
                prop_assert!(!reason.as_str().contains("undeclared"), "{}", reason.as_str());
            }
        }
    }
}
