//! `GET /healthz` (the process runs) and `GET /readyz` (the database takes reads and writes:
//! [`storage::Store::check_ready`]). While the service starts, `crate::starting` answers both.

use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::dto::StatusDto;
use crate::error::{ApiError, ErrorEnvelope};

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process runs", body = StatusDto)))]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(StatusDto { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "The database answers and a write commits through the writer", body = StatusDto), (status = 503, description = "The service is still starting (opening the database, loading the catalog), the database is unavailable, a write fails (disk full, read-only, I/O error) or the writer is stuck; see `Retry-After`", body = ErrorEnvelope)))]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.check_ready().await?;
    Ok(HttpResponse::Ok().json(StatusDto { status: "ready" }))
}
