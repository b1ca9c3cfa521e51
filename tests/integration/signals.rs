//! Graceful shutdown of the real binary: SIGTERM and SIGINT (Ctrl-C) both stop accepting
//! connections, let a request that is in flight finish (here a share blocked on the SQLite write
//! lock), then exit 0.

use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use reqwest::StatusCode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

use crate::db::TestDb;
use crate::helpers::{Served, connect_store, serve_binary, spawn_on};

/// Sends `signal` (`TERM`, `INT`, …) to the process with `kill`.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} failed");
}

/// The exit status of `served`, waiting at most `within`.
async fn exit_within(served: &mut Served, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = served.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "did not exit within {within:?} of the lock's release"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole story for one signal: a share blocked on the database when `signal` arrives is
/// answered 200 and committed, no new connection is accepted meanwhile, and the exit is 0.
async fn an_in_flight_share_finishes_after(signal: &str) {
    let db = TestDb::sqlite();
    let store = connect_store(&db).await;
    store.migrate().await.unwrap();
    let seeding = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = seeding.tenant().await;
    let mut served = serve_binary(
        &db,
        &[
            ("MODELSHARE__SERVER__SHUTDOWN_GRACE_SECS", "10"),
            ("MODELSHARE__DATABASE__SQLITE_BUSY_TIMEOUT_MS", "30000"),
        ],
    )
    .await;

    // Hold SQLite's write lock from another connection so the share waits inside the server.
    let mut options = ConnectOptions::new(db.url.clone());
    options.max_connections(1).min_connections(1);
    let locker = Database::connect(options).await.unwrap();
    locker.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
    let url = format!("{}/{}/v1/models/{}/share", served.base, t.project, t.model);
    let key = t.key.clone();
    let in_flight = actix_rt::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(key)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !in_flight.is_finished(),
        "the share did not wait for the lock"
    );
    send_signal(&served.child, signal);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "SIG{signal}: exited before the in-flight share finished"
    );
    let port = served
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "SIG{signal}: still accepting connections"
    );
    locker.execute_unprepared("ROLLBACK").await.unwrap();

    let response = in_flight
        .await
        .unwrap()
        .unwrap_or_else(|err| panic!("SIG{signal}: the in-flight share was not answered: {err}"));
    assert_eq!(response.status(), StatusCode::OK, "SIG{signal}");
    let status = exit_within(&mut served, Duration::from_secs(10)).await;
    assert!(status.success(), "SIG{signal}: exit status {status}");
    let events = store.list_share_events(t.model, None, 10).await.unwrap();
    assert_eq!(events.items.len(), 1, "SIG{signal}: the share committed");
}

#[actix_rt::test]
async fn sigterm_lets_an_in_flight_share_finish_then_exits_zero() {
    an_in_flight_share_finishes_after("TERM").await;
}

#[actix_rt::test]
async fn sigint_lets_an_in_flight_share_finish_then_exits_zero() {
    an_in_flight_share_finishes_after("INT").await;
}
