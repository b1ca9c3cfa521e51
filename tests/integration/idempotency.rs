//! `Idempotency-Key` on every POST: a retry gets the first response back byte for byte (also
//! after a restart and from another instance), another request with the key is 422, concurrent
//! identical requests run once, keys are per API key and expire.

use std::sync::Arc;
use std::time::Duration;

use auth::PolicyRegistry;
use domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::db::TestDb;
use crate::helpers::{
    Tenant, TestApp, assert_error, serve_binary, spawn_app, spawn_app_with, spawn_on,
};

/// One answer, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: StatusCode,
    replayed: bool,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

async fn send(
    client: &reqwest::Client,
    url: String,
    api_key: &str,
    idempotency_key: &str,
    body: &Value,
) -> Answer {
    let response = client
        .post(url)
        .bearer_auth(api_key)
        .header("Idempotency-Key", idempotency_key)
        .json(body)
        .send()
        .await
        .expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let replayed = match header("idempotent-replayed").as_deref() {
        None => false,
        Some("true") => true,
        Some(other) => panic!("Idempotent-Replayed: {other}"),
    };
    assert!(
        header("x-request-id").is_some(),
        "every answer has its request id"
    );
    Answer {
        status: response.status(),
        replayed,
        content_type: header("content-type"),
        location: header("location"),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

/// `POST /{project}/v1/endpoints` for the tenant's model with `slug`.
async fn create_endpoint(app: &TestApp, t: &Tenant, key: &str, slug: &str) -> Answer {
    send(
        &app.client,
        app.url(&format!("/{}/v1/endpoints", t.project)),
        &t.key,
        key,
        &json!({"slug": slug, "modelId": t.model}),
    )
    .await
}

async fn endpoint_count(app: &TestApp, t: &Tenant) -> usize {
    app.store
        .list_endpoints(&t.project, None, 1000)
        .await
        .unwrap()
        .items
        .len()
}

#[actix_rt::test]
async fn a_retry_gets_the_first_response_byte_for_byte() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let first = create_endpoint(&app, &t, "create-ep-1", "one").await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert!(!first.replayed);
    assert!(first.location.is_some());
    let again = create_endpoint(&app, &t, "create-ep-1", "one").await;
    assert!(again.replayed);
    assert_eq!(
        Answer {
            replayed: false,
            ..again
        },
        first
    );
    assert_eq!(endpoint_count(&app, &t).await, 1);

    // A refusal is the request's answer too, and is replayed: the model is shared meanwhile,
    // but the retry of a failed unshare still says what the first call said.
    let unshare = app.url(&format!("/{}/v1/models/{}/unshare", t.project, t.model));
    let refused = send(
        &app.client,
        unshare.clone(),
        &t.key,
        "unshare-1",
        &json!({}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    app.shared(&t, t.model).await;
    let replayed = send(&app.client, unshare, &t.key, "unshare-1", &json!({})).await;
    assert!(replayed.replayed);
    assert_eq!(replayed.body, refused.body);
    assert_eq!(replayed.status, StatusCode::CONFLICT);

    // Without the header every call runs.
    let plain = app
        .create_endpoint(&t.project, "one", &t.model.to_string(), &t.key)
        .await;
    assert_error(plain, StatusCode::CONFLICT, "slug_taken").await;
}

#[actix_rt::test]
async fn the_same_key_with_another_request_is_refused_and_bad_keys_are_400() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    assert_eq!(
        create_endpoint(&app, &t, "k", "one").await.status,
        StatusCode::CREATED
    );
    let other_body = create_endpoint(&app, &t, "k", "two").await;
    assert_eq!(other_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = serde_json::from_slice(&other_body.body).unwrap();
    assert_eq!(error["error"]["code"], "idempotency_key_reused");
    assert_eq!(error["error"]["param"], "Idempotency-Key");
    let share = app.url(&format!("/{}/v1/models/{}/share", t.project, t.model));
    let other_path = send(
        &app.client,
        share,
        &t.key,
        "k",
        &json!({"slug": "one", "modelId": t.model}),
    )
    .await;
    assert_eq!(other_path.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(endpoint_count(&app, &t).await, 1);

    for bad in ["x".repeat(256), "tab\tinside".to_owned()] {
        let response = app
            .client
            .post(app.url(&format!("/{}/v1/endpoints", t.project)))
            .bearer_auth(&t.key)
            .header("Idempotency-Key", bad)
            .json(&json!({"slug": "three", "modelId": t.model}))
            .send()
            .await
            .unwrap();
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], "Idempotency-Key", "{error}");
    }
    // No key, no scope: 401 first.
    let anonymous = app
        .client
        .post(app.url(&format!("/{}/v1/endpoints", t.project)))
        .header("Idempotency-Key", "k")
        .json(&json!({"slug": "one", "modelId": t.model}))
        .send()
        .await
        .unwrap();
    assert_error(
        anonymous,
        StatusCode::UNAUTHORIZED,
        "authentication_required",
    )
    .await;
}

#[actix_rt::test]
async fn keys_belong_to_one_api_key() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let second_admin = app.member(&t, Role::Admin).await;
    assert_eq!(
        create_endpoint(&app, &t, "same", "one").await.status,
        StatusCode::CREATED
    );
    let theirs = send(
        &app.client,
        app.url(&format!("/{}/v1/endpoints", t.project)),
        &second_admin,
        "same",
        &json!({"slug": "one", "modelId": t.model}),
    )
    .await;
    // Run, not replayed: the slug is taken by the first admin's call.
    assert!(!theirs.replayed);
    assert_eq!(theirs.status, StatusCode::CONFLICT);
    let error: Value = serde_json::from_slice(&theirs.body).unwrap();
    assert_eq!(error["error"]["code"], "slug_taken");
}

/// 50 identical requests at once, over two instances on one database: one runs; every other is
/// its replay or 409 `idempotency_key_in_use` with `Retry-After`. None runs a second time (that
/// would answer `slug_taken`).
#[actix_rt::test]
async fn fifty_concurrent_identical_requests_run_once() {
    let db = TestDb::new();
    let a = Arc::new(spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await);
    let b = Arc::new(spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await);
    let t = a.tenant().await;
    let body = json!({"slug": "burst", "modelId": t.model});
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let app = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            let url = app.url(&format!("/{}/v1/endpoints", t.project));
            let (key, body) = (t.key.clone(), body.clone());
            actix_rt::spawn(async move { send(&app.client, url, &key, "burst-1", &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let ran: Vec<&Answer> = answers
        .iter()
        .filter(|a| !a.replayed && a.status == StatusCode::CREATED)
        .collect();
    assert_eq!(ran.len(), 1, "{answers:#?}");
    let first = ran[0].clone();
    let mut in_use = 0;
    for answer in &answers {
        if answer.replayed {
            assert_eq!(
                Answer {
                    replayed: false,
                    ..answer.clone()
                },
                first
            );
        } else if answer.status == StatusCode::CONFLICT {
            let error: Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(
                error["error"]["code"], "idempotency_key_in_use",
                "ran twice: {answer:?}"
            );
            in_use += 1;
        } else {
            assert_eq!(answer, &first);
        }
    }
    assert_eq!(endpoint_count(&a, &t).await, 1);
    // Once it is done, every retry is a replay.
    let late = create_endpoint(&b, &t, "burst-1", "burst").await;
    assert!(late.replayed);
    eprintln!("50 identical requests: 1 ran, {in_use} answered in use, the rest replayed");
}

#[actix_rt::test]
async fn in_use_is_409_with_retry_after_while_the_first_runs() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let path = format!("/{}/v1/endpoints", t.project);
    let body = serde_json::to_vec(&json!({"slug": "held", "modelId": t.model})).unwrap();
    // The claim of the same request (method, path, body: see `api::idempotency`) by an instance
    // that is still running it.
    let mut digest = Sha256::new();
    digest.update(format!("POST {path}\n").as_bytes());
    digest.update(&body);
    let fingerprint = hex::encode(digest.finalize());
    let claim = storage::IdempotencyClaim {
        api_key_id: t.key_id,
        key: "held",
        fingerprint: &fingerprint,
        lease: Duration::from_secs(60),
        ttl: Duration::from_secs(3600),
    };
    assert_eq!(
        app.store.claim_idempotency_key(claim).await.unwrap(),
        storage::Claimed::Run
    );
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(&t.key)
        .header("Idempotency-Key", "held")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, StatusCode::CONFLICT, "idempotency_key_in_use").await;
    assert_eq!(endpoint_count(&app, &t).await, 0);
}

/// The stored response outlives the process: a retry sent to a restarted service is replayed.
#[actix_rt::test]
async fn a_retry_after_a_restart_is_replayed() {
    let _heavy = crate::helpers::exclusive().await;
    let db = TestDb::new();
    let seeder = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = seeder.tenant().await;
    let first_run = serve_binary(&db, &[("MODELSHARE__LOG__LEVEL", "warn")]).await;
    let first_app = seeder.detached().at(first_run.base.clone());
    let first = create_endpoint(&first_app, &t, "restart-1", "survives").await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let mut child = first_run.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let second_run = serve_binary(&db, &[("MODELSHARE__LOG__LEVEL", "warn")]).await;
    let second_app = seeder.detached().at(second_run.base.clone());
    let again = create_endpoint(&second_app, &t, "restart-1", "survives").await;
    let mut child = second_run.child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(again.replayed, "{again:?}");
    assert_eq!(
        Answer {
            replayed: false,
            ..again
        },
        first
    );
    assert_eq!(endpoint_count(&seeder, &t).await, 1);
}

/// On PostgreSQL, a retry sent to another instance is replayed from the shared database.
#[actix_rt::test]
async fn a_retry_on_another_instance_is_replayed_on_postgres() {
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let a = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let b = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = a.tenant().await;
    let first = create_endpoint(&a, &t, "instances-1", "across").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = create_endpoint(&b, &t, "instances-1", "across").await;
    assert!(again.replayed);
    assert_eq!(
        Answer {
            replayed: false,
            ..again
        },
        first
    );
    let reused = create_endpoint(&b, &t, "instances-1", "elsewhere").await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(endpoint_count(&a, &t).await, 1);
}

/// After `api.idempotency_ttl_secs` the sweeper forgets a key: the same key then runs anew.
#[actix_rt::test]
async fn keys_are_forgotten_after_their_time_to_live() {
    let app = spawn_app_with(|s| {
        s.api.idempotency_ttl_secs = std::num::NonZeroU64::new(1).unwrap();
        s.api.idempotency_sweep_interval_secs = std::num::NonZeroU64::new(1).unwrap();
    })
    .await;
    let t = app.tenant().await;
    assert_eq!(
        create_endpoint(&app, &t, "short", "one").await.status,
        StatusCode::CREATED
    );
    let claim = storage::IdempotencyClaim {
        api_key_id: t.key_id,
        key: "short",
        fingerprint: "probe",
        lease: Duration::from_secs(60),
        ttl: Duration::from_secs(3600),
    };
    // Within the time to live the key is taken (by another request than this probe's).
    assert_eq!(
        app.store.claim_idempotency_key(claim).await.unwrap(),
        storage::Claimed::Reused
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Swept: the row is gone even for a claim that would keep an old one for an hour.
    assert_eq!(
        app.store.claim_idempotency_key(claim).await.unwrap(),
        storage::Claimed::Run
    );
    app.store
        .release_idempotency_key(t.key_id, "short")
        .await
        .unwrap();
    let again = create_endpoint(&app, &t, "short", "two").await;
    assert_eq!(again.status, StatusCode::CREATED);
}

/// Every POST of the route table, whatever it answers (a 400 for an empty body is an answer
/// too), replays its first response on a retry with the same key.
#[actix_rt::test]
async fn every_post_route_replays() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let posts: Vec<String> = api::routes::table()
        .into_iter()
        .filter(|route| route.method == actix_web::http::Method::POST)
        .map(|route| {
            let mut path = route
                .path
                .replace("{projectId}", t.project.as_str())
                .replace("{modelId}", &t.model.to_string());
            // Any other id: one that names nothing, which is an answer all the same.
            while let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
                path.replace_range(open..=close, "0");
            }
            path
        })
        .collect();
    assert!(posts.len() >= 5, "{posts:?}");
    for (i, path) in posts.iter().enumerate() {
        let key = format!("every-post-{i}");
        let first = send(&app.client, app.url(path), &t.key, &key, &json!({})).await;
        assert!(first.status.as_u16() < 500, "{path}: {first:?}");
        let again = send(&app.client, app.url(path), &t.key, &key, &json!({})).await;
        assert!(again.replayed, "{path} ran twice: {again:?}");
        assert_eq!(
            Answer {
                replayed: false,
                ..again
            },
            first,
            "{path}"
        );
    }
}
