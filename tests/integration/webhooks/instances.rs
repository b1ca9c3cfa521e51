//! Several instances on one database: each event is delivered once, whichever instance wrote
//! it; and an instance killed mid-delivery loses nothing (its claims are retried after their
//! lease by another).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use domain::ModelStatus;
use reqwest::StatusCode;

use super::{Receiver, local_receivers, subscribe};
use crate::db::TestDb;
use crate::helpers::{exclusive, serve_binary, spawn_on};
use auth::PolicyRegistry;

#[actix_rt::test]
async fn two_instances_deliver_every_event_once() {
    let _heavy = exclusive().await;
    let db = TestDb::new();
    let a = spawn_on(&db, local_receivers, PolicyRegistry::with_builtins()).await;
    let b = spawn_on(&db, local_receivers, PolicyRegistry::with_builtins()).await;
    let t = a.tenant().await;
    let receiver = Receiver::start();
    subscribe(&a, &t, &receiver.url, &["model.shared", "model.unshared"]).await;
    let mut models = Vec::new();
    for i in 0..20 {
        models.push(
            a.model_in(&t.project, &format!("m-{i}"), ModelStatus::Ready)
                .await
                .to_string(),
        );
    }
    // Shares and unshares through both instances, concurrently.
    let mut calls = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (first, second, t, model) = (
            first.detached(),
            second.detached(),
            t.clone(),
            model.clone(),
        );
        calls.push(actix_rt::spawn(async move {
            assert_eq!(
                first.share(&t.project, &model, &t.key).await.status(),
                StatusCode::OK
            );
            assert_eq!(
                second.unshare(&t.project, &model, &t.key).await.status(),
                StatusCode::OK
            );
        }));
    }
    for call in calls {
        call.await.unwrap();
    }
    let got = receiver.wait_for(40, Duration::from_secs(20)).await;
    // Time for a second delivery of anything to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_all = receiver.got();
    assert_eq!(got.len(), 40, "delivered {} of 40", got.len());
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got_all {
        *per_event.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(per_event.len(), 40);
    let twice: Vec<_> = per_event.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
}

#[actix_rt::test]
async fn an_instance_killed_mid_delivery_loses_nothing() {
    let _heavy = exclusive().await;
    let db = TestDb::new();
    let setup = spawn_on(&db, local_receivers, PolicyRegistry::with_builtins()).await;
    let t = setup.tenant().await;
    let receiver = Receiver::start();
    receiver.delay(Duration::from_millis(1500));
    subscribe(&setup, &t, &receiver.url, &["model.shared"]).await;
    let mut models = Vec::new();
    for i in 0..8 {
        models.push(
            setup
                .model_in(&t.project, &format!("k-{i}"), ModelStatus::Ready)
                .await
                .to_string(),
        );
    }
    let key = setup.settings.webhooks.secret_key.expose().to_owned();
    let client = setup.client.clone();
    setup.stop().await;

    let mut doomed = serve_binary(
        &db,
        &[
            ("MODELSHARE__WEBHOOKS__ALLOW_HTTP", "true"),
            ("MODELSHARE__WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true"),
            ("MODELSHARE__WEBHOOKS__TIMEOUT_MS", "2000"),
            ("MODELSHARE__WEBHOOKS__LEASE_SECS", "3"),
            ("MODELSHARE__WEBHOOKS__POLL_INTERVAL_MS", "100"),
            ("MODELSHARE__WEBHOOKS__SECRET_KEY", &key),
        ],
    )
    .await;
    for model in &models {
        let shared = client
            .post(format!(
                "{}/{}/v1/models/{model}/share",
                doomed.base, t.project
            ))
            .bearer_auth(&t.key)
            .send()
            .await
            .unwrap();
        assert_eq!(shared.status(), StatusCode::OK);
    }
    // Wait until deliveries are in flight (arrived, not answered), then SIGKILL.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while receiver.arrived() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let in_flight_at_kill = receiver.arrived();
    assert!(in_flight_at_kill > 0, "nothing was in flight");
    assert!(receiver.got().is_empty(), "the kill came after an answer");

    // Another instance takes over: what was claimed, after its lease; the rest at once.
    let survivor = spawn_on(&db, local_receivers, PolicyRegistry::with_builtins()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ids: BTreeSet<String> = receiver.got().into_iter().map(|r| r.id).collect();
        if ids.len() >= models.len() || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.got();
    let mut per_event: BTreeMap<String, u64> = BTreeMap::new();
    for r in &got {
        *per_event.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(per_event.len(), models.len(), "events lost: {per_event:?}");
    // Only what the killed instance had in flight may arrive twice.
    let extra: u64 = per_event.values().map(|n| n - 1).sum();
    assert!(
        extra <= in_flight_at_kill,
        "{extra} duplicates, {in_flight_at_kill} in flight at the kill"
    );
    drop(survivor);
}

/// A transaction that writes a share event and commits late, after newer events were written
/// and delivered: its event is delivered once it commits (the fan-out's final read), and the
/// newer ones were not held back meanwhile (its fast read).
#[actix_rt::test]
async fn an_event_whose_transaction_commits_late_is_delivered() {
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let app = spawn_on(&db, local_receivers, PolicyRegistry::with_builtins()).await;
    let t = app.tenant().await;
    let receiver = Receiver::start();
    subscribe(&app, &t, &receiver.url, &["model.shared", "model.unshared"]).await;
    let late = app.model_in(&t.project, "late", ModelStatus::Ready).await;

    // The held transaction takes its event id now, below the ones that follow.
    let conn = Database::connect(&db.url).await.unwrap();
    let tx = conn.begin().await.unwrap();
    tx.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "INSERT INTO share_events (model_id, project_id, action, request_id, at) \
         VALUES ($1, $2, 'share', 'held-share', $3)",
        [
            late.as_uuid().into(),
            t.project.as_str().into(),
            chrono::Utc::now().into(),
        ],
    ))
    .await
    .unwrap();
    let model = t.model.to_string();
    for i in 0..10 {
        let answer = if i % 2 == 0 {
            app.share(&t.project, &model, &t.key).await
        } else {
            app.unshare(&t.project, &model, &t.key).await
        };
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let meanwhile = receiver.wait_for(10, Duration::from_secs(10)).await;
    assert_eq!(
        meanwhile.len(),
        10,
        "newer events waited for the open transaction"
    );
    tx.commit().await.unwrap();
    let got = receiver.wait_for(11, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 11, "the late event was skipped");
    assert_eq!(got[10].json()["data"]["requestId"], "held-share");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ids: BTreeSet<String> = receiver.got().into_iter().map(|r| r.id).collect();
    assert_eq!(
        (ids.len(), receiver.got().len()),
        (11, 11),
        "an event went out twice"
    );
}
