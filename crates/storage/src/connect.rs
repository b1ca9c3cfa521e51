//! Opening the database: URL, pools, SQLite pragmas.

use std::str::FromStr;
use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous as SqlxSynchronous,
};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbErr, RuntimeErr, Statement};

use crate::Store;
use crate::checkpoint::{Checkpointer, WRITER_FALLBACK_PAGES};
use crate::deadline::Bounded;
use crate::error::{StorageError, classify};
use crate::kept::{Kept, KeptSettings};

/// What the service's configuration says about the database.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// `sqlite://path/file.db?mode=rwc` or `postgres://user:pass@host:port/db`.
    pub url: String,
    /// Reader pool size (SQLite) or the whole pool (PostgreSQL).
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long to wait for a new connection to open.
    pub connect_timeout: Duration,
    /// How long a query waits for a free pool connection before the request answers 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout`; none on SQLite. The client gives up on a statement (and
    /// its connection) [`DEADLINE_MARGIN`] later; see [`DbSettings::deadlines`].
    pub statement_timeout: Duration,
    /// SQLite: how long a write waits for the file lock held by another process.
    pub sqlite_busy_timeout: Duration,
    pub sqlite_synchronous: SqliteSynchronous,
    /// A group commit in flight longer than this makes [`Store::check_ready`] fail.
    pub writer_stall: Duration,
}

/// How much longer than the server's `statement_timeout` the client waits for an answer: the
/// round trip, and the server's own reaction to its timeout.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The client-side limits of the write path, derived from [`DbSettings`] in one place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// One statement, acquiring its connection aside (PostgreSQL), or one statement outside a
    /// transaction (SQLite).
    pub(crate) statement: Duration,
    /// One write transaction on SQLite: `BEGIN IMMEDIATE` may first wait the busy timeout for
    /// the file lock, then its statements and the commit run.
    pub(crate) sqlite_transaction: Duration,
    /// One read on SQLite, waiting for a free reader included.
    pub(crate) sqlite_read: Duration,
    /// See [`DbSettings::writer_stall`].
    pub(crate) writer_stall: Duration,
}

impl DbSettings {
    /// The write path's deadlines.
    pub(crate) fn deadlines(&self) -> Deadlines {
        let statement = self.statement_timeout + DEADLINE_MARGIN;
        Deadlines {
            statement,
            sqlite_transaction: self.acquire_timeout + self.sqlite_busy_timeout + statement,
            sqlite_read: self.acquire_timeout + statement,
            writer_stall: self.writer_stall,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite's `PRAGMA synchronous` in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    Off,
    Normal,
    Full,
    Extra,
}

impl SqliteSynchronous {
    pub(crate) fn to_sqlx(self) -> SqlxSynchronous {
        match self {
            Self::Off => SqlxSynchronous::Off,
            Self::Normal => SqlxSynchronous::Normal,
            Self::Full => SqlxSynchronous::Full,
            Self::Extra => SqlxSynchronous::Extra,
        }
    }
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The file of a SQLite database URL (`data/modelshare.db` of `sqlite://data/modelshare.db`);
/// `None` for an in-memory database or a URL that is not SQLite's.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Creates the directory a SQLite file lives in (`data/` of `sqlite://data/modelshare.db`).
fn create_sqlite_parent_dir(url: &str) -> Result<(), StorageError> {
    if let Err(e) = SqliteConnectOptions::from_str(url) {
        tracing::debug!(error = %e, "unparseable sqlite url");
        return Err(StorageError::Invalid(
            "database url is not a valid sqlite url",
        ));
    }
    let Some(file) = sqlite_file(url) else {
        return Ok(());
    };
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StorageError::Unavailable(DbErr::Conn(RuntimeErr::Internal(format!(
                "cannot create the database directory: {e}"
            ))))
        })?;
    }
    Ok(())
}

/// Server-side TCP keepalive and user timeout for each PostgreSQL connection, sent as startup
/// `options`: a server whose client vanished without a FIN (failover, a NAT that dropped the
/// connection) closes the session, and with it any locks it held, within about a minute. The
/// client side cannot do the same: sqlx 0.9 opens its sockets itself and offers neither
/// `SO_KEEPALIVE` nor `TCP_USER_TIMEOUT`, so the client relies on its deadlines
/// ([`crate::deadline`], [`crate::kept`]).
const SERVER_KEEPALIVES: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "30"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "3"),
    ("tcp_user_timeout", "60000"),
];

/// Page cache of each SQLite reader connection, in KiB (SQLite's default is 2000). Readers do
/// point lookups and short pages; the operating system caches the file for all of them, and
/// eight readers with the default would hold up to 16 MB of copies of the same pages after a
/// burst over many models. The writer keeps the default.
const READER_CACHE_KIB: u32 = 512;

/// Which of a SQLite store's pools a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqliteRole {
    /// The one writer: SQLite's page cache; checkpoints only as a fallback (see
    /// [`crate::checkpoint`]).
    Writer,
    /// A reader: a smaller page cache ([`READER_CACHE_KIB`]).
    Reader,
}

fn sqlite_options(settings: &DbSettings, max: u32, min: u32, role: SqliteRole) -> ConnectOptions {
    let busy = settings.sqlite_busy_timeout;
    let synchronous = settings.sqlite_synchronous.to_sqlx();
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.max_connections(max.max(1))
        .min_connections(min.min(max.max(1)))
        .connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            let o = o
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(busy)
                .foreign_keys(true)
                .synchronous(synchronous);
            match role {
                SqliteRole::Writer => {
                    o.pragma("wal_autocheckpoint", WRITER_FALLBACK_PAGES.to_string())
                }
                // Negative: a size in KiB rather than in pages.
                SqliteRole::Reader => o.pragma("cache_size", format!("-{READER_CACHE_KIB}")),
            }
        });
    opts
}

impl Store {
    /// Opens the database `settings.url` names. Nothing is migrated; see [`Store::migrate`].
    ///
    /// The store's own work (its group-commit lanes, its share-event listener) runs as tasks
    /// on the runtime that calls this, so that runtime must run as long as the store is used:
    /// in the service it is the main one, which outlives the HTTP workers and the catalog.
    pub async fn connect(settings: &DbSettings) -> Result<Store, StorageError> {
        let url = settings.url.as_str();
        // An `async fn` always runs on a runtime; this one keeps the store's own tasks.
        let runtime = tokio::runtime::Handle::try_current().map_err(StorageError::bug)?;
        if url.starts_with("sqlite:") {
            connect_sqlite(settings, runtime).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            connect_postgres(settings, runtime).await
        } else {
            Err(StorageError::Invalid(
                "database url must start with sqlite: or postgres:",
            ))
        }
    }
}

/// [`Store::connect`] on SQLite: a writer connection and a reader pool on one file.
async fn connect_sqlite(
    settings: &DbSettings,
    runtime: tokio::runtime::Handle,
) -> Result<Store, StorageError> {
    let url = settings.url.as_str();
    create_sqlite_parent_dir(url)?;
    // The writer opens (and creates) the file first, so that WAL is on before readers.
    let writer = Database::connect(sqlite_options(settings, 1, 1, SqliteRole::Writer))
        .await
        .map_err(classify)?;
    let reader = Database::connect(sqlite_options(
        settings,
        settings.max_connections,
        settings.min_connections,
        SqliteRole::Reader,
    ))
    .await
    .map_err(classify)?;
    let deadlines = settings.deadlines();
    let writer = Bounded::new(writer, deadlines.sqlite_transaction);
    let group_commit =
        crate::repo::GroupCommit::start(&runtime, writer.clone(), Backend::Sqlite, deadlines);
    let idempotency_lane = Some(crate::repo::IdempotencyLane::start(
        &runtime,
        writer.clone(),
    ));
    let checkpointer = Some(Checkpointer::start(
        &runtime,
        url,
        settings.sqlite_synchronous,
    ));
    Ok(Store {
        reader: Bounded::new(reader, deadlines.sqlite_read),
        writer,
        backend: Backend::Sqlite,
        group_commit,
        idempotency_lane,
        runtime,
        deadlines,
        url: url.into(),
        standing_listeners: std::sync::Arc::default(),
        file_watch: std::sync::Arc::default(),
        checkpointer,
    })
}

/// [`Store::connect`] on PostgreSQL: connections the store keeps, and sea-orm's pool for the
/// migrations.
async fn connect_postgres(
    settings: &DbSettings,
    runtime: tokio::runtime::Handle,
) -> Result<Store, StorageError> {
    let url = settings.url.as_str();
    let mut parameters: Vec<(&'static str, String)> = SERVER_KEEPALIVES
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    if !settings.statement_timeout.is_zero() {
        parameters.push((
            "statement_timeout",
            format!("{}ms", settings.statement_timeout.as_millis()),
        ));
    }
    let deadlines = settings.deadlines();
    let kept = Kept::new(&KeptSettings {
        url: settings.url.clone(),
        parameters: parameters.clone(),
        max_connections: settings.max_connections,
        min_connections: settings.min_connections,
        connect_timeout: settings.connect_timeout,
        acquire_timeout: settings.acquire_timeout,
    })
    .map_err(classify)?;
    // sea-orm's own pool is left the migrations, at start-up: one connection, closed
    // when idle. Everything the service does at run time goes through `kept`.
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.max_connections(1)
        .min_connections(0)
        .idle_timeout(Duration::from_secs(10))
        .connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| o.options(parameters.clone()));
    let pool = Database::connect(opts).await.map_err(classify)?;
    let bounded = Bounded::kept(pool, kept, deadlines.statement);
    let group_commit =
        crate::repo::GroupCommit::start(&runtime, bounded.clone(), Backend::Postgres, deadlines);
    Ok(Store {
        reader: bounded.clone(),
        writer: bounded,
        backend: Backend::Postgres,
        group_commit,
        idempotency_lane: None,
        runtime,
        deadlines,
        url: url.into(),
        standing_listeners: std::sync::Arc::default(),
        file_watch: std::sync::Arc::default(),
        checkpointer: None,
    })
}

impl Store {
    /// Applies every pending migration (through the writer).
    pub async fn migrate(&self) -> Result<(), StorageError> {
        migration::Migrator::up(self.writer.pool(), None)
            .await
            .map_err(classify)
    }

    /// A trivial query on the reader pool, for readiness probes.
    pub async fn ping(&self) -> Result<(), StorageError> {
        let backend = self.reader.get_database_backend();
        self.reader
            .query_one_raw(Statement::from_string(backend, "SELECT 1"))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes both pools, waiting for connections in use to be returned (SQLite); closes the
    /// kept connections as they come back (PostgreSQL).
    pub async fn close(self) -> Result<(), StorageError> {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop(self.deadlines.sqlite_read).await;
        }
        if let Some(kept) = self.reader.connections() {
            kept.close();
        }
        let reader = self.reader.pool().close_by_ref().await;
        let writer = match self.backend {
            Backend::Sqlite => self.writer.pool().close_by_ref().await,
            Backend::Postgres => Ok(()),
        };
        reader.and(writer).map_err(classify)
    }
}

/// Settings for a test's SQLite file at `path`: small pools, generous deadlines.
#[cfg(test)]
pub(crate) fn sqlite_test_settings(
    path: &std::path::Path,
    synchronous: SqliteSynchronous,
) -> DbSettings {
    DbSettings {
        url: format!("sqlite://{}?mode=rwc", path.display()),
        max_connections: 2,
        min_connections: 0,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
        sqlite_busy_timeout: Duration::from_secs(5),
        sqlite_synchronous: synchronous,
        writer_stall: Duration::from_secs(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(db: &sea_orm::DatabaseConnection, name: &str) -> String {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("PRAGMA {name}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0)
            .map(|n| n.to_string())
            .or_else(|_| row.try_get_by_index::<String>(0))
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_pools_have_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("deeper").join("t.db");
        let settings = DbSettings {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            max_connections: 3,
            min_connections: 0,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_millis(1234),
            sqlite_synchronous: SqliteSynchronous::Full,
            writer_stall: Duration::from_secs(10),
        };
        let store = Store::connect(&settings).await.unwrap();
        assert!(path.exists());
        for db in [store.writer.pool(), store.reader.pool()] {
            assert_eq!(pragma(db, "journal_mode").await, "wal");
            assert_eq!(pragma(db, "foreign_keys").await, "1");
            assert_eq!(pragma(db, "busy_timeout").await, "1234");
            // FULL = 2
            assert_eq!(pragma(db, "synchronous").await, "2");
        }
        assert_eq!(pragma(store.writer.pool(), "cache_size").await, "-2000");
        // The writer checkpoints only as a fallback (see `crate::checkpoint`); the readers
        // keep SQLite's default, and never write.
        assert_eq!(
            pragma(store.writer.pool(), "wal_autocheckpoint").await,
            WRITER_FALLBACK_PAGES.to_string()
        );
        assert_eq!(
            pragma(store.reader.pool(), "wal_autocheckpoint").await,
            "1000"
        );
        assert_eq!(
            pragma(store.reader.pool(), "cache_size").await,
            format!("-{READER_CACHE_KIB}")
        );
        store.ping().await.unwrap();
        store.close().await.unwrap();
    }

    /// A store on `t.db` in `dir` with a table `filler (x BLOB)`, and the file's URL.
    async fn store_with_filler(dir: &tempfile::TempDir) -> (Store, String) {
        let settings = sqlite_test_settings(&dir.path().join("t.db"), SqliteSynchronous::Normal);
        let store = Store::connect(&settings).await.unwrap();
        store
            .writer
            .pool()
            .execute_unprepared("CREATE TABLE filler (x BLOB)")
            .await
            .unwrap();
        (store, settings.url)
    }

    /// The log is copied back into the database file while the writer never checkpoints (its
    /// fallback is half what this writes): the log restarts, so its file stays well under it.
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_with_filler(&dir).await;
        let writer = store.writer.pool();
        let page: u64 = pragma(writer, "page_size").await.parse().unwrap();
        let wal = dir.path().join("t.db-wal");
        let wal_pages = || std::fs::metadata(&wal).map_or(0, |m| m.len() / page);
        // 40 rounds of about 500 pages each: 20,000 pages in all.
        let mut largest = 0;
        for _ in 0..40 {
            for _ in 0..10 {
                writer
                    .execute_unprepared("INSERT INTO filler VALUES (randomblob(200000))")
                    .await
                    .unwrap();
            }
            largest = largest.max(wal_pages());
            tokio::time::sleep(crate::checkpoint::CHECKPOINT_EVERY * 3).await;
        }
        assert!(
            largest < u64::from(WRITER_FALLBACK_PAGES) / 2,
            "the log grew to {largest} pages"
        );
        store.close().await.unwrap();
    }

    /// A reader on older pages holds part of the log back; once it is done, the rest is copied
    /// into the database file without another write.
    #[tokio::test]
    async fn a_log_held_back_by_a_reader_is_copied_once_it_is_done() {
        use sea_orm::sqlx::{Connection, sqlite::SqliteConnection};

        let dir = tempfile::tempdir().unwrap();
        let (store, url) = store_with_filler(&dir).await;
        let path = dir.path().join("t.db");
        let writer = store.writer.pool();
        let ticks = || tokio::time::sleep(crate::checkpoint::CHECKPOINT_EVERY * 5);
        ticks().await;
        let file_len = || std::fs::metadata(&path).unwrap().len();
        let before = file_len();
        // A read transaction on the pages as they are now.
        let mut reader = SqliteConnection::connect(&url).await.unwrap();
        sea_orm::sqlx::query("BEGIN")
            .execute(&mut reader)
            .await
            .unwrap();
        sea_orm::sqlx::query("SELECT COUNT(*) FROM filler")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        writer
            .execute_unprepared("INSERT INTO filler VALUES (randomblob(1000000))")
            .await
            .unwrap();
        ticks().await;
        assert_eq!(file_len(), before, "copied past a reader's pages");
        sea_orm::sqlx::query("COMMIT")
            .execute(&mut reader)
            .await
            .unwrap();
        for _ in 0..50 {
            if file_len() > before + 900_000 {
                break;
            }
            ticks().await;
        }
        assert!(
            file_len() > before + 900_000,
            "the held-back log was not copied: {} bytes, {before} before",
            file_len()
        );
        reader.close().await.unwrap();
        store.close().await.unwrap();
    }
}
