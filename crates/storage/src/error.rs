use std::ops::Deref;

use sea_orm::sqlx;
use sea_orm::sqlx::error::DatabaseError;
use sea_orm::{DbErr, RuntimeErr};

/// What can go wrong talking to the database, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database is unreachable, restarting, or did not answer in time. Retry later.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// The referenced row does not exist (`what` names it: "account", "project", ...).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was violated (`what` names it: "project id", "project slug",
    /// "user email", "endpoint slug", "model id").
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The request breaks a rule the schema cannot express (e.g. a user from another account).
    #[error("{0}")]
    Invalid(&'static str),
    /// Anything else: a bug or a corrupt row.
    #[error("database error")]
    Database(#[source] DbErr),
}

impl StorageError {
    /// A failure that retrying cannot fix (a bug, or a row that breaks the records' rules): 500,
    /// never 503.
    pub fn bug(what: impl std::fmt::Display) -> Self {
        Self::Database(DbErr::Custom(what.to_string()))
    }

    /// Whether retrying later may succeed (the database was unreachable or busy).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<DbErr> for StorageError {
    fn from(err: DbErr) -> Self {
        classify(err)
    }
}

/// A constraint the database refused a write for. The text is the constraint name on PostgreSQL
/// and the error message (which names the columns) on SQLite; callers match on a substring of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    Unique(String),
    ForeignKey(String),
}

impl Violation {
    pub(crate) fn mentions(&self, needle: &str) -> bool {
        match self {
            Self::Unique(text) | Self::ForeignKey(text) => text.contains(needle),
        }
    }
}

fn database_error(err: &DbErr) -> Option<&(dyn DatabaseError + 'static)> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match e.deref() {
            sqlx::Error::Database(db) => Some(db.as_ref()),
            _ => None,
        },
        _ => None,
    }
}

/// The unique or foreign-key constraint `err` reports, if it reports one.
pub(crate) fn violation(err: &DbErr) -> Option<Violation> {
    let db = database_error(err)?;
    let text = db
        .constraint()
        .map(str::to_owned)
        .unwrap_or_else(|| db.message().to_owned());
    match db.kind() {
        sqlx::error::ErrorKind::UniqueViolation => Some(Violation::Unique(text)),
        sqlx::error::ErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey(text)),
        _ => None,
    }
}

/// SQLite primary result codes that mean the database cannot take the write now, through no
/// fault of the request: another connection holds the lock (`BUSY`, `LOCKED`), memory ran out
/// (`NOMEM`), the file is read-only (`READONLY`), I/O failed (`IOERR`), the disk is full
/// (`FULL`) or the file cannot be opened (`CANTOPEN`). When a statement or a `COMMIT` fails so,
/// its transaction is rolled back (SQLite's own rollback, or the caller's): nothing half-written
/// is ever acknowledged.
const SQLITE_UNAVAILABLE: [i32; 7] = [
    5,  // SQLITE_BUSY
    6,  // SQLITE_LOCKED
    7,  // SQLITE_NOMEM
    8,  // SQLITE_READONLY
    10, // SQLITE_IOERR
    13, // SQLITE_FULL
    14, // SQLITE_CANTOPEN
];

/// PostgreSQL SQLSTATEs that mean the server is going away, overloaded, out of resources, read
/// only, failing I/O, or gave up in time.
pub(crate) fn pg_state_unavailable(code: &str) -> bool {
    // 08: connection exception; 53: insufficient resources (disk_full, out_of_memory,
    // too_many_connections, ...).
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            // admin_shutdown, crash_shutdown, cannot_connect_now, query_canceled
            // (statement_timeout), serialization_failure, deadlock_detected, io_error,
            // read_only_sql_transaction (e.g. a replica after a failover)
            "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "58030" | "25006"
        )
}

fn driver_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                let primary = sqlite
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                primary.is_some_and(|code| SQLITE_UNAVAILABLE.contains(&code))
            } else if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                pg_state_unavailable(pg.code())
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Sorts a database error by what the caller should do: `Unavailable` for connection, pool,
/// I/O, lock and server-shutdown failures; `Conflict`/`NotFound` with a generic name for
/// constraint violations nobody named more precisely; `Database` for everything else.
pub(crate) fn classify(err: DbErr) -> StorageError {
    let unavailable = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            driver_unavailable(e)
        }
        _ => false,
    };
    if unavailable {
        return StorageError::Unavailable(err);
    }
    match violation(&err) {
        Some(Violation::Unique(_)) => StorageError::Conflict("record"),
        Some(Violation::ForeignKey(_)) => StorageError::NotFound("referenced record"),
        None => StorageError::Database(err),
    }
}

/// Like [`classify`], naming what a unique or foreign-key violation is about.
pub(crate) fn classify_as(
    err: DbErr,
    on_unique: &'static str,
    on_foreign_key: &'static str,
) -> StorageError {
    match violation(&err) {
        Some(Violation::Unique(_)) => StorageError::Conflict(on_unique),
        Some(Violation::ForeignKey(_)) => StorageError::NotFound(on_foreign_key),
        None => classify(err),
    }
}

/// A row that does not decode into a record (a bug or a row written by a newer version).
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StorageError {
    StorageError::Database(DbErr::Type(what.to_string()))
}
