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
    /// The client's `x-request-id`, when it sent a valid one.
    client: Option<String>,
    /// The id this service gave the request, whatever the client sent: a client's id is not
    /// unique, so the logs and the share events keep this one next to it.
    pub server: String,
}

impl RequestId {
    /// A new server id, echoing the client's `x-request-id` if it is valid.
    fn new(client: Option<&HeaderValue>) -> Self {
        Self {
            client: client.and_then(Self::client_id),
            server: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// What `x-request-id` answers: the client's own id when it sent a valid one, else
    /// [`RequestId::server`].
    pub fn id(&self) -> &str {
        self.client.as_deref().unwrap_or(&self.server)
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

/// One route's metrics by method and status (a route sees a handful of each).
type RouteMetrics = Vec<(&'static str, u16, RequestMetrics)>;

thread_local! {
    /// Each worker's handles by route, then method and status: after the first request of a
    /// kind, a request's metrics cost one lookup by the route's pattern, without building,
    /// hashing or allocating a label set.
    static REQUEST_METRICS: std::cell::RefCell<std::collections::HashMap<String, RouteMetrics>> =
        std::cell::RefCell::default();
}

fn record_request(route: &str, method: &'static str, status: u16, elapsed: f64) {
    REQUEST_METRICS.with_borrow_mut(|handles| {
        let by_kind = match handles.get_mut(route) {
            Some(by_kind) => by_kind,
            None => handles.entry(route.to_owned()).or_default(),
        };
        let found = by_kind
            .iter()
            .position(|(m, s, _)| *m == method && *s == status);
        let at = found.unwrap_or_else(|| {
            let labels = [
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ];
            by_kind.push((
                method,
                status,
                (
                    metrics::counter!("http_requests_total", &labels),
                    metrics::histogram!("http_request_duration_seconds", &labels),
                ),
            ));
            by_kind.len().saturating_sub(1)
        });
        if let Some((_, _, (requests, duration))) = by_kind.get(at) {
            requests.increment(1);
            duration.record(elapsed);
        }
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

/// Middleware, the one around every request: request id, span, the envelope on an error
/// response not yet in it ([`crate::error::enveloped`]), one log line per request,
/// `x-request-id` on the response.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let id = RequestId::new(req.headers().get(&REQUEST_ID_HEADER));
    let span = tracing::info_span!(
        "request",
        request_id = %id.id(),
        server_request_id = %id.server,
        method = %req.method(),
        path = %req.path(),
        route = tracing::field::Empty,
        project_id = tracing::field::Empty,
        model_id = tracing::field::Empty,
        webhook_id = tracing::field::Empty,
    );
    // The handlers take it from here (and so does the response's header, below).
    req.extensions_mut().insert(id);
    let started = Instant::now();
    let result = next
        .call(req)
        .instrument(span.clone())
        .await
        .map(crate::error::enveloped);
    let _entered = span.enter();
    match result {
        Ok(mut res) => {
            // Every API route's resource is named by its pattern ([`crate::routes::configure`]),
            // so the label is borrowed; only a service outside the table (the docs' assets)
            // has its pattern built.
            let route = match res.request().match_name() {
                Some(name) => Some(std::borrow::Cow::Borrowed(name)),
                None => res.request().match_pattern().map(std::borrow::Cow::Owned),
            };
            if let Some(route) = &route {
                span.record("route", &**route);
            }
            let status = res.status().as_u16();
            let elapsed = started.elapsed().as_secs_f64();
            let latency_ms = elapsed * 1000.0;
            record_request(
                route.as_deref().unwrap_or("unmatched"),
                method_label(res.request().method()),
                status,
                elapsed,
            );
            match status {
                // The service cannot answer yet or for now (starting, the database out of
                // reach) and says when to try again; its cause is logged where it begins, and
                // a readiness probe must not fill the log with errors while it waits.
                503 => tracing::warn!(status, latency_ms, "request finished"),
                500.. => tracing::error!(status, latency_ms, "request finished"),
                _ => tracing::info!(status, latency_ms, "request finished"),
            }
            let echoed = res
                .request()
                .extensions()
                .get::<RequestId>()
                .and_then(|id| HeaderValue::from_str(id.id()).ok());
            if let Some(value) = echoed {
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
