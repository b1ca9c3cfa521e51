//! The port while the service starts: the listener is bound first, and until the database is
//! open and migrated and the public catalog loaded (seconds at a million models), a small server
//! on it answers `GET /healthz` 200 (the process runs, as the contract says) and everything
//! else, `/readyz` included, 503 `service_unavailable` with `Retry-After`. A liveness probe
//! then sees a live process instead of a refused connection, and a client a clear answer, with
//! its `x-request-id` and its log line as every answer of the service has.
//!
//! Each answer closes its connection, so that no client keeps one to this server; when the
//! service is ready this server stops (after the requests in flight) and the service's own
//! server takes the same listener, whose backlog holds the connections made in between.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};

use crate::error::{ApiError, RetryAfter};
use crate::routes::health;
use crate::telemetry::request_context;

/// The server answering while the service starts.
pub(crate) struct Starting {
    handle: ServerHandle,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Starting {
    /// Starts answering on (a copy of) `listener`; a 503 asks to retry after `retry_after`
    /// seconds. Must be called inside a running actix system.
    pub(crate) fn serve(listener: &TcpListener, retry_after: u64) -> std::io::Result<Self> {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(RetryAfter(retry_after)))
                .wrap(from_fn(request_context))
                .route("/healthz", web::get().to(health::healthz))
                .default_service(web::to(move || async move { starting(retry_after) }))
        })
        .workers(1)
        .disable_signals()
        .keep_alive(KeepAlive::Disabled)
        .shutdown_timeout(STOP_GRACE_SECS)
        .listen(listener.try_clone()?)?
        .run();
        let handle = server.handle();
        Ok(Self {
            handle,
            running: actix_rt::spawn(server),
        })
    }

    /// Stops answering, after the requests in flight; the listener stays open.
    pub(crate) async fn stop(self) {
        self.handle.stop(true).await;
        match tokio::time::timeout(Duration::from_secs(STOP_GRACE_SECS + 1), self.running).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "the start-up server failed"),
            Ok(Err(err)) => tracing::warn!(error = %err, "the start-up server did not finish"),
            Err(_) => tracing::warn!("the start-up server did not stop in time"),
        }
    }
}

/// Seconds the requests in flight get when the start-up server stops (each is answered at once).
const STOP_GRACE_SECS: u64 = 1;

/// 503 `service_unavailable`: the service is starting.
fn starting(retry_after: u64) -> HttpResponse {
    ApiError {
        retry_after: Some(retry_after),
        message: "The service is starting: it is opening the database and loading the public \
                  catalog. Retry after the time in the Retry-After header."
            .into(),
        ..ApiError::unavailable()
    }
    .error_response()
}
