//! Several instances on one database (one SQLite file, or one PostgreSQL database in the
//! PostgreSQL pass): transitions stay correct across processes and every catalog converges.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use domain::{ModelStatus, ShareAction};
use reqwest::StatusCode;

use crate::db::TestDb;
use crate::helpers::{TestApp, consistent_history, converged, in_catalog, shared_in_db, spawn_on};

async fn two_instances(db: &TestDb) -> (Arc<TestApp>, Arc<TestApp>) {
    let a = spawn_on(db, |_| {}, PolicyRegistry::with_builtins()).await;
    let b = spawn_on(db, |_| {}, PolicyRegistry::with_builtins()).await;
    (Arc::new(a), Arc::new(b))
}

#[actix_rt::test]
async fn six_hundred_concurrent_calls_on_one_model_over_two_instances() {
    let _heavy = crate::helpers::exclusive().await;
    let db = TestDb::new();
    let (a, b) = two_instances(&db).await;
    let t = a.tenant().await;
    const CALLS: usize = 600;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let action = if i % 2 == 0 {
            ShareAction::Share
        } else {
            ShareAction::Unshare
        };
        let app = if (i / 2) % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let url = app.url(&format!("/{}/v1/models/{}/{action}", t.project, t.model));
        let key = t.key.clone();
        tasks.push(actix_rt::spawn(async move {
            let response = app
                .client
                .post(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("request");
            (action, response.status())
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    for (action, status) in &results {
        assert!(
            *status == StatusCode::OK
                || (*action == ShareAction::Unshare && *status == StatusCode::CONFLICT),
            "{action} answered {status}"
        );
    }
    let unshare_ok = results
        .iter()
        .filter(|(a, s)| *a == ShareAction::Unshare && *s == StatusCode::OK)
        .count();
    let events = consistent_history(&a.store, t.model).await;
    let unshare_events = events
        .iter()
        .filter(|e| e.action == ShareAction::Unshare)
        .count();
    assert_eq!(unshare_ok, unshare_events);
    let took = converged(&[&a, &b], Duration::from_secs(1)).await;
    assert_eq!(
        a.catalog.overlapping_transitions() + b.catalog.overlapping_transitions(),
        0
    );
    println!(
        "two instances ({}): {CALLS} calls in {:.0} ms, {} events ({unshare_events} unshare), \
         compare-and-set retries a={} b={}, catalogs equal after {:.0} ms",
        if db.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        },
        elapsed.as_secs_f64() * 1000.0,
        events.len(),
        a.catalog.stale_writes(),
        b.catalog.stale_writes(),
        took.as_secs_f64() * 1000.0
    );
}

#[actix_rt::test]
async fn another_instance_sees_a_transition_within_a_second() {
    let _heavy = crate::helpers::exclusive().await;
    let db = TestDb::new();
    let (a, b) = two_instances(&db).await;
    let t = a.tenant().await;
    let mut lags = Vec::with_capacity(200);
    for i in 0..200 {
        let action = if i % 2 == 0 { "share" } else { "unshare" };
        let response = a
            .post(
                &format!("/{}/v1/models/{}/{action}", t.project, t.model),
                Some(&t.key),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let acknowledged = Instant::now();
        let want = action == "share";
        while b.catalog.get(t.model).is_some() != want {
            assert!(
                acknowledged.elapsed() < Duration::from_secs(5),
                "instance b never saw transition {i}"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        lags.push(acknowledged.elapsed());
    }
    lags.sort();
    let p50 = lags[lags.len() / 2];
    let p99 = lags[lags.len() * 99 / 100 - 1];
    println!(
        "convergence ({}) over 200 transitions: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        if db.is_postgres() {
            "postgres, LISTEN/NOTIFY"
        } else {
            "sqlite, data_version watch"
        },
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        lags[lags.len() - 1].as_secs_f64() * 1000.0
    );
    assert!(p99 <= Duration::from_secs(1), "p99 {p99:?}");
}

#[actix_rt::test]
async fn ten_thousand_transitions_over_a_hundred_models_leave_every_catalog_equal_to_the_db() {
    let _heavy = crate::helpers::exclusive().await;
    let db = TestDb::new();
    let (a, b) = two_instances(&db).await;
    let t = a.tenant().await;
    let mut models = vec![t.model];
    for i in 1..100 {
        models.push(
            a.model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                .await,
        );
    }
    let models = Arc::new(models);
    const CLIENTS: u64 = 32;
    const TOTAL: u64 = 10_000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (a, b, models, project, key) = (
            Arc::clone(&a),
            Arc::clone(&b),
            Arc::clone(&models),
            t.project.clone(),
            t.key.clone(),
        );
        tasks.push(actix_rt::spawn(async move {
            let mut state = client.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut ok = 0u64;
            for _ in 0..TOTAL / CLIENTS + u64::from(client < TOTAL % CLIENTS) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let model = models[usize::try_from(state % 100).unwrap()];
                let action = if (state >> 8) % 2 == 0 {
                    "share"
                } else {
                    "unshare"
                };
                let app = if (state >> 9) % 2 == 0 { &a } else { &b };
                let status = app
                    .post(
                        &format!("/{project}/v1/models/{model}/{action}"),
                        Some(&key),
                    )
                    .await
                    .status();
                assert!(
                    status == StatusCode::OK
                        || (action == "unshare" && status == StatusCode::CONFLICT),
                    "{action}: {status}"
                );
                ok += u64::from(status == StatusCode::OK);
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let took = converged(&[&a, &b], Duration::from_secs(5)).await;
    let truth = shared_in_db(&a).await;
    assert_eq!(in_catalog(&a), truth);
    assert_eq!(in_catalog(&b), truth);
    println!(
        "{TOTAL} calls ({ok} answered 200) over 100 models from {CLIENTS} clients in {:.1} s; \
         {} shared at the end; both catalogs equal to the database {:.0} ms after the load",
        elapsed.as_secs_f64(),
        truth.len(),
        took.as_secs_f64() * 1000.0
    );
}
