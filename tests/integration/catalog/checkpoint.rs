//! The start-up checkpoint: a restart loads the catalog saved when the service stopped, and
//! still shows what changed while it was down; a checkpoint of another database, or a damaged
//! one, is not used. On SQLite and, in the PostgreSQL pass, on PostgreSQL (the file is set
//! explicitly: `auto` keeps none there).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auth::PolicyRegistry;
use domain::{ModelId, ModelStatus};
use reqwest::StatusCode;
use serde_json::Value;

use crate::db::TestDb;
use crate::helpers::{Tenant, TestApp, spawn_on};

/// An instance on `db` keeping its checkpoint at `file` (`None`: no checkpoint).
async fn instance(db: &TestDb, file: Option<&Path>) -> TestApp {
    let path = file.map_or(String::new(), |f| {
        f.to_str().expect("utf-8 path").to_owned()
    });
    spawn_on(
        db,
        move |s| s.catalog.checkpoint_path = path,
        PolicyRegistry::with_builtins(),
    )
    .await
}

fn checkpoint_file(db: &TestDb) -> PathBuf {
    db.dir().join("catalog.checkpoint")
}

async fn share(app: &TestApp, t: &Tenant, model: ModelId) {
    let response = app.share(&t.project, &model.to_string(), &t.key).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn catalog(app: &TestApp) -> BTreeSet<String> {
    app.catalog_ids("").await.into_iter().collect()
}

/// Whether `check` holds within `bound`, asked every few milliseconds.
async fn eventually<F, Fut>(bound: Duration, check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + bound;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `sql` (one `$1`: `model`) on `db` directly, as an operator's script would: no share
/// event says what it changed.
async fn behind_its_back(db: &TestDb, sql: &str, model: ModelId) {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let conn = Database::connect(&db.url).await.expect("connect");
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace("$1", "?"),
    };
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [model.as_uuid().into()],
    ))
    .await
    .expect("statement");
    conn.close().await.expect("close");
}

async fn endpoint_count(app: &TestApp, model: ModelId) -> i64 {
    let response = app.get(&format!("/v1/catalog/models/{model}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["endpointCount"].as_i64().expect("endpointCount")
}

#[actix_rt::test]
async fn a_restart_loads_the_checkpoint_and_shows_what_changed_while_it_was_down() {
    let db = TestDb::new();
    let file = checkpoint_file(&db);
    let first = instance(&db, Some(&file)).await;
    assert!(!first.catalog.started_from_checkpoint(), "no file yet");
    let t = first.tenant().await;
    let kept = t.model;
    let withdrawn = first
        .model_in(&t.project, "withdrawn", ModelStatus::Ready)
        .await;
    let later = first
        .model_in(&t.project, "later", ModelStatus::Ready)
        .await;
    share(&first, &t, kept).await;
    share(&first, &t, withdrawn).await;
    first.stop().await;
    assert!(file.exists(), "a stopping service writes its checkpoint");

    // While it is down, another instance (keeping no checkpoint) changes the catalog and
    // makes an endpoint.
    let other = instance(&db, None).await;
    share(&other, &t, later).await;
    let response = other
        .unshare(&t.project, &withdrawn.to_string(), &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = other
        .create_endpoint(&t.project, "kept-ep", &kept.to_string(), &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    other.stop().await;

    let restarted = instance(&db, Some(&file)).await;
    assert!(restarted.catalog.started_from_checkpoint());
    // Read as soon as it is ready: the outbox was caught up on before.
    let expected: BTreeSet<String> = [kept, later].iter().map(ToString::to_string).collect();
    assert_eq!(catalog(&restarted).await, expected);
    // The endpoint count is not in the outbox: refreshed right after the start.
    let counted = eventually(Duration::from_secs(5), || async {
        endpoint_count(&restarted, kept).await == 1
    })
    .await;
    assert!(counted, "the endpoint made while it was down is counted");
    restarted.stop().await;
}

/// An instance on a new, empty database, given `file` (another database's checkpoint), does
/// not use it: it shows its own, empty catalog.
async fn not_used_elsewhere(file: &Path) {
    let elsewhere = TestDb::new();
    let other = instance(&elsewhere, Some(file)).await;
    assert!(!other.catalog.started_from_checkpoint());
    assert!(catalog(&other).await.is_empty());
    other.stop().await;
}

/// A database whose tenant's model was shared by an instance that then stopped, and the
/// checkpoint that instance wrote.
async fn one_shared_then_stopped() -> (TestDb, PathBuf, Tenant) {
    let db = TestDb::new();
    let file = checkpoint_file(&db);
    let first = instance(&db, Some(&file)).await;
    let t = first.tenant().await;
    share(&first, &t, t.model).await;
    first.stop().await;
    assert!(file.exists(), "a stopping service writes its checkpoint");
    (db, file, t)
}

#[actix_rt::test]
async fn a_checkpoint_of_another_database_or_a_damaged_one_is_not_used() {
    let (db, file, t) = one_shared_then_stopped().await;

    // Another database, given this one's checkpoint: it shows its own catalog (empty).
    not_used_elsewhere(&file).await;

    // Two databases whose outboxes are both empty: the first's catalog shared behind the
    // service's back, so no event tells the checkpoints apart, only the databases' identity.
    let quiet = TestDb::new();
    let quiet_file = checkpoint_file(&quiet);
    let seeded = instance(&quiet, Some(&quiet_file)).await;
    let q = seeded.tenant().await;
    seeded.stop().await;
    behind_its_back(
        &quiet,
        "UPDATE models SET shared = true, shared_at = created_at, version = version + 1 \
         WHERE id = $1",
        q.model,
    )
    .await;
    let seeded = instance(&quiet, Some(&quiet_file)).await;
    // Its checkpoint (of an empty catalog) is used, then repaired from the database.
    let expected = BTreeSet::from([q.model.to_string()]);
    let repaired = eventually(Duration::from_secs(5), || async {
        catalog(&seeded).await == expected
    })
    .await;
    assert!(
        repaired,
        "the model shared behind its back is in the catalog"
    );
    seeded.stop().await;
    assert!(quiet_file.exists());
    not_used_elsewhere(&quiet_file).await;

    // The checkpoint itself damaged: one letter of the owner's project id changed, which
    // still reads as an index (another valid id), so only the checksum tells. Loaded from the
    // database. (The instance on the other database wrote its own checkpoint over the file
    // when it stopped: this one, refused for that, writes this database's again.)
    let first_again = instance(&db, Some(&file)).await;
    assert!(!first_again.catalog.started_from_checkpoint());
    first_again.stop().await;
    let mut bytes = std::fs::read(&file).expect("checkpoint");
    let project = t.project.as_str().as_bytes();
    let at = bytes
        .windows(project.len())
        .position(|w| w == project)
        .expect("the owner's project id is in the checkpoint")
        + project.len()
        - 1;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&file, &bytes).expect("write");
    let restarted = instance(&db, Some(&file)).await;
    assert!(!restarted.catalog.started_from_checkpoint());
    assert_eq!(
        catalog(&restarted).await,
        BTreeSet::from([t.model.to_string()])
    );
    restarted.stop().await;
}

#[actix_rt::test]
async fn a_change_written_to_the_database_while_down_is_repaired_after_a_start_from_the_checkpoint()
{
    let (db, file, t) = one_shared_then_stopped().await;

    // Unshared behind the service's back: no share event says so.
    behind_its_back(
        &db,
        "UPDATE models SET shared = false, version = version + 1 WHERE id = $1",
        t.model,
    )
    .await;
    let restarted = instance(&db, Some(&file)).await;
    assert!(restarted.catalog.started_from_checkpoint());
    let repaired = eventually(Duration::from_secs(5), || async {
        catalog(&restarted).await.is_empty()
    })
    .await;
    assert!(
        repaired,
        "the catalog agrees with the database soon after the start"
    );
    restarted.stop().await;
}
