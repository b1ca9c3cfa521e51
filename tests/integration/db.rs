//! Where a test's data lives. By default a fresh SQLite file; with
//! `MODELSHARE_TEST_BACKEND=postgres` (and `MODELSHARE_TEST_POSTGRES_URL`) a fresh PostgreSQL
//! database, dropped when the test ends. `.ci/run` runs the suite once each way.
//!
//! The test databases live in `storage::testing` (shared with the storage crate's own tests);
//! this module only gives them their names here.

pub use storage::testing::{TestDb, postgres_pass};
