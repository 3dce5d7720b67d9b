//! Arbitrary call bytes to the `insurance` module (see `common.rs` for what is checked).

#![no_main]

mod common;

#[allow(unused_imports)]
use lamina_agreement::modules::bank::Bank;
#[allow(unused_imports)]
use lamina_app::{dex::Dex, insurance::Insurance, lending::Lending, oracle::Oracle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::run::<Insurance<Bank, Lending<Bank, Oracle>>>(data));
