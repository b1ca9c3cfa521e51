//! The key cache: a request whose key is cached reads nothing of the database for it, and what
//! a key may do changes everywhere soon after it changes anywhere. A revoked key never works
//! again on the instance that revoked it, and stops working on every other instance within
//! milliseconds (PostgreSQL `NOTIFY`, or on SQLite a watch on the file), even when the change's
//! transaction commits late.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use domain::{Feature, Role};
use reqwest::StatusCode;

use crate::db::TestDb;
use crate::helpers::{Tenant, TestApp, changed_within, spawn_app, spawn_on};

/// Sends the request `probe` makes until the key is cached (the app's follower has started).
async fn until_cached(app: &TestApp, t: &Tenant) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app
            .get_model(&t.project, &t.model.to_string(), &t.key)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        if !app.keys.cache().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the key was never cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn a_revoked_key_never_works_again_on_the_instance_that_revoked_it() {
    let app = Arc::new(spawn_app().await);
    let t = app.tenant().await;
    until_cached(&app, &t).await;

    // Requests with the key on four connections, before, during and after the revocation.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (app, t, stop) = (Arc::clone(&app), t.clone(), Arc::clone(&stop));
        let answered = Arc::clone(&answered);
        callers.push(actix_rt::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let status = app
                    .get_model(&t.project, &t.model.to_string(), &t.key)
                    .await
                    .status();
                seen.push((sent, status));
                answered.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.store.revoke_api_key(t.key_id).await.expect("revoke");
    let revoked = Instant::now();
    // At least 300 ms of calls after it, and at least 40 answers (however slow a busy machine
    // makes them, up to 10 s).
    let at_revocation = answered.load(Ordering::Relaxed);
    let deadline = revoked + Duration::from_secs(10);
    tokio::time::sleep(Duration::from_millis(300)).await;
    while answered.load(Ordering::Relaxed) < at_revocation + 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for caller in callers {
        seen.extend(caller.await.unwrap());
    }
    let before = seen.iter().filter(|(sent, _)| *sent < revoked).count();
    let ok_before = seen
        .iter()
        .filter(|(sent, status)| *sent < revoked && *status == StatusCode::OK)
        .count();
    let after: Vec<StatusCode> = seen
        .iter()
        .filter(|(sent, _)| *sent >= revoked)
        .map(|(_, status)| *status)
        .collect();
    assert!(
        ok_before > 10,
        "{ok_before} of {before} calls succeeded before"
    );
    assert!(after.len() > 10, "only {} calls after", after.len());
    assert!(
        after.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{} calls sent after the revocation returned succeeded",
        after
            .iter()
            .filter(|s| **s != StatusCode::UNAUTHORIZED)
            .count()
    );
}

/// The request B is probed with: a share (200 while the key may share) or a read.
#[derive(Clone, Copy)]
enum Probe {
    Share,
    Read,
}

/// Makes a tenant on `a`, has `b` cache its key, makes `change` through `a`'s store, and returns
/// how long until `b` stops answering `probe` with 200 (at most `bound`); that answer must then
/// be `status` with `code`.
async fn reaches_b<F, Fut>(
    (a, b): (&TestApp, &TestApp),
    change: F,
    probe: Probe,
    bound: Duration,
    (status, code): (StatusCode, &str),
) -> Duration
where
    F: FnOnce(storage::Store, Tenant) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let t = a.tenant().await;
    let m = t.model.to_string();
    until_cached(b, &t).await;
    let send = || async {
        match probe {
            Probe::Share => b.share(&t.project, &m, &t.key).await,
            Probe::Read => b.get_model(&t.project, &m, &t.key).await,
        }
    };
    assert_eq!(send().await.status(), StatusCode::OK);
    change(a.store.clone(), t.clone()).await;
    let took = changed_within(Instant::now(), bound, StatusCode::OK, send).await;
    crate::helpers::assert_error(send().await, status, code).await;
    took
}

#[actix_rt::test]
async fn what_changes_on_one_instance_changes_on_the_other_within_milliseconds() {
    let db = TestDb::new();
    let a = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let b = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let second = Duration::from_secs(1);
    let feature = reaches_b(
        (&a, &b),
        |store, t| async move {
            let off = store.set_account_feature(t.account, Feature::ModelSharing, false);
            off.await.unwrap();
        },
        Probe::Share,
        second,
        (StatusCode::FORBIDDEN, "feature_not_enabled"),
    )
    .await;
    let role = reaches_b(
        (&a, &b),
        |store, t| async move {
            let viewer = store.set_membership(&t.project, t.user, Role::Viewer);
            viewer.await.unwrap();
        },
        Probe::Share,
        second,
        (StatusCode::FORBIDDEN, "permission_denied"),
    )
    .await;
    let membership = reaches_b(
        (&a, &b),
        |store, t| async move {
            assert!(store.remove_membership(&t.project, t.user).await.unwrap());
        },
        Probe::Read,
        second,
        (StatusCode::UNAUTHORIZED, "invalid_api_key"),
    )
    .await;
    // A key revoked on A fails on B within 100 ms.
    let key = reaches_b(
        (&a, &b),
        |store, t| async move {
            store.revoke_api_key(t.key_id).await.unwrap();
        },
        Probe::Read,
        Duration::from_millis(100),
        (StatusCode::UNAUTHORIZED, "invalid_api_key"),
    )
    .await;
    println!(
        "reached the other instance after: feature {feature:?}, role {role:?}, membership \
         {membership:?}, revocation {key:?}"
    );
}

/// A revocation whose transaction commits after newer standing changes were read is still read
/// (the final read below the oldest running transaction), although its id is below them and no
/// notification announces it.
#[actix_rt::test]
async fn a_revocation_that_commits_late_still_reaches_the_other_instance() {
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let a = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let b = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let late = a.tenant().await;
    let newer = a.tenant().await;
    until_cached(&b, &late).await;
    until_cached(&b, &newer).await;
    let (late_m, newer_m) = (late.model.to_string(), newer.model.to_string());

    // The held transaction revokes `late` and takes its standing-event id now; no NOTIFY.
    let conn = Database::connect(&db.url).await.unwrap();
    let tx = conn.begin().await.unwrap();
    for sql in [
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1",
        "INSERT INTO standing_events (key_id, at) VALUES ($1, now())",
    ] {
        tx.execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            [late.key_id.as_uuid().into()],
        ))
        .await
        .unwrap();
    }
    // A newer revocation commits and is read by B meanwhile.
    a.store.revoke_api_key(newer.key_id).await.unwrap();
    changed_within(
        Instant::now(),
        Duration::from_secs(1),
        StatusCode::OK,
        || b.get_model(&newer.project, &newer_m, &newer.key),
    )
    .await;
    assert_eq!(
        b.get_model(&late.project, &late_m, &late.key)
            .await
            .status(),
        StatusCode::OK,
        "not revoked yet"
    );
    tx.commit().await.unwrap();
    // Other tests' transactions on the same server may hold the horizon back for a while.
    let took = changed_within(
        Instant::now(),
        Duration::from_secs(20),
        StatusCode::OK,
        || b.get_model(&late.project, &late_m, &late.key),
    )
    .await;
    println!("the late revocation reached the other instance after {took:?}");
}
