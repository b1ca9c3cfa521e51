use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use reqwest::StatusCode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

use crate::db::TestDb;
use crate::helpers::{spawn_app, spawn_binary_in, spawn_on, stopped_json_log};

#[actix_rt::test]
async fn healthz_and_readyz_answer_when_the_database_does() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

/// The port answers while the service starts: a held transaction locks `models`, so the
/// catalog's load waits on PostgreSQL (as it waits for seconds at a million models). Meanwhile
/// `/healthz` is 200 (the process runs), and `/readyz` and every route answer 503
/// `service_unavailable` with `Retry-After`; once the lock goes, the service becomes ready and
/// its catalog holds what was shared.
#[actix_rt::test]
async fn the_port_answers_while_the_catalog_loads() {
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let seeding = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = seeding.tenant().await;
    let shared = seeding
        .share(&t.project, &t.model.to_string(), &t.key)
        .await;
    assert_eq!(shared.status(), StatusCode::OK);
    seeding.stop().await;

    let mut options = ConnectOptions::new(db.url.clone());
    options.max_connections(1).min_connections(1);
    let locker = Database::connect(options).await.unwrap();
    locker.execute_unprepared("BEGIN").await.unwrap();
    locker
        .execute_unprepared("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut served = spawn_binary_in(
        &db,
        &crate::cli::config_dir(),
        &[
            ("MODELSHARE__DATABASE__RETRY_AFTER_SECS", "2"),
            ("MODELSHARE__LOG__FORMAT", "json"),
        ],
    );
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", served.base)).send();

    // The port answers within a few seconds of the spawn, though the catalog cannot load.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get("/healthz")
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            break;
        }
        if Instant::now() > deadline {
            served.child.kill().ok();
            panic!("/healthz did not answer 200 while the catalog was loading");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for path in ["/readyz", "/v1/catalog/models", "/openapi.json"] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(response.headers()["retry-after"], "2", "{path}");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "service_unavailable",
            "{path}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("starting"),
            "{path}: {body}"
        );
    }
    // Still starting a while later: nothing answers from a catalog that is not loaded.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get("/readyz").await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    locker.execute_unprepared("COMMIT").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get("/readyz")
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "never ready after the lock went");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page: serde_json::Value = get("/v1/catalog/models")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["modelId"], t.model.to_string(), "{page}");

    // The answers while starting are warnings in the log, not errors: a readiness probe
    // polling a slow start must not fill the log with errors.
    let (logs, lines) = stopped_json_log(&mut served);
    let unavailable: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "request finished" && l["status"] == 503)
        .collect();
    assert!(unavailable.len() >= 4, "{logs}");
    for line in unavailable {
        assert_eq!(line["level"], "WARN", "{line}");
    }
}
