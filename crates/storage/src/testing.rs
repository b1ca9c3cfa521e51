//! Test databases, for this crate's tests and the integration suite (the `test-support`
//! feature; never in a build of the service).
//!
//! A [`TestDb`] is one test's database: a SQLite file in a temp folder, or a fresh PostgreSQL
//! database on the server of `MODELSHARE_TEST_POSTGRES_URL`, dropped when the `TestDb` is, so
//! also when the test fails. A PostgreSQL test may be skipped only outside CI: with `CI` set and
//! no URL, [`postgres_url`] panics.

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// The admin URL of the test PostgreSQL server (any database on it; the tests create their own).
const PG_URL_VAR: &str = "MODELSHARE_TEST_POSTGRES_URL";

/// True when this run of the suite is the PostgreSQL pass (`MODELSHARE_TEST_BACKEND=postgres`):
/// [`TestDb::new`] then gives PostgreSQL databases.
pub fn postgres_pass() -> bool {
    std::env::var("MODELSHARE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The admin URL of the test PostgreSQL, if configured (an empty value is unset).
///
/// # Panics
///
/// When it is not configured and `CI` is set: CI runs every PostgreSQL test.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var(PG_URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() && std::env::var_os("CI").is_some() {
        panic!("{PG_URL_VAR} must be set under CI");
    }
    url
}

/// A database for one test.
pub struct TestDb {
    /// Where to connect.
    pub url: String,
    dir: TempDir,
    /// The admin URL and the name of the PostgreSQL database this value owns and drops.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// The backend of this pass (see [`postgres_pass`]).
    ///
    /// # Panics
    ///
    /// On the PostgreSQL pass without `MODELSHARE_TEST_POSTGRES_URL`.
    #[allow(
        clippy::new_without_default,
        reason = "each call creates a database: not a default value"
    )]
    pub fn new() -> Self {
        if postgres_pass() {
            let admin =
                postgres_url().expect("the PostgreSQL pass needs MODELSHARE_TEST_POSTGRES_URL");
            Self::postgres(&admin)
        } else {
            Self::sqlite()
        }
    }

    /// A SQLite file (not created yet) in a temp folder of its own.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("modelshare.db").display()
            ),
            dir,
            postgres: None,
        }
    }

    /// A new, empty database on the server of `admin_url`.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached or refuses to create the database.
    pub fn postgres(admin_url: &str) -> Self {
        let name = format!("ms_test_{}", uuid::Uuid::new_v4().simple());
        if let Err(e) = admin(admin_url, format!("CREATE DATABASE {name}")) {
            panic!("{e}");
        }
        Self {
            url: with_database(admin_url, &name),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    /// A new PostgreSQL database when `MODELSHARE_TEST_POSTGRES_URL` is set. Otherwise `None`,
    /// after saying on stderr that the test is skipped; under `CI` it panics instead (see
    /// [`postgres_url`]).
    pub fn postgres_or_skip() -> Option<Self> {
        let Some(admin) = postgres_url() else {
            eprintln!("skipped: set {PG_URL_VAR} to run this PostgreSQL test (CI does)");
            return None;
        };
        Some(Self::postgres(&admin))
    }

    /// Another name for an existing database (e.g. through a proxy); owns nothing.
    pub fn alias(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        }
    }

    /// True for a PostgreSQL database (owned or an alias).
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// A scratch folder that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database, closing any connection still on it. A failure to drop is
    /// reported on stderr, not raised: this also runs while a failed test unwinds.
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = admin(&admin_url, sql) {
                eprintln!("the test database {name} is left behind: {e}");
            }
        }
    }
}

/// Runs one statement on the admin database, on a thread of its own so that it works from sync
/// and async tests alike (and from a `Drop` inside a runtime).
fn admin(admin_url: &str, sql: String) -> Result<(), String> {
    let url = admin_url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("a runtime for {sql}: {e}"))?;
        runtime.block_on(async {
            let db = Database::connect(&url)
                .await
                .map_err(|e| format!("connect to the test PostgreSQL for {sql}: {e}"))?;
            let done = db.execute_unprepared(&sql).await;
            db.close().await.ok();
            done.map(drop).map_err(|e| format!("{sql}: {e}"))
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the admin thread panicked".to_owned()))
}

/// `postgres://user@host:port/db?options` with the database replaced by `db` (added when the URL
/// names none); the options are kept.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let root = if scheme.is_empty() {
        authority.to_owned()
    } else {
        format!("{scheme}://{authority}")
    };
    match query {
        Some(query) => format!("{root}/{db}?{query}"),
        None => format!("{root}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_and_the_options_kept() {
        let db = "ms_test_x";
        for (url, expected) in [
            (
                "postgres://u@h:5432/postgres",
                "postgres://u@h:5432/ms_test_x",
            ),
            ("postgres://u@h:5432", "postgres://u@h:5432/ms_test_x"),
            (
                "postgres://u:p@h/postgres?sslmode=disable",
                "postgres://u:p@h/ms_test_x?sslmode=disable",
            ),
            ("postgres://h?x=/y", "postgres://h/ms_test_x?x=/y"),
        ] {
            assert_eq!(with_database(url, db), expected, "{url}");
        }
    }
}
