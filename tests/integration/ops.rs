//! Operability: the OpenAPI document and docs page, metrics, the request and header timeouts,
//! logs that carry the request's context and never a key, and how long idle connections are kept
//! (graceful shutdown: `signals`; rate limits: `limits`).

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth::{Policy, PolicyContext, PolicyRegistry, Verdict};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::db::TestDb;
use crate::helpers::{
    TestApp, assert_error, serve_binary, spawn_app, spawn_app_with, spawn_app_with_policies,
    stopped_json_log,
};

#[actix_rt::test]
async fn the_openapi_document_covers_exactly_the_registered_routes() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let registered: BTreeSet<(String, String)> = api::routes::table()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(registered, documented, "routes and spec differ");

    // Every documented error response uses the envelope schema.
    let mut error_responses = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if (status.starts_with('4') || status.starts_with('5'))
                    && response["content"].get("text/html").is_none()
                {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorEnvelope", "{status}");
                    error_responses += 1;
                }
            }
        }
    }
    assert!(error_responses > 50);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Every `$ref` of the document names something the document defines (a client generated from
/// it breaks on the first that does not).
#[actix_rt::test]
async fn every_reference_in_the_openapi_document_resolves() {
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("$ref", Value::String(target)) => found.push(target),
                        _ => refs(inner, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "only {} references", found.len());
    let unresolved: BTreeSet<&str> = found
        .into_iter()
        .filter(|target| {
            let Some(pointer) = target.strip_prefix('#') else {
                return true;
            };
            doc.pointer(pointer).is_none()
        })
        .collect();
    assert!(
        unresolved.is_empty(),
        "unresolved references: {unresolved:?}"
    );
}

#[actix_rt::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()["location"], "/docs/");
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    let config = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(config.contains("/openapi.json"), "{config}");
}

#[actix_rt::test]
async fn metrics_describe_requests_transitions_denials_and_state() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    let viewer = app.member(&t, domain::Role::Viewer).await;
    let denied = app.unshare(&t.project, &t.model.to_string(), &viewer).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "http_requests_total{method=\"POST\",route=\"/{projectId}/v1/models/{modelId}/share\",status=\"200\"}",
        "http_request_duration_seconds_bucket{method=\"POST\",route=\"/{projectId}/v1/models/{modelId}/share\",status=\"200\",le=\"0.005\"}",
        "modelshare_transitions_total{action=\"share\",outcome=\"applied\"}",
        "modelshare_denials_total{action=\"unshare\",policy=\"project_role\",code=\"permission_denied\"}",
        "modelshare_model_actors ",
        "modelshare_catalog_models ",
        "modelshare_catalog_convergence_lag_seconds ",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // SQLite has a reader pool and a one-connection writer; PostgreSQL one shared pool.
    let pools: &[&str] = if crate::db::postgres_pass() {
        &["modelshare_db_pool_connections{pool=\"shared\",state=\"in_use\"}"]
    } else {
        &[
            "modelshare_db_pool_connections{pool=\"reader\",state=\"in_use\"}",
            "modelshare_db_pool_max_connections{pool=\"writer\"} 1",
        ]
    };
    for needle in pools {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // The share above was committed, so at least one transition went into a group.
    let largest: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("modelshare_group_commit_largest "))
        .unwrap_or_else(|| panic!("no modelshare_group_commit_largest in\n{text}"))
        .parse()
        .unwrap();
    assert!(largest >= 1.0, "{largest}");
}

struct Slow;

#[async_trait]
impl Policy for Slow {
    fn needs_model(&self) -> bool {
        false
    }

    async fn check(&self, _ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }
}

#[actix_rt::test]
async fn a_request_over_the_timeout_is_408_in_the_envelope() {
    let mut registry = PolicyRegistry::with_builtins();
    registry.register("slow", |_| Ok(Arc::new(Slow)));
    let app = spawn_app_with_policies(
        |s| {
            s.server.request_timeout_ms = NonZeroU64::new(300).unwrap();
            s.policies.share.insert(0, "slow".into());
        },
        registry,
    )
    .await;
    let t = app.tenant().await;
    let started = Instant::now();
    let response = app.share(&t.project, &t.model.to_string(), &t.key).await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    let error = assert_error(response, StatusCode::REQUEST_TIMEOUT, "request_timeout").await;
    // The time went to the service, not the client.
    assert_eq!(error["type"], "server_error");
}

#[actix_rt::test]
async fn a_client_slow_to_send_its_headers_gets_408_after_the_header_timeout() {
    let app = spawn_app().await;
    // The handler timeout is far longer: the header timeout is a setting of its own.
    assert_eq!(app.settings.server.request_timeout_ms.get(), 30_000);
    let mut stream = raw_connection(&app).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: mode")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(8), stream.read_to_end(&mut answer)).await;
    let elapsed = started.elapsed();
    assert!(read.is_ok(), "no answer within 8 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // The HTTP layer answers before a request exists: no envelope, no body (README, Limits).
    assert!(
        answer.to_ascii_lowercase().contains("content-length: 0"),
        "{answer:?}"
    );
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(7)).contains(&elapsed),
        "answered after {elapsed:?}"
    );
}

#[actix_rt::test]
async fn json_logs_carry_the_request_context_and_never_a_key() {
    let db = TestDb::new();
    let store_app = crate::helpers::spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = store_app.tenant().await;
    let mut served = serve_binary(
        &db,
        &[
            ("MODELSHARE__LOG__FORMAT", "json"),
            ("MODELSHARE__LOG__LEVEL", "debug"),
        ],
    )
    .await;
    let app = store_app.detached().at(served.base.clone());
    let response = app
        .client
        .post(app.url(&format!("/{}/v1/models/{}/share", t.project, t.model)))
        .bearer_auth(&t.key)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let forged = format!("{}X", t.key);
    assert_eq!(
        app.list_models(&t.project, "", &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_model(&t.project, "nope", &t.key).await.status(),
        StatusCode::NOT_FOUND
    );
    let (logs, lines) = stopped_json_log(&mut served);
    let secret = t.key.rsplit('_').next().unwrap();
    assert!(!logs.contains(secret), "the key's secret is in the logs");
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request finished")
        .collect();
    let share = finished
        .iter()
        .find(|l| l["span"]["request_id"] == "trace-me-123")
        .unwrap_or_else(|| panic!("no line for the request in\n{logs}"));
    assert_eq!(share["status"], 200);
    assert!(share["latency_ms"].as_f64().is_some());
    assert_eq!(
        share["span"]["route"],
        "/{projectId}/v1/models/{modelId}/share"
    );
    assert_eq!(share["span"]["project_id"], t.project.as_str());
    assert_eq!(share["span"]["model_id"], t.model.to_string());
    // The actor's own line for that transition names the same request.
    assert!(
        logs.lines()
            .any(|l| l.contains("transition committed") && l.contains("trace-me-123")),
        "{logs}"
    );
}

/// The service serves only once its catalog is loaded (seconds at a million models): the log
/// says when the load begins, when the read is done and the indexes are being built, and when
/// it is over, each with its figures.
#[actix_rt::test]
async fn the_catalog_load_is_logged_as_it_goes() {
    let db = TestDb::new();
    let store_app = crate::helpers::spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = store_app.tenant().await;
    let shared = store_app
        .client
        .post(store_app.url(&format!("/{}/v1/models/{}/share", t.project, t.model)))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::OK);
    let mut served = serve_binary(&db, &[("MODELSHARE__LOG__FORMAT", "json")]).await;
    let (logs, lines) = stopped_json_log(&mut served);
    let at = |message: &str| {
        lines
            .iter()
            .position(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in\n{logs}"))
    };
    let (begun, read, loaded) = (
        at("loading the public catalog"),
        at("public catalog read; building its indexes"),
        at("public catalog loaded"),
    );
    assert!(begun < read && read < loaded, "{logs}");
    assert_eq!(lines[read]["rows"], 1, "{logs}");
    assert!(lines[read]["read_ms"].as_u64().is_some(), "{logs}");
    assert_eq!(lines[loaded]["shared_models"], 1, "{logs}");
}

/// A raw HTTP/1.1 connection to the app, so the test sees exactly when the server closes it.
async fn raw_connection(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Sends `GET /healthz` on the connection and reads the whole answer; returns its head.
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: modelshare\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await.expect("read");
        assert!(
            read > 0,
            "closed before the whole answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|value| value.trim().parse().expect("content-length"))
                .expect("a content-length");
            if answer.len() >= end + 4 + length {
                return head;
            }
        }
    }
}

/// Waits up to `within` for the server to close the connection; returns how long it took.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let idle = Instant::now();
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => Some(idle.elapsed()),
        Ok(Ok(_)) => panic!("unexpected bytes on an idle connection"),
        Err(_) => None,
    }
}

#[actix_rt::test]
async fn idle_connections_are_kept_for_keep_alive_secs_then_closed() {
    let default = spawn_app().await;
    assert_eq!(default.settings.server.keep_alive_secs, 75);
    let short = spawn_app_with(|s| s.server.keep_alive_secs = 1).await;
    let none = spawn_app_with(|s| s.server.keep_alive_secs = 0).await;

    // The default outlives actix-web's own 5 s: a connection idle for 6 s still serves.
    let kept = async {
        let mut stream = raw_connection(&default).await;
        assert!(healthz_on(&mut stream).await.starts_with("http/1.1 200"));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(healthz_on(&mut stream).await.starts_with("http/1.1 200"));
    };
    // One second: closed after about that long (the server's clock ticks every 0.5 s).
    let closed = async {
        let mut stream = raw_connection(&short).await;
        assert!(healthz_on(&mut stream).await.starts_with("http/1.1 200"));
        let after = closed_within(&mut stream, Duration::from_secs(4))
            .await
            .expect("an idle connection outlived keep_alive_secs = 1 by 3 s");
        assert!(
            after >= Duration::from_millis(400),
            "closed after {after:?}"
        );
    };
    // Zero: the answer says so, and the connection is closed right after it.
    let single = async {
        let mut stream = raw_connection(&none).await;
        let head = healthz_on(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"));
        assert!(head.contains("connection: close"), "{head}");
        closed_within(&mut stream, Duration::from_secs(2))
            .await
            .expect("keep_alive_secs = 0 left the connection open");
    };
    tokio::join!(kept, closed, single);
}
