//! Transaction decoding of arbitrary bytes: never panics, and whatever decodes matches an
//! independent reading of the documented byte layout and re-encodes to the same bytes.

#![no_main]

use lamina_agreement::tx::{SignedTx, MAX_TX_SIZE};
use lamina_interop::codec::Canonical as _;
use libfuzzer_sys::fuzz_target;

/// The layout of `tx.rs`, read by offsets: `None` where the bytes are not a transaction.
fn by_layout(data: &[u8]) -> Option<(u64, [u8; 32], u64, u128, u128, u64, u16, &[u8], [u8; 64])> {
    if data.len() > MAX_TX_SIZE || data.len() < 94 + 64 {
        return None;
    }
    let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
    let u128_at = |at: usize| u128::from_le_bytes(data[at..at + 16].try_into().unwrap());
    let call_len = u32::from_le_bytes(data[90..94].try_into().unwrap()) as usize;
    if data.len() != 94 + call_len + 64 {
        return None;
    }
    Some((
        u64_at(0),
        data[8..40].try_into().unwrap(),
        u64_at(40),
        u128_at(48),
        u128_at(64),
        u64_at(80),
        u16::from_le_bytes(data[88..90].try_into().unwrap()),
        &data[94..94 + call_len],
        data[94 + call_len..].try_into().unwrap(),
    ))
}

fuzz_target!(|data: &[u8]| {
    let decoded = SignedTx::decode_raw(data);
    let expected = by_layout(data);
    match (decoded, expected) {
        (Ok(tx), Some((chain, sender, nonce, max_fee, tip, gas, module, call, signature))) => {
            let body = &tx.body;
            assert_eq!(body.chain_id.0, chain);
            assert_eq!(body.sender.0, sender);
            assert_eq!(body.nonce, nonce);
            assert_eq!(body.max_fee, max_fee);
            assert_eq!(body.tip, tip);
            assert_eq!(body.gas_limit, gas);
            assert_eq!(body.module, module);
            assert_eq!(body.call.as_ref(), call);
            assert_eq!(tx.signature.0, signature);
            assert_eq!(tx.encode(), data, "one encoding per transaction");
        }
        (Err(_), None) => {}
        // The call length prefix past MAX_CALL_LEN is the one layout-valid input the decoder
        // refuses.
        (Err(_), Some((.., call, _))) => assert!(call.len() > lamina_agreement::tx::MAX_CALL_LEN),
        (Ok(_), None) => panic!("decoded bytes the layout does not allow"),
    }
});
