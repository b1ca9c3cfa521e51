//! Where a test's data lives. By default a fresh SQLite file; with
//! `MODELSHARE_TEST_BACKEND=postgres` (and `MODELSHARE_TEST_POSTGRES_URL`) a fresh PostgreSQL
//! database, dropped when the test ends. `.ci/run` runs the suite once each way.

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

const PG_URL_VAR: &str = "MODELSHARE_TEST_POSTGRES_URL";

/// True when this run of the suite is the PostgreSQL pass.
pub fn postgres_pass() -> bool {
    std::env::var("MODELSHARE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The admin URL of the test PostgreSQL, if configured. Under `CI` it must be.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var(PG_URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() && std::env::var_os("CI").is_some() {
        panic!("{PG_URL_VAR} must be set under CI");
    }
    url
}

/// A database for one test.
pub struct TestDb {
    pub url: String,
    dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// The backend of this pass.
    pub fn new() -> Self {
        if postgres_pass() {
            let admin =
                postgres_url().expect("the PostgreSQL pass needs MODELSHARE_TEST_POSTGRES_URL");
            Self::postgres(&admin)
        } else {
            Self::sqlite()
        }
    }

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
    pub fn postgres(admin_url: &str) -> Self {
        let name = format!("ms_it_{}", uuid::Uuid::new_v4().simple());
        admin(admin_url, format!("CREATE DATABASE {name}"));
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Self {
            url: format!("{base}/{name}"),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    /// Another name for an existing database (e.g. through a proxy); owns nothing.
    pub fn alias(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// A scratch folder that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            admin(
                &admin_url,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement on the admin database, on a thread of its own so that it works from sync
/// and async tests alike.
fn admin(admin_url: &str, sql: String) {
    let url = admin_url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let db = Database::connect(&url)
                .await
                .expect("connect to the test PostgreSQL");
            db.execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            db.close().await.ok();
        });
    })
    .join()
    .expect("admin thread");
}
