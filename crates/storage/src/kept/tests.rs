//! [`Kept`] against a real PostgreSQL: reuse, deadlines, errors, transactions, a full set.

#![allow(clippy::unwrap_used)]

use sea_orm::{ConnectionTrait, DbBackend};

use super::*;

/// The test server's URL; `None` (the test skipped, saying so) only when `CI` is unset.
fn postgres() -> Option<KeptSettings> {
    let Ok(url) = std::env::var("MODELSHARE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs MODELSHARE_TEST_POSTGRES_URL"
        );
        eprintln!("MODELSHARE_TEST_POSTGRES_URL is not set: PostgreSQL test skipped");
        return None;
    };
    Some(KeptSettings {
        url,
        parameters: vec![("statement_timeout", "10s".into())],
        max_connections: 2,
        min_connections: 1,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
    })
}

fn sql(text: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, text)
}

async fn backend_pid(kept: &Kept) -> i32 {
    let row = kept
        .fetch_optional(
            &sql("SELECT pg_backend_pid() AS pid"),
            Duration::from_secs(5),
        )
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "pid").unwrap()
}

/// One caller after another reuses one connection: it goes back for the next statement
/// as soon as it answered.
#[tokio::test]
async fn an_answered_connection_is_used_again() {
    let Some(settings) = postgres() else { return };
    let kept = Kept::new(&settings).unwrap();
    let first = backend_pid(&kept).await;
    for _ in 0..20 {
        assert_eq!(backend_pid(&kept).await, first);
    }
    assert_eq!(kept.counts(), (1, 1, 2));
}

/// A statement past its deadline is `late`, and its connection is closed rather than kept:
/// the next statement runs on a new session, while the server still sleeps on the old one.
#[tokio::test]
async fn a_connection_past_its_deadline_is_closed_not_kept() {
    let Some(settings) = postgres() else { return };
    let kept = Kept::new(&settings).unwrap();
    let before = backend_pid(&kept).await;
    let err = kept
        .fetch_all(&sql("SELECT pg_sleep(5)"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("did not answer within 200 ms"),
        "{err}"
    );
    assert_eq!(kept.counts().0, 0, "the late connection is still counted");
    assert_ne!(backend_pid(&kept).await, before);
}

/// An error the server answered with leaves the connection usable, and it is kept.
#[tokio::test]
async fn a_server_error_keeps_the_connection() {
    let Some(settings) = postgres() else { return };
    let kept = Kept::new(&settings).unwrap();
    let before = backend_pid(&kept).await;
    let err = kept
        .fetch_all(&sql("SELECT 1 / 0"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    assert_eq!(backend_pid(&kept).await, before);
}

/// A transaction dropped without commit or rollback closes its connection, which rolls it
/// back; a committed one is visible to the next statement.
#[tokio::test]
async fn an_unfinished_transaction_is_rolled_back_with_its_connection() {
    let Some(settings) = postgres() else { return };
    let kept = Kept::new(&settings).unwrap();
    let limit = Duration::from_secs(5);
    let table = format!("kept_test_{}", uuid::Uuid::new_v4().simple());
    kept.execute_unprepared(&format!("CREATE TABLE {table} (n int)"), limit)
        .await
        .unwrap();
    let count = || async {
        let row = kept
            .fetch_optional(&sql(&format!("SELECT COUNT(*) AS n FROM {table}")), limit)
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    let tx = kept.begin(limit).await.unwrap();
    tx.execute_unprepared(&format!("INSERT INTO {table} VALUES (1)"))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(count().await, 0);
    let tx = kept.begin(limit).await.unwrap();
    tx.execute_unprepared(&format!("INSERT INTO {table} VALUES (2)"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count().await, 1);
    kept.execute_unprepared(&format!("DROP TABLE {table}"), limit)
        .await
        .unwrap();
}

/// With every slot taken, a caller waits at most the acquire timeout, then is told the
/// database is unavailable.
#[tokio::test]
async fn a_full_set_answers_within_the_acquire_timeout() {
    let Some(mut settings) = postgres() else {
        return;
    };
    settings.max_connections = 1;
    settings.acquire_timeout = Duration::from_millis(300);
    let kept = Kept::new(&settings).unwrap();
    let held = kept.lease().await.unwrap();
    let started = Instant::now();
    let err = kept.lease().await.err().unwrap();
    assert!(
        matches!(err, DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    held.keep();
    assert!(kept.lease().await.is_ok());
}

/// After a burst, the idle connections beyond the minimum are closed, those idle longest
/// first; one in use is left alone, and connections are opened again when needed.
#[tokio::test]
async fn a_burst_leaves_the_minimum_of_idle_connections() {
    let Some(mut settings) = postgres() else {
        return;
    };
    settings.max_connections = 4;
    let kept = Kept::new(&settings).unwrap();
    let mut burst = Vec::new();
    for _ in 0..4 {
        burst.push(kept.lease().await.unwrap());
    }
    let busy = burst.pop().unwrap();
    for lease in burst {
        lease.keep();
    }
    assert_eq!(kept.counts(), (4, 3, 4));
    let newest = kept.inner.idle.lock().unwrap().last().map(|c| c.since);
    assert_eq!(kept.release_idle(), 2);
    assert_eq!(kept.counts(), (2, 1, 4));
    assert_eq!(
        kept.inner.idle.lock().unwrap().last().map(|c| c.since),
        newest,
        "the connection idle for the shortest time is the one kept"
    );
    assert_eq!(kept.release_idle(), 0, "nothing beyond the minimum is left");
    busy.keep();
    let mut again = Vec::new();
    for _ in 0..4 {
        again.push(kept.lease().await.unwrap());
    }
    assert_eq!(kept.counts().0, 4);
    drop(again);
    backend_pid(&kept).await;
}
