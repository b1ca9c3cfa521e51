//! How a test gets its store: [`both!`] runs one test function on each database, each time on a
//! database of its own ([`storage::testing::TestDb`]), migrated and closed around the test.

use std::future::Future;
use std::time::Duration;

use storage::testing::TestDb;
use storage::{Backend, DbSettings, SqliteSynchronous, Store};

/// For each `async fn name(store: Store)` named, in the calling module: a module `name` with the
/// tests `sqlite` and `postgres`, each calling `name` on a fresh database of that kind (reported
/// as e.g. `accounts::accounts_and_features::postgres`).
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $crate::harness::run(storage::testing::TestDb::sqlite(), super::$name).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = storage::testing::TestDb::postgres_or_skip() {
                    $crate::harness::run(db, super::$name).await;
                }
            }
        }
    )+};
}

/// Test settings for `url`: small pools, generous deadlines.
pub fn settings(url: String) -> DbSettings {
    DbSettings {
        url,
        max_connections: 4,
        min_connections: 1,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        sqlite_busy_timeout: Duration::from_secs(5),
        sqlite_synchronous: SqliteSynchronous::Normal,
        writer_stall: Duration::from_secs(10),
    }
}

/// A store on `db`, on the backend its URL names, with every migration applied.
pub async fn open(db: &TestDb) -> Store {
    let store = Store::connect(&settings(db.url.clone())).await.unwrap();
    let backend = if db.is_postgres() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    assert_eq!(store.backend(), backend);
    store.migrate().await.unwrap();
    store
}

/// Runs `test` on a store on `db`, then closes the store. `db` is dropped (a PostgreSQL database
/// with it) when this returns or unwinds.
pub async fn run<F, Fut>(db: TestDb, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = open(&db).await;
    test(store.clone()).await;
    store.close().await.unwrap();
}
