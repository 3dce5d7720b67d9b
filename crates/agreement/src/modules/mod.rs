//! The core modules every runtime has: [`accounts`] (index 0) and [`bank`] (index 1).

pub mod accounts;
pub mod bank;
