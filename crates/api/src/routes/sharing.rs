//! The seed's two endpoints: share and unshare a model.
//!
//! Authentication and the project check happen in [`ProjectCaller`]; everything after that is
//! the configured policy chain, run by the model's actor on fresh state.

use actix_web::{HttpResponse, web};
use catalog::{ShareError, Transitioned};
use domain::ShareAction;
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ProjectCaller;
use crate::telemetry::RequestId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{projectId}/v1/models/{modelId}/share").route(web::post().to(share)),
    )
    .service(
        web::resource("/{projectId}/v1/models/{modelId}/unshare").route(web::post().to(unshare)),
    );
}

/// `POST /{projectId}/v1/models/{modelId}/share`: any body or none.
async fn share(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let done = transition(ShareAction::Share, &caller, &path.1, &request_id, &state).await?;
    Ok(HttpResponse::Ok().json(json!({
        "modelId": done.model_id,
        "shared": true,
        "sharedAt": done.shared_at,
    })))
}

/// `POST /{projectId}/v1/models/{modelId}/unshare`: any body or none.
async fn unshare(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let done = transition(ShareAction::Unshare, &caller, &path.1, &request_id, &state).await?;
    Ok(HttpResponse::Ok().json(json!({
        "modelId": done.model_id,
        "shared": false,
        "unsharedAt": done.unshared_at,
    })))
}

async fn transition(
    action: ShareAction,
    caller: &ProjectCaller,
    raw_model_id: &str,
    request_id: &RequestId,
    state: &AppState,
) -> Result<Transitioned, ApiError> {
    tracing::Span::current().record("model_id", raw_model_id);
    let principal = &caller.0;
    let result = match raw_model_id.parse() {
        Ok(model_id) => match action {
            ShareAction::Share => {
                state
                    .catalog
                    .share(model_id, principal, &request_id.0)
                    .await
            }
            ShareAction::Unshare => {
                state
                    .catalog
                    .unshare(model_id, principal, &request_id.0)
                    .await
            }
        },
        // Not a UUID: no model has this id, but the checks before the model's still come first.
        Err(_) => Err(state.catalog.refuse_unknown_model(action, principal).await),
    };
    result.map_err(ApiError::from)
}

impl From<ShareError> for ApiError {
    fn from(err: ShareError) -> Self {
        match err {
            ShareError::Denied { policy, denial } => {
                tracing::info!(policy, code = %denial.code, "denied");
                ApiError {
                    status: actix_web::http::StatusCode::from_u16(denial.status)
                        .unwrap_or(actix_web::http::StatusCode::FORBIDDEN),
                    code: denial.code,
                    kind: denial.kind,
                    message: denial.message,
                    param: None,
                    retry_after: None,
                }
            }
            ShareError::Storage(err) => err.into(),
            ShareError::Contended | ShareError::Stopped => {
                tracing::warn!(error = %err, "transition not applied");
                ApiError::unavailable()
            }
        }
    }
}
