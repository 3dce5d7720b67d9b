//! Arbitrary module indices and call bytes through the runtime: never a panic, every
//! transaction gets a receipt, and parallel execution equals sequential.

#![no_main]

use std::sync::OnceLock;

use lamina_agreement::testing::{env, funded_native_state, key};
use lamina_agreement::{
    execute_block, MemoryState, Mode, Runtime, RuntimeConfig, SignedTx, UnsignedTx, VerifiedTx,
};
use lamina_interop::codec::BoundedBytes;
use lamina_interop::crypto::Signature;
use lamina_interop::{Address, ChainId};
use libfuzzer_sys::fuzz_target;

const CHAIN: ChainId = ChainId(5);

fn setup() -> &'static (Runtime, MemoryState, Vec<lamina_interop::crypto::PublicKey>) {
    static SETUP: OnceLock<(Runtime, MemoryState, Vec<lamina_interop::crypto::PublicKey>)> =
        OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = Runtime::builder(RuntimeConfig::new(CHAIN)).build().unwrap();
        let keys: Vec<_> = (0..4).map(|i| key(i).public_key()).collect();
        let accounts: Vec<Address> = keys.iter().map(Address::of).collect();
        (runtime, funded_native_state(&accounts, 1 << 40), keys)
    })
}

fuzz_target!(|data: &[u8]| {
    let (runtime, state, keys) = setup();
    // Each transaction: sender (1 byte), module (1 byte), call length (1 byte), call.
    let mut txs = Vec::new();
    let mut nonces = [0u64; 4];
    let mut rest = data;
    while rest.len() >= 3 && txs.len() < 32 {
        let sender = rest[0] as usize % keys.len();
        let module = rest[1] as u16 % 4;
        let len = (rest[2] as usize).min(rest.len() - 3);
        let call = rest[3..3 + len].to_vec();
        rest = &rest[3 + len..];
        txs.push(VerifiedTx::assume_verified(SignedTx {
            body: UnsignedTx {
                chain_id: CHAIN,
                sender: keys[sender],
                nonce: nonces[sender],
                max_fee: 1_000_000,
                tip: 1,
                gas_limit: 100_000,
                module,
                call: BoundedBytes::try_from_vec(call).unwrap(),
            },
            signature: Signature([0; 64]),
        }));
        nonces[sender] += 1;
    }
    let block = env(CHAIN, 1, Address([9; 32]));
    let sequential = execute_block(runtime, &block, &txs, state, Mode::Sequential).unwrap();
    assert_eq!(sequential.receipts.len(), txs.len());
    let parallel = execute_block(runtime, &block, &txs, state, Mode::Parallel).unwrap();
    assert_eq!(sequential, parallel);
});
