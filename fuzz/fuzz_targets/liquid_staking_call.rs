//! Arbitrary call bytes to the `liquid-staking` module (see `common.rs` for what is checked).

#![no_main]

mod common;

#[allow(unused_imports)]
use lamina_agreement::modules::bank::Bank;
#[allow(unused_imports)]
use lamina_app::{dex::Dex, lending::Lending, liquid_staking::LiquidStaking, oracle::Oracle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::run::<LiquidStaking<Bank, common::NoValidators>>(data));
