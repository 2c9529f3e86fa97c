//! The data every layer shares, below the engine that makes it and the
//! judge and reports that read it: the stock file ([`stock`]: a strict
//! parse, an atomic save) and a buyer's outcome record ([`outcome`]: one
//! JSON line, timed on `CLOCK_MONOTONIC`), and a shared run's records kept
//! on a host's own disk ([`host_records`]). A verdict is a function of
//! these alone, never of a strategy's code.

pub mod host_records;
pub mod outcome;
pub mod secret;
pub mod stock;
