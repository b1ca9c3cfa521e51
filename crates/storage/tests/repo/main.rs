//! Every repository function, one test per behaviour, each on a fresh temp-file SQLite database
//! and on a fresh PostgreSQL database (`MODELSHARE_TEST_POSTGRES_URL`; skipped without it unless
//! `CI` is set). A test builds what it needs through the helpers of [`fixtures`]; nothing is
//! shared between tests, so a failure hides nothing else. Connection set-up, WAL and lock
//! behaviour are in [`connect`].

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "test code: a bad index or cast fails the test, which is what it is for"
)]

#[macro_use]
mod harness;
mod fixtures;

mod accounts;
mod catalog;
mod connect;
mod endpoints;
mod groups;
mod idempotency;
mod keys;
mod model_row;
mod models;
mod schedules;
mod sharing;
mod standing;
mod webhooks;
