//! The seed's two endpoints: share and unshare a model.
//!
//! Authentication and the project check happen in [`ProjectCaller`]; everything after that is
//! the configured policy chain, run by the model's actor on fresh state.

use actix_web::{HttpResponse, web};
use catalog::{ShareError, Transitioned, Visibility};
use domain::{ModelId, ShareAction};

use crate::app::AppState;
use crate::dto::{SharedDto, UnsharedDto};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::ProjectCaller;
use crate::telemetry::RequestId;

/// `POST /{projectId}/v1/models/{modelId}/share`: any body or none (it is not read).
#[utoipa::path(post, path = "/{projectId}/v1/models/{modelId}/share", tag = "sharing", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    responses((status = 200, description = "Shared (or already shared: the original `sharedAt`)", body = SharedDto),
        (status = 400, description = "`invalid_model_status`, or a policy's own 400 code", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`feature_not_enabled`, `permission_denied`, or a policy's own 403 code", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn share(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let done = transition(ShareAction::Share, &caller, &path.1, &request_id, &state).await?;
    Ok(answer(&done))
}

/// `POST /{projectId}/v1/models/{modelId}/unshare`: any body or none.
#[utoipa::path(post, path = "/{projectId}/v1/models/{modelId}/unshare", tag = "sharing", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    responses((status = 200, description = "Unshared", body = UnsharedDto),
        (status = 400, description = "A policy's own 400 code", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`, or a policy's own 403 code", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope),
        (status = 409, description = "`model_not_shared`", body = ErrorEnvelope)))]
pub(crate) async fn unshare(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let done = transition(ShareAction::Unshare, &caller, &path.1, &request_id, &state).await?;
    Ok(answer(&done))
}

/// The 200 body for where the model now stands (a share answers shared, an unshare unshared).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SeedBody {
    Shared(SharedDto),
    Unshared(UnsharedDto),
}

impl SeedBody {
    /// The body for a model that stands as `now`.
    pub fn new(model_id: ModelId, now: Visibility) -> Self {
        match now {
            Visibility::Shared { at } => Self::Shared(SharedDto {
                model_id,
                shared: true,
                shared_at: at,
            }),
            Visibility::Unshared { at } => Self::Unshared(UnsharedDto {
                model_id,
                shared: false,
                unshared_at: at,
            }),
        }
    }
}

impl From<&Transitioned> for SeedBody {
    fn from(done: &Transitioned) -> Self {
        Self::new(done.model_id, done.now)
    }
}

fn answer(done: &Transitioned) -> HttpResponse {
    HttpResponse::Ok().json(SeedBody::from(done))
}

/// One share or unshare of the model `raw_model_id` names (anything but a UUID names none), by
/// its actor through the chain, counted in the metrics.
pub(super) async fn transition(
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
                    .share(model_id, principal, request_id.id(), &request_id.server)
                    .await
            }
            ShareAction::Unshare => {
                state
                    .catalog
                    .unshare(model_id, principal, request_id.id(), &request_id.server)
                    .await
            }
        },
        // Not a UUID: no model has this id, but the checks before the model's still come first.
        Err(_) => Err(state.catalog.refuse_unknown_model(action, principal).await),
    };
    match &result {
        Ok(done) => {
            let outcome = if done.changed { "applied" } else { "unchanged" };
            metrics::counter!("modelshare_transitions_total", "action" => action.as_str(), "outcome" => outcome)
                .increment(1);
        }
        Err(ShareError::Denied { policy, denial }) => {
            metrics::counter!(
                "modelshare_denials_total",
                "action" => action.as_str(),
                "policy" => policy.clone(),
                "code" => denial.code.to_string()
            )
            .increment(1);
        }
        Err(_) => {}
    }
    result.map_err(ApiError::from)
}
