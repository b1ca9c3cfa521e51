//! Logs and request ids.
//!
//! [`request_context`] gives every request an id (a valid incoming `x-request-id`, else a new
//! UUID), opens a span carrying it so every log line of the request names it, logs one line when
//! the request ends, and returns the id in the `x-request-id` response header.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::future::{Ready, ready};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global log subscriber. Call once, from `main`.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::builder()
        .parse(&settings.level)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests that build several apps) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The ids of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId {
    /// What `x-request-id` answers: the client's own id when it sent a valid one, else
    /// [`RequestId::server`].
    pub id: String,
    /// The id this service gave the request, whatever the client sent: a client's id is not
    /// unique, so the logs and the share events keep this one next to it.
    pub server: String,
}

impl RequestId {
    /// A new server id, echoing the client's `x-request-id` if it is valid.
    fn new(client: Option<&HeaderValue>) -> Self {
        let server = uuid::Uuid::new_v4().to_string();
        let id = client
            .and_then(Self::client_id)
            .unwrap_or_else(|| server.clone());
        Self { id, server }
    }

    /// Accepts an incoming id if it is 1 to 128 characters of `[A-Za-z0-9._:-]`.
    fn client_id(value: &HeaderValue) -> Option<String> {
        let text = value.to_str().ok()?;
        let ok = (1..=128).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| text.to_owned())
    }
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId::new(None));
        ready(Ok(id))
    }
}

/// The request metrics of one route, method and status.
type RequestMetrics = (metrics::Counter, metrics::Histogram);

thread_local! {
    /// Each worker's handles by (route, method, status): after the first request of a kind, a
    /// request's metrics cost one small lookup instead of building and hashing two label sets.
    static REQUEST_METRICS: std::cell::RefCell<std::collections::HashMap<(String, &'static str, u16), RequestMetrics>> =
        std::cell::RefCell::default();
}

fn record_request(route: String, method: &'static str, status: u16, elapsed: f64) {
    REQUEST_METRICS.with_borrow_mut(|handles| {
        let (requests, duration) =
            handles
                .entry((route, method, status))
                .or_insert_with_key(|(route, method, status)| {
                    let labels = [
                        ("method", (*method).to_owned()),
                        ("route", route.clone()),
                        ("status", status.to_string()),
                    ];
                    (
                        metrics::counter!("http_requests_total", &labels),
                        metrics::histogram!("http_request_duration_seconds", &labels),
                    )
                });
        requests.increment(1);
        duration.record(elapsed);
    });
}

/// The method as a metric label: the standard ones by name, anything else `other` (clients
/// choose methods; labels must not grow without bound).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Middleware: request id, span, one log line per request, `x-request-id` on the response.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let id = RequestId::new(req.headers().get(&REQUEST_ID_HEADER));
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id.id,
        server_request_id = %id.server,
        method = %req.method(),
        path = %req.path(),
        route = tracing::field::Empty,
        project_id = tracing::field::Empty,
        model_id = tracing::field::Empty,
        webhook_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut res) => {
            let route = res.request().match_pattern();
            if let Some(route) = &route {
                span.record("route", route.as_str());
            }
            let status = res.status().as_u16();
            let elapsed = started.elapsed().as_secs_f64();
            let latency_ms = elapsed * 1000.0;
            record_request(
                route.unwrap_or_else(|| "unmatched".to_owned()),
                method_label(res.request().method()),
                status,
                elapsed,
            );
            if status >= 500 {
                tracing::error!(status, latency_ms, "request finished");
            } else {
                tracing::info!(status, latency_ms, "request finished");
            }
            if let Ok(value) = HeaderValue::from_str(&id.id) {
                res.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(res)
        }
        Err(err) => {
            tracing::error!(error = %err, "request failed");
            Err(err)
        }
    }
}
