//! A chain with the DeFi modules open (prices, a pool, two markets with a borrower), and the
//! oracle every target checks against: arbitrary call bytes to one module never panic; a
//! call that decodes re-encodes to the same bytes and survives JSON; every transaction gets
//! a receipt; parallel execution equals sequential.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank, BankGenesis};
use lamina_agreement::testing::{env, key};
use lamina_agreement::{
    execute_block, MemoryState, Mode, Runtime, RuntimeConfig, SignedTx, UnsignedTx, VerifiedTx,
};
use lamina_app::dex::{Dex, DexGenesis, GenesisPool};
use lamina_app::insurance::{Insurance, InsuranceGenesis, PoolGenesis, Trigger};
use lamina_app::lending::{Lending, LendingGenesis, MarketConfig, MarketGenesis};
use lamina_app::liquid_staking::{LiquidStaking, LiquidStakingGenesis, Params as LiquidParams};
use lamina_app::oracle::{FeedGenesis, Oracle, OracleGenesis, Params, ONE};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::module::{Amount, Module};
use lamina_interop::{Address, ChainId};

const CHAIN: ChainId = ChainId(5);
const E18: u128 = 1_000_000_000_000_000_000;

/// A chain without validators: liquid staking keeps its stake in the buffer. (The staking
/// module lives in another layer; the simulation runs liquid staking with it.)
#[derive(Debug, Clone, Copy)]
pub struct NoValidators;

impl lamina_interop::module::Delegation for NoValidators {
    fn validators(&self, _: &mut lamina_interop::module::WorkingSet<'_>) -> Result<Vec<Address>, lamina_interop::module::LedgerError> {
        Ok(Vec::new())
    }
    fn delegate(&self, _: &mut lamina_interop::module::WorkingSet<'_>, _: &Address, _: &Address, _: u128) -> Result<(), lamina_interop::module::LedgerError> {
        Err(lamina_interop::module::LedgerError::Refused("no validators".into()))
    }
    fn undelegate(&self, _: &mut lamina_interop::module::WorkingSet<'_>, _: lamina_interop::Height, _: &Address, _: &Address, _: u128) -> Result<u128, lamina_interop::module::LedgerError> {
        Ok(0)
    }
    fn withdraw_unbonded(&self, _: &mut lamina_interop::module::WorkingSet<'_>, _: lamina_interop::Height, _: &Address) -> Result<u128, lamina_interop::module::LedgerError> {
        Ok(0)
    }
    fn delegated(&self, _: &mut lamina_interop::module::WorkingSet<'_>, _: &Address, _: &Address) -> Result<u128, lamina_interop::module::LedgerError> {
        Ok(0)
    }
    fn unbonding(&self, _: &mut lamina_interop::module::WorkingSet<'_>, _: &Address) -> Result<u128, lamina_interop::module::LedgerError> {
        Ok(0)
    }
}

pub struct Setup {
    runtime: Runtime,
    state: MemoryState,
    keys: Vec<PublicKey>,
}


pub fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = Runtime::builder(RuntimeConfig::new(CHAIN))
            .module(Oracle)
            .module(Dex::new(Bank))
            .module(Lending::new(Bank, Oracle, &[0, 1, 2]))
            .module(Insurance::new(Bank, Lending::new(Bank, Oracle, &[0, 1, 2]), &[1]))
            .module(LiquidStaking::new(Bank, NoValidators, 3))
            .build()
            .unwrap();
        let keys: Vec<PublicKey> = (0..4).map(|i| key(i).public_key()).collect();
        let accounts: Vec<Address> = keys.iter().map(Address::of).collect();
        let mut bank = BankGenesis::native(accounts.iter().map(|a| (*a, 1u128 << 100)));
        for id in [1, 2, 3] {
            bank.assets.push(AssetGenesis {
                id,
                info: AssetInfo { symbol: format!("T{id}"), decimals: 18 },
                balances: accounts.iter().map(|a| (*a, Amount(1 << 100))).collect(),
                minters: if id == 3 { vec!["liquid-staking".into()] } else { Vec::new() },
            });
        }
        let oracle = OracleGenesis {
            params: Params { max_report_age_blocks: 10, min_reports: 1, max_move_bps: 2_000 },
            feeders: accounts.clone(),
            feeds: vec![
                FeedGenesis { asset: 0, price: Some(2 * ONE), fixed: false },
                FeedGenesis { asset: 1, price: Some(ONE), fixed: true },
                FeedGenesis { asset: 2, price: Some(2_000 * ONE), fixed: false },
            ],
        };
        let dex = DexGenesis {
            fee_bps: 30,
            pools: vec![
                GenesisPool { asset_a: 0, asset_b: 1, amount_a: 1_000 * E18, amount_b: 2_000 * E18, provider: accounts[0] },
                GenesisPool { asset_a: 1, asset_b: 2, amount_a: 2_000_000 * E18, amount_b: 1_000 * E18, provider: accounts[0] },
            ],
        };
        let lending = LendingGenesis {
            markets: (0..3).map(|asset| MarketGenesis { asset, config: MarketConfig::new(7_500, 8_000) }).collect(),
            ..LendingGenesis::default()
        };
        let pool = |id, trigger| PoolGenesis {
            id,
            asset: 1,
            risk: "fuzz".into(),
            trigger,
            base_rate_bps: 200,
            slope_bps: 1_000,
            max_utilisation_bps: 9_000,
        };
        let mut insurance = InsuranceGenesis::default();
        insurance.params.voting_blocks = 0;
        insurance.pools = vec![pool(0, Trigger::Vote), pool(1, Trigger::BadDebt { asset: 1 })];
        let sections = BTreeMap::from([
            ("insurance".to_string(), serde_json::to_value(insurance).unwrap()),
            (
                "liquid-staking".to_string(),
                serde_json::to_value(LiquidStakingGenesis {
                    params: Some(LiquidParams { min_stake: 1, unbonding_blocks: 2 }),
                })
                .unwrap(),
            ),
            ("bank".to_string(), bank.to_section()),
            ("oracle".to_string(), serde_json::to_value(oracle).unwrap()),
            ("dex".to_string(), serde_json::to_value(dex).unwrap()),
            ("lending".to_string(), serde_json::to_value(lending).unwrap()),
        ]);
        let delta = runtime.genesis(&sections, &env(CHAIN, 0, Address([0; 32]))).unwrap();
        let mut state = MemoryState::with_capacity(delta.len());
        state.apply(&delta);
        Setup { runtime, state, keys }
    })
}

/// Runs `data` as calls to module `M`: each is a sender (1 byte), a length (1 byte) and the
/// call's bytes.
pub fn run<M: Module>(data: &[u8]) {
    let Setup { runtime, state, keys } = setup();
    let module = runtime.module_index(M::NAME).unwrap();
    let mut txs = Vec::new();
    let mut nonces = [0u64; 4];
    let mut rest = data;
    while rest.len() >= 2 && txs.len() < 16 {
        let sender = rest[0] as usize % keys.len();
        let len = (rest[1] as usize).min(rest.len() - 2);
        let call = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        if let Ok(decoded) = M::decode_call(&call) {
            assert_eq!(codec::encode(&decoded), call, "a call decodes from one encoding only");
            let json = serde_json::to_value(&decoded).unwrap();
            let back: M::Call = serde_json::from_value(json).unwrap();
            assert_eq!(codec::encode(&back), call, "JSON carries the call unchanged");
        }
        txs.push(VerifiedTx::assume_verified(SignedTx {
            body: UnsignedTx {
                chain_id: CHAIN,
                sender: keys[sender],
                nonce: nonces[sender],
                max_fee: 100_000_000,
                tip: 0,
                gas_limit: 10_000_000,
                module,
                call: BoundedBytes::try_from_vec(call).unwrap(),
            },
            signature: Signature([0; 64]),
        }));
        nonces[sender] += 1;
    }
    let block = env(CHAIN, 3, Address([9; 32]));
    let sequential = execute_block(runtime, &block, &txs, state, Mode::Sequential).unwrap();
    assert_eq!(sequential.receipts.len(), txs.len());
    let parallel = execute_block(runtime, &block, &txs, state, Mode::Parallel).unwrap();
    assert_eq!(sequential, parallel);
}
