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

use actix_web::dev::ServerHandle;
use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};

use crate::error::{ApiError, RetryAfter};
use crate::routes::health;
use crate::telemetry::request_context;

/// The server answering while the service starts.
pub(crate) struct Starting(ServerHandle);

impl Starting {
    /// Starts answering on (a copy of) `listener`; a 503 asks to retry after `retry_after`
    /// seconds. Must be called inside a running actix system.
    pub(crate) fn serve(listener: &TcpListener, retry_after: u64) -> std::io::Result<Self> {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(RetryAfter(retry_after)))
                .wrap(from_fn(request_context))
                .route("/healthz", web::get().to(health::healthz))
                .default_service(web::to(starting))
        })
        .workers(1)
        .disable_signals()
        .keep_alive(KeepAlive::Disabled)
        .shutdown_timeout(STOP_GRACE_SECS)
        .listen(listener.try_clone()?)?
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(Self(handle))
    }

    /// Stops answering, once the requests in flight are answered (its worker and its accept
    /// thread have stopped when this returns); the listener stays open.
    pub(crate) async fn stop(self) {
        self.0.stop(true).await;
    }
}

/// Seconds the requests in flight get when the start-up server stops (each is answered at once).
const STOP_GRACE_SECS: u64 = 1;

/// 503 `service_unavailable`: the service is starting. The request middleware sets its
/// `Retry-After` from the app's [`RetryAfter`], as for every 503.
async fn starting() -> HttpResponse {
    ApiError {
        message: "The service is starting: it is opening the database and loading the public \
                  catalog. Retry after the time in the Retry-After header."
            .into(),
        ..ApiError::unavailable()
    }
    .error_response()
}
