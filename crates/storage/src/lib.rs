//! Persistence for modelshare: sea-orm entities (in [`entities`], never exported to the wire),
//! connection setup for SQLite and PostgreSQL, and repositories that speak domain types.
//!
//! One [`Store`] works on both databases. On SQLite it holds two pools on one WAL file: a single
//! writer connection that every write goes through (SQLite allows one writer at a time; funnelling
//! them avoids busy-waiting), and a reader pool for everything else. On PostgreSQL both handles are
//! the same pool.

mod connect;
mod entities;
mod error;
mod listen;
mod records;
mod repo;
mod stats;

pub use connect::{Backend, DbSettings, SqliteSynchronous};
pub use error::StorageError;
pub use listen::ShareEventListener;
pub use records::*;
pub use repo::{Loaded, OutboxCursor, OutboxEvent};
pub use stats::PoolStats;

use sea_orm::DatabaseConnection;

/// The database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    reader: DatabaseConnection,
    writer: DatabaseConnection,
    backend: Backend,
    /// The thread that commits share/unshare transitions in groups.
    group_commit: repo::GroupCommit,
    /// Kept for connections outside the pools (PostgreSQL `LISTEN`); never logged.
    url: std::sync::Arc<str>,
}
