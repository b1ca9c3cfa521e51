//! Connecting: a ping and a second migration on both databases, the SQLite file's WAL mode and
//! its behaviour under another process's write lock, and the URLs and servers that are refused.

use std::time::Duration;

use domain::Feature;
use sea_orm::{ConnectionTrait, Database, Statement};
use storage::testing::TestDb;
use storage::{Backend, StorageError, Store};

use crate::harness::settings;

both!(ping_and_migrate_again);

/// A migrated store answers a ping, and migrating it again is a no-op.
async fn ping_and_migrate_again(store: Store) {
    store.ping().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

/// A missing parent directory of the SQLite file is created, and the file is in WAL mode: a
/// property of the file, which a plain connection sees.
#[tokio::test]
async fn sqlite_file_is_wal() {
    let db = TestDb::sqlite();
    let path = db.dir().join("data").join("modelshare.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&settings(url.clone())).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    store.close().await.unwrap();

    let plain = Database::connect(url).await.unwrap();
    let row = plain
        .query_one_raw(Statement::from_string(
            plain.get_database_backend(),
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    plain.close().await.unwrap();
}

/// Another process holding the SQLite write lock past the busy timeout makes writes
/// `Unavailable` (SQLITE_BUSY), and nothing is half-written.
#[tokio::test]
async fn sqlite_lock_held_elsewhere_is_unavailable() {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};

    let db = TestDb::sqlite();
    let mut s = settings(db.url.clone());
    s.sqlite_busy_timeout = Duration::from_millis(200);
    let store = Store::connect(&s).await.unwrap();
    store.migrate().await.unwrap();
    let account = store.create_account("Busy", &[]).await.unwrap();

    let other = Database::connect(db.url.clone()).await.unwrap();
    let holder = other
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = store
        .set_account_feature(account.id, Feature::ModelSharing, true)
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    // Reads still work while another process writes (WAL).
    assert_eq!(
        store.get_account(account.id).await.unwrap(),
        Some(account.clone())
    );
    holder.rollback().await.unwrap();
    let account = store
        .set_account_feature(account.id, Feature::ModelSharing, true)
        .await
        .unwrap();
    assert!(account.has_feature(Feature::ModelSharing));
    store.close().await.unwrap();
    other.close().await.unwrap();
}

/// A URL of any other database is refused before anything is tried.
#[tokio::test]
async fn bad_urls_are_refused() {
    let err = Store::connect(&settings("mysql://localhost/x".to_owned()))
        .await
        .err()
        .unwrap();
    assert!(matches!(
        err,
        StorageError::Invalid("database url must start with sqlite: or postgres:")
    ));
}

/// A PostgreSQL server that does not answer makes the connection `Unavailable`.
#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let mut s = settings("postgres://postgres@127.0.0.1:1/postgres".to_owned());
    s.connect_timeout = Duration::from_secs(1);
    s.acquire_timeout = Duration::from_secs(1);
    let err = Store::connect(&s).await.err().unwrap();
    assert!(err.is_unavailable(), "{err:?}");
}
