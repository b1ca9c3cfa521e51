//! The catalog tells the truth under faults: a transition whose transaction commits late, an
//! event a catalog missed, a row the service cannot decode.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use domain::{ModelId, ModelStatus, ShareAction};
use reqwest::StatusCode;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value,
};

use crate::db::TestDb;
use crate::helpers::{
    TestApp, assert_error, connect_store, consistent_history, converged, in_catalog, shared_in_db,
    spawn_on,
};

/// A connection of the test's own to the service's database.
async fn raw(db: &TestDb) -> DatabaseConnection {
    Database::connect(&db.url).await.unwrap()
}

/// `sql` with `$1, $2, …` placeholders, bound in order on either database.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => {
            let mut out = String::new();
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        }
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Changes a model's share state behind the service's back, as a write the catalogs never
/// hear of (no share event): what a missed event looks like to them.
async fn flip_silently(conn: &impl ConnectionTrait, model: ModelId, shared: bool) {
    let now = chrono::Utc::now();
    let backend = conn.get_database_backend();
    let done = conn
        .execute_raw(statement(
            backend,
            "UPDATE models SET shared = $1, version = version + 1, updated_at = $2, \
             shared_at = CASE WHEN $3 THEN $4 ELSE shared_at END WHERE id = $5",
            vec![
                shared.into(),
                now.into(),
                shared.into(),
                now.into(),
                model.as_uuid().into(),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

/// Toggles `model` through `apps` (in turn) until `stop`; counts each 200 in `done`.
async fn toggle(
    apps: Vec<Arc<TestApp>>,
    project: domain::ProjectId,
    key: String,
    model: ModelId,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) {
    let mut shared = false;
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let app = &apps[n % apps.len()];
        n += 1;
        let action = if shared {
            ShareAction::Unshare
        } else {
            ShareAction::Share
        };
        let response = app
            .post(
                &format!("/{project}/v1/models/{model}/{action}"),
                Some(&key),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{action} {model}");
        shared = !shared;
        done.fetch_add(1, Ordering::SeqCst);
    }
}

/// A share event written behind the service's back (as another instance would).
async fn write_event(
    conn: &impl ConnectionTrait,
    model: ModelId,
    project: &domain::ProjectId,
    action: &str,
) {
    let backend = conn.get_database_backend();
    conn.execute_raw(statement(
        backend,
        "INSERT INTO share_events (model_id, project_id, action, request_id, at) \
         VALUES ($1, $2, $3, $4, $5)",
        vec![
            model.as_uuid().into(),
            project.as_str().into(),
            action.into(),
            format!("written-aside-{action}").into(),
            chrono::Utc::now().into(),
        ],
    ))
    .await
    .unwrap();
}

fn no_reconciliation(s: &mut api::Settings) {
    // These tests prove the tail alone; the reconciliation has its own test.
    s.catalog.reconcile_interval_ms = 0;
}

#[actix_rt::test]
async fn a_transition_committed_late_reaches_every_catalog() {
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let _heavy = crate::helpers::exclusive().await;
    let a = Arc::new(spawn_on(&db, no_reconciliation, PolicyRegistry::with_builtins()).await);
    let b = Arc::new(spawn_on(&db, no_reconciliation, PolicyRegistry::with_builtins()).await);
    let t = a.tenant().await;
    // `leaving` is shared and will be unshared by the late transaction; `arriving` the reverse.
    let leaving = t.model;
    a.shared(&t, leaving).await;
    let arriving = a.model_in(&t.project, "arriving", ModelStatus::Ready).await;
    let mut others = Vec::new();
    for i in 0..16 {
        others.push(
            a.model_in(&t.project, &format!("o{i}"), ModelStatus::Ready)
                .await,
        );
    }
    converged(&[&a, &b], Duration::from_secs(2)).await;

    // Both transitions written inside one transaction that stays open: their event ids are
    // handed out now, before the thousand below.
    let conn = raw(&db).await;
    let tx = conn.begin().await.unwrap();
    flip_silently(&tx, leaving, false).await;
    flip_silently(&tx, arriving, true).await;
    for (model, action) in [(leaving, "unshare"), (arriving, "share")] {
        write_event(&tx, model, &t.project, action).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = others
        .iter()
        .map(|m| {
            actix_rt::spawn(toggle(
                vec![Arc::clone(&a), Arc::clone(&b)],
                t.project.clone(),
                t.key.clone(),
                *m,
                Arc::clone(&stop),
                Arc::clone(&done),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 1100 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let committed_meanwhile = done.load(Ordering::SeqCst);
    tx.commit().await.unwrap();
    let took = converged(&[&a, &b], Duration::from_secs(2)).await;
    assert!(!in_catalog(&a).contains(&leaving));
    assert!(in_catalog(&b).contains(&arriving));
    println!(
        "late commit: {committed_meanwhile} transitions committed while one stayed open; \
         both catalogs equal the database {:.0} ms after its commit",
        took.as_secs_f64() * 1000.0
    );
    // The owner sees the same truth as the catalog.
    let again = a.unshare(&t.project, &leaving.to_string(), &t.key).await;
    assert_error(again, StatusCode::CONFLICT, "model_not_shared").await;
    let back = b.unshare(&t.project, &arriving.to_string(), &t.key).await;
    assert_eq!(back.status(), StatusCode::OK);
    converged(&[&a, &b], Duration::from_secs(2)).await;
}

#[actix_rt::test]
async fn the_reconciliation_repairs_a_catalog_that_missed_an_event() {
    let db = TestDb::new();
    let app = spawn_on(
        &db,
        |s| s.catalog.reconcile_interval_ms = 100,
        PolicyRegistry::with_builtins(),
    )
    .await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    let other = app.model_in(&t.project, "other", ModelStatus::Ready).await;
    // A reconciliation that reads the share's commit before the catalog applied it applies
    // the row itself and counts a repair: only the repairs of the two silent writes count here.
    converged(&[&app], Duration::from_secs(3)).await;
    let before = app.catalog.catalog_repairs();
    let conn = raw(&db).await;
    flip_silently(&conn, t.model, false).await;
    flip_silently(&conn, other, true).await;
    converged(&[&app], Duration::from_secs(3)).await;
    assert_eq!(in_catalog(&app), BTreeSet::from([other]));
    assert_eq!(app.catalog.catalog_repairs() - before, 2);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("modelshare_catalog_repairs_total"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn an_owner_never_sees_a_state_the_catalog_contradicts() {
    let db = TestDb::new();
    let app = spawn_on(&db, no_reconciliation, PolicyRegistry::with_builtins()).await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    let other = app.model_in(&t.project, "other", ModelStatus::Ready).await;
    let conn = raw(&db).await;
    flip_silently(&conn, t.model, false).await;
    flip_silently(&conn, other, true).await;
    // The catalog missed both; the owner's calls read the database and set it right at once.
    let refused = app.unshare(&t.project, &t.model.to_string(), &t.key).await;
    assert_error(refused, StatusCode::CONFLICT, "model_not_shared").await;
    assert!(
        !in_catalog(&app).contains(&t.model),
        "unshared in the db, still listed"
    );
    let again = app.share(&t.project, &other.to_string(), &t.key).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        in_catalog(&app).contains(&other),
        "shared in the db, not listed"
    );
    assert_eq!(in_catalog(&app), shared_in_db(&app).await);
}

#[actix_rt::test]
async fn rows_the_service_cannot_decode_never_stop_it() {
    let db = TestDb::new();
    let first = spawn_on(&db, no_reconciliation, PolicyRegistry::with_builtins()).await;
    let t = first.tenant().await;
    let good = t.model;
    let strange = first
        .model_in(&t.project, "strange", ModelStatus::Ready)
        .await;
    let broken = first
        .model_in(&t.project, "broken", ModelStatus::Ready)
        .await;
    for m in [good, strange, broken] {
        first.shared(&t, m).await;
    }
    let conn = raw(&db).await;
    let backend = conn.get_database_backend();
    // A status from a newer upload pipeline, and tags that are not JSON.
    for (sql, model) in [
        (
            "UPDATE models SET status = 'quarantined' WHERE id = $1",
            strange,
        ),
        ("UPDATE models SET tags = 'not json' WHERE id = $1", broken),
    ] {
        conn.execute_raw(statement(backend, sql, vec![model.as_uuid().into()]))
            .await
            .unwrap();
    }

    // A new instance starts, serves the rest, and counts the row it left out.
    let second = spawn_on(&db, no_reconciliation, PolicyRegistry::with_builtins()).await;
    assert_eq!(in_catalog(&second), BTreeSet::from([good, strange]));
    // At least the broken row (its tail may already have met it again too).
    assert!(second.catalog.undecodable_rows() >= 1);
    let metrics = second.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("modelshare_undecodable_rows_total"),
        "{metrics}"
    );

    // An unknown status reads as `unknown` and is never shareable.
    let shown = second
        .get_model(&t.project, &strange.to_string(), &t.key)
        .await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown: serde_json::Value = shown.json().await.unwrap();
    assert_eq!(shown["status"], "unknown");
    let off = second
        .unshare(&t.project, &strange.to_string(), &t.key)
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    let on = second.share(&t.project, &strange.to_string(), &t.key).await;
    assert_error(on, StatusCode::BAD_REQUEST, "invalid_model_status").await;

    // The tail passes over an event of the broken model and goes on to the next.
    let store = connect_store(&db).await;
    flip_silently(&conn, broken, false).await;
    write_event(&conn, broken, &t.project, "unshare").await;
    let off = first.unshare(&t.project, &good.to_string(), &t.key).await;
    assert_eq!(off.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(3);
    while in_catalog(&second).contains(&good) {
        assert!(
            Instant::now() < deadline,
            "the tail stopped at the broken row"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(second.catalog.undecodable_rows() >= 2);
    consistent_history(&store, good).await;
}

#[actix_rt::test]
async fn refusals_that_need_only_the_caller_lease_no_actor() {
    let app = crate::helpers::spawn_app().await;
    let t = app.tenant().await;
    let viewer = app.member(&t, domain::Role::Viewer).await;
    let featureless = app
        .tenant_with(crate::helpers::TenantSpec {
            features: vec![],
            ..crate::helpers::TenantSpec::default()
        })
        .await;
    for _ in 0..150 {
        let model = ModelId::new().to_string();
        let refused = app.unshare(&t.project, &model, &viewer).await;
        assert_error(refused, StatusCode::FORBIDDEN, "permission_denied").await;
        let refused = app
            .share(&featureless.project, &model, &featureless.key)
            .await;
        assert_error(refused, StatusCode::FORBIDDEN, "feature_not_enabled").await;
    }
    assert_eq!(app.catalog.registered_actors(), 0);
    assert_eq!(app.catalog.live_actors(), 0);
    // The contract's order holds for a caller who passes: the model's own checks answer.
    let missing = app
        .unshare(&t.project, &ModelId::new().to_string(), &t.key)
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "model_not_found").await;
}
