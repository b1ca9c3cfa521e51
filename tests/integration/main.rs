//! The integration suite: one test binary that builds the real service the way `main` does,
//! binds port 0 on a fresh database per test, and talks to it over HTTP (and to the `modelshare`
//! binary through its command line).

// A test crate: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "test code: a bad index or cast fails the test, which is what it is for"
)]

mod db;
mod helpers;

mod auth;
mod browser;
mod bulk;
mod catalog;
mod cli;
mod client;
mod config;
mod endpoints;
mod envelope;
mod faults;
mod health;
mod idempotency;
mod instances;
mod isolation;
mod key_cache;
mod limits;
mod models;
mod ops;
mod policies;
mod race;
mod reload;
mod rules;
mod schedules;
mod seed;
mod sharing;
mod signals;
mod tools;
mod truth;
mod webhooks;
