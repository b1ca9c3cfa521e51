//! Webhooks: the subscriptions API ([`subscriptions`]), events out of the outbox and their delivery
//! ([`delivery`]), the SSRF guard ([`guard`]), several instances and a killed one
//! ([`instances`]), and the README's Python receiver run against real deliveries ([`readme`]).

mod delivery;
mod guard;
mod instances;
mod readme;
mod subscriptions;

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Tenant, TestApp, spawn_app_with};
use ::api::Settings;

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Whether one of the signatures is `secret`'s, checked in constant time.
    pub fn signed_by(&self, secret: &str) -> bool {
        self.signature.split(',').any(|sig| {
            let Ok(sig) = hex::decode(sig) else {
                return false;
            };
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(self.timestamp.as_bytes());
            mac.update(b".");
            mac.update(&self.body);
            mac.verify_slice(&sig).is_ok()
        })
    }
}

#[derive(Default)]
struct ReceiverState {
    got: Mutex<Vec<Received>>,
    /// Requests that arrived, answered or not yet.
    arrived: AtomicU64,
    /// What it answers (200 unless set).
    status: AtomicU16,
    /// How long it waits before answering.
    delay_ms: AtomicU64,
}

/// A webhook receiver on a free port of 127.0.0.1 that records what it gets.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<ReceiverState>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state.arrived.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    state.got.lock().unwrap().push(Received {
        id: header("x-webhook-id"),
        timestamp: header("x-webhook-timestamp"),
        signature: header("x-webhook-signature"),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let status = state.status.load(Ordering::SeqCst);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl Receiver {
    pub fn start() -> Self {
        let state = Arc::new(ReceiverState {
            status: AtomicU16::new(200),
            ..ReceiverState::default()
        });
        let data = web::Data::new(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
        }
    }

    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap(), Ordering::SeqCst);
    }

    /// Requests that arrived so far, answered or not.
    pub fn arrived(&self) -> u64 {
        self.state.arrived.load(Ordering::SeqCst)
    }

    pub fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits up to `within` until it has got `n` requests; what it got.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Settings for webhook tests: local receivers allowed, retries after a second, quick rounds.
pub fn local_receivers(settings: &mut Settings) {
    settings.webhooks.allow_http = true;
    settings.webhooks.allow_private_networks = true;
    settings.webhooks.retry_schedule_secs = vec![1, 1];
    settings.webhooks.jitter_percent = 0;
    settings.webhooks.timeout_ms = std::num::NonZeroU64::new(2_000).unwrap();
    settings.webhooks.lease_secs = std::num::NonZeroU64::new(3).unwrap();
    settings.webhooks.poll_interval_ms = std::num::NonZeroU64::new(100).unwrap();
}

/// An app with [`local_receivers`] and `adjust`.
pub async fn webhook_app(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        local_receivers(s);
        adjust(s);
    })
    .await
}

/// `/{project}/v1/webhooks{rest}`.
pub fn hooks_path(t: &Tenant, rest: &str) -> String {
    format!("/{}/v1/webhooks{rest}", t.project)
}

/// `POST /{project}/v1/webhooks` with `body` and `key`.
pub async fn create(app: &TestApp, t: &Tenant, body: Value, key: &str) -> Response {
    app.client
        .post(app.url(&hooks_path(t, "")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Subscribes `url` to `events` with the tenant's key; the created webhook (with its secret).
pub async fn subscribe(app: &TestApp, t: &Tenant, url: &str, events: &[&str]) -> Value {
    let response = create(app, t, json!({"url": url, "events": events}), &t.key).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// `method` on `/{project}/v1/webhooks{rest}` with `key` (and a JSON body for PATCH).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    t: &Tenant,
    rest: &str,
    key: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(&hooks_path(t, rest)))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// The webhook's deliveries (first page, newest first).
pub async fn deliveries(app: &TestApp, t: &Tenant, webhook: &str) -> Vec<Value> {
    let response = call(
        app,
        reqwest::Method::GET,
        t,
        &format!("/{webhook}/deliveries?limit=100"),
        &t.key,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Waits up to `within` until the webhook's deliveries satisfy `done`; the last list read.
pub async fn deliveries_until(
    app: &TestApp,
    t: &Tenant,
    webhook: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let list = deliveries(app, t, webhook).await;
        if done(&list) || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
