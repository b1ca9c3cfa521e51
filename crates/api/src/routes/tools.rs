//! Sharing tools that write nothing: whether a share or unshare would pass every check, and what
//! an unshare would touch.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{ModelId, ShareAction};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::ProjectCaller;
use crate::pagination::QueryParams;

/// `200` of a share-eligibility dry run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibilityDto {
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    /// `share` or `unshare`.
    pub action: String,
    /// True when every check passed: the call would be answered 200.
    pub eligible: bool,
    /// Every check of the configured chain, in chain order, none skipped after a refusal.
    pub checks: Vec<CheckDto>,
}

/// One check of a dry run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckDto {
    /// The policy's name in the chain.
    pub policy: String,
    pub passed: bool,
    /// The error code the call would answer, when it did not pass.
    pub code: Option<String>,
    pub message: Option<String>,
}

/// `200` of an unshare-impact query: counts only, no other tenant named.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnshareImpactDto {
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    pub shared: bool,
    pub endpoints: EndpointCountsDto,
    /// How many other projects have endpoints on the model.
    pub projects_affected: u64,
}

/// Endpoints serving a model.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCountsDto {
    pub total: u64,
    pub own_project: u64,
    pub other_projects: u64,
}

/// The `action` query parameter: `share` (the default) or `unshare`.
fn action(params: &QueryParams) -> Result<ShareAction, ApiError> {
    match params.get("action") {
        None | Some("" | "share") => Ok(ShareAction::Share),
        Some("unshare") => Ok(ShareAction::Unshare),
        Some(_) => Err(ApiError::invalid(
            "action",
            "`action` must be share or unshare.",
        )),
    }
}

/// `GET /{projectId}/v1/models/{modelId}/share-eligibility`: any role.
#[utoipa::path(get, path = "/{projectId}/v1/models/{modelId}/share-eligibility", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000"),
        ("action" = Option<String>, Query, description = "share (default) or unshare")),
    responses((status = 200, description = "Every check of the chain on the model's fresh state; nothing written", body = EligibilityDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn share_eligibility(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["action"])?;
    let action = action(&params)?;
    let model_id = super::model_id(&path.1)?;
    tracing::Span::current().record("model_id", path.1.as_str());
    let (_, checks) = state
        .catalog
        .check_all(model_id, action, &caller.0)
        .await?
        .ok_or_else(ApiError::model_not_found)?;
    let checks: Vec<CheckDto> = checks
        .into_iter()
        .map(|check| CheckDto {
            policy: check.policy,
            passed: check.denial.is_none(),
            code: check.denial.as_ref().map(|d| d.code.to_string()),
            message: check.denial.map(|d| d.message.into_owned()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(EligibilityDto {
        model_id,
        action: action.as_str().to_owned(),
        eligible: checks.iter().all(|c| c.passed),
        checks,
    }))
}

/// `GET /{projectId}/v1/models/{modelId}/unshare-impact`: any role.
#[utoipa::path(get, path = "/{projectId}/v1/models/{modelId}/unshare-impact", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    responses((status = 200, description = "What an unshare would touch, as counts", body = UnshareImpactDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn unshare_impact(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let model = super::own_model(&state, &caller, &path.1).await?;
    let spread = state
        .store
        .endpoint_spread(model.id, &caller.0.project_id)
        .await?;
    Ok(HttpResponse::Ok().json(UnshareImpactDto {
        model_id: model.id,
        shared: model.shared,
        endpoints: EndpointCountsDto {
            total: spread.total,
            own_project: spread.own_project,
            other_projects: spread.other_projects,
        },
        projects_affected: spread.projects_affected,
    }))
}
