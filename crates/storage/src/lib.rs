//! Persistence for modelshare: sea-orm entities (in [`entities`], never exported to the wire),
//! connection setup for SQLite and PostgreSQL, and repositories that speak domain types.
//!
//! One [`Store`] works on both databases. On SQLite it holds two pools on one WAL file: a single
//! writer connection that every write goes through (SQLite allows one writer at a time; funnelling
//! them avoids busy-waiting), and a reader pool for everything else. On PostgreSQL both handles are
//! the same connections, which the store keeps itself (see [`kept`]).

mod checkpoint;
mod connect;
mod deadline;
mod entities;
mod error;
mod kept;
mod listen;
mod memory;
mod ready;
mod records;
mod repo;
mod stats;
#[cfg(feature = "test-support")]
#[allow(
    clippy::expect_used,
    reason = "test support: a test database that cannot be set up fails the test that asked for it"
)]
pub mod testing;

pub use connect::{Backend, DEADLINE_MARGIN, DbSettings, SqliteSynchronous, sqlite_file};
pub use error::StorageError;
pub use memory::Released;
pub use records::*;
pub use repo::{
    Claimed, IdempotencyClaim, Loaded, OutboxCursor, OutboxEvent, StandingChange, StandingEvent,
    StoredResponse,
};
pub use stats::PoolStats;

/// The database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Every statement under the statement deadline ([`deadline::Bounded`]).
    reader: deadline::Bounded,
    /// Every statement under the write deadline; transactions through [`repo::WriteTx`].
    writer: deadline::Bounded,
    backend: Backend,
    /// The lanes that commit share/unshare transitions in groups.
    group_commit: repo::GroupCommit,
    /// SQLite: the lane that commits idempotency-key writes in batches (PostgreSQL groups
    /// concurrent commits itself).
    idempotency_lane: Option<repo::IdempotencyLane>,
    /// The runtime that opened the store, which runs its lanes and its listener.
    runtime: tokio::runtime::Handle,
    /// The write path's client-side limits.
    deadlines: connect::Deadlines,
    /// Kept for connections outside the pools (PostgreSQL `LISTEN`); never logged.
    url: std::sync::Arc<str>,
    /// Who in this process hears of standing changes made here (key caches).
    standing_listeners: std::sync::Arc<repo::StandingListeners>,
    /// SQLite: the one watch of the file that wakes every outbox reader of this store.
    file_watch: std::sync::Arc<listen::FileWatch>,
    /// SQLite: the task that checkpoints the WAL off the writer's path.
    checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}
