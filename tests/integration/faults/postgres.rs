//! PostgreSQL out of reach under load: cut (refused connections) and stalled (silent ones).

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ModelId;
use reqwest::StatusCode;

use crate::db::TestDb;
use crate::helpers::{TestApp, connect_store};

use super::assert_nothing_lost;
use super::proxy::BehindProxy;

#[actix_rt::test]
async fn a_database_outage_answers_503_loses_nothing_and_heals_itself() {
    let _heavy = crate::helpers::exclusive().await;
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let mut run = BehindProxy::start(db, 8, |_| {}).await;
    let (proxy, app, seen) = (&run.proxy, Arc::clone(&run.app), Arc::clone(&run.seen));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_cut = seen.lock().unwrap().acknowledged.len();
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readyz during the outage"
    );
    assert_eq!(ready.headers()["retry-after"], "2");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let during = seen
        .lock()
        .unwrap()
        .statuses
        .get(&503)
        .copied()
        .unwrap_or(0);
    let acknowledged_during = seen.lock().unwrap().acknowledged.len();
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let seen = run.stop_clients().await;
    assert_eq!(
        app.get("/readyz", None).await.status(),
        StatusCode::OK,
        "readyz after the outage"
    );

    let after = seen.acknowledged.len() - acknowledged_during;
    println!(
        "outage: statuses {:?}, slowest answer {:.0} ms, acknowledged before the cut {before_cut}, after it {after}",
        seen.statuses,
        seen.slowest.as_secs_f64() * 1000.0
    );
    assert!(before_cut > 0, "no load before the cut");
    assert!(during > 0, "the outage produced no 503");
    assert!(after > 0, "the service did not recover");
    assert!(
        seen.statuses.keys().all(|s| *s == 200 || *s == 503),
        "unexpected statuses {:?}",
        seen.statuses
    );
    assert_eq!(seen.missing_retry_after, 0, "a 503 without Retry-After");
    assert!(
        seen.slowest < Duration::from_secs(5),
        "a request hung for {:?}",
        seen.slowest
    );

    // Check through a direct connection (not the proxy).
    let direct = connect_store(&run.db).await;
    let events = assert_nothing_lost(&direct, &run.models, &seen.acknowledged).await;
    println!(
        "outage: {events} events, every one of {} acknowledged transitions present",
        seen.acknowledged.len()
    );
    // The catalog caught up with what was committed.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let truth: std::collections::BTreeSet<_> = direct
            .list_catalog()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.model.id)
            .collect();
        let mine: std::collections::BTreeSet<_> = app.catalog.shared_ids().into_iter().collect();
        if truth == mine {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "catalog {mine:?} != db {truth:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How readiness answered over time, and how long each answer took.
async fn watch_readiness(app: &TestApp, for_how_long: Duration) -> Vec<(Instant, u16, Duration)> {
    let mut seen = Vec::new();
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        let started = Instant::now();
        let response = app
            .client
            .get(app.url("/readyz"))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let status = response.map_or(0, |r| r.status().as_u16());
        seen.push((started, status, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen
}

#[actix_rt::test]
async fn a_stalled_database_connection_answers_503_and_heals_itself() {
    let _heavy = crate::helpers::exclusive().await;
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let mut run = BehindProxy::start(db, 16, |s| {
        // Below the write deadline (3 s here), so that readiness sees the stall.
        s.database.writer_stall_ms = NonZeroU64::new(1000).unwrap();
    })
    .await;
    let (proxy, app, seen, models) = (
        &run.proxy,
        Arc::clone(&run.app),
        Arc::clone(&run.seen),
        run.models.clone(),
    );
    let lane_of = |m: ModelId| app.store.write_lane(m);
    let lanes: std::collections::BTreeSet<usize> = models.iter().map(|m| lane_of(*m)).collect();
    assert_eq!(
        lanes.len(),
        app.store.write_lanes(),
        "the models do not cover every lane"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = seen.lock().unwrap().acknowledged.len();
    let stalled_at = Instant::now();
    proxy.blackhole();
    // Writes besides share/unshare (an endpoint each second) must not hang either.
    let endpoint_writes = {
        let (app, t, model) = (Arc::clone(&app), run.tenant.clone(), models[0]);
        actix_rt::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..8 {
                let started = Instant::now();
                let _ = app
                    .client
                    .post(app.url(&format!("/{}/v1/endpoints", t.project)))
                    .bearer_auth(&t.key)
                    .json(&serde_json::json!({"slug": format!("stalled-{i}"), "modelId": model}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            slowest
        })
    };
    let readiness = watch_readiness(&app, Duration::from_secs(12)).await;
    let seen = run.stop_clients().await;
    let slowest_endpoint_write = endpoint_writes.await.unwrap();
    assert!(
        slowest_endpoint_write < Duration::from_secs(15),
        "an endpoint write hung for {slowest_endpoint_write:?}"
    );

    let recovered: BTreeMap<usize, Duration> = lanes
        .iter()
        .filter_map(|lane| {
            seen.answers
                .iter()
                .filter(|(m, sent, status)| {
                    lane_of(*m) == *lane && *sent > stalled_at && *status == 200
                })
                .map(|(_, sent, _)| sent.duration_since(stalled_at))
                .min()
                .map(|d| (*lane, d))
        })
        .collect();
    let first_ready = readiness
        .iter()
        .find(|(at, status, _)| *at > stalled_at && *status == 200)
        .map(|(at, _, _)| at.duration_since(stalled_at));
    let slowest_ready = readiness.iter().map(|(_, _, took)| *took).max();
    println!(
        "blackhole: statuses {:?}, slowest answer {:.0} ms, acknowledged before {before}, \
         first 200 per lane after {recovered:?}, readyz {:?}, first ready after {first_ready:?}, \
         slowest readyz {slowest_ready:?}",
        seen.statuses,
        seen.slowest.as_secs_f64() * 1000.0,
        readiness.iter().map(|(_, s, _)| *s).collect::<Vec<_>>(),
    );
    assert!(before > 0, "no load before the blackhole");
    assert!(
        seen.slowest < Duration::from_secs(15),
        "a request hung for {:?}",
        seen.slowest
    );
    assert!(
        seen.statuses.keys().all(|s| *s == 200 || *s == 503),
        "unexpected statuses {:?}",
        seen.statuses
    );
    assert_eq!(seen.missing_retry_after, 0, "a 503 without Retry-After");
    for lane in &lanes {
        let after = recovered.get(lane);
        assert!(
            after.is_some_and(|d| *d < Duration::from_secs(20)),
            "lane {lane} never answered 200 again over new connections ({after:?})"
        );
    }
    assert!(
        slowest_ready.is_some_and(|d| d < Duration::from_secs(15)),
        "readyz hung ({slowest_ready:?})"
    );
    assert!(
        readiness
            .iter()
            .any(|(at, status, _)| *at > stalled_at && *status == 503),
        "readyz never said 503 while the database connections were stalled"
    );
    assert_eq!(
        app.get("/readyz", None).await.status(),
        StatusCode::OK,
        "readyz after the stall"
    );

    let direct = connect_store(&run.db).await;
    let events = assert_nothing_lost(&direct, &models, &seen.acknowledged).await;
    println!(
        "blackhole: {events} events, every one of {} acknowledged transitions present",
        seen.acknowledged.len()
    );
}
