//! Scheduled shares and unshares of a model: create, list, read, cancel. The runner that executes
//! them when they come due is [`crate::scheduler`].
//!
//! Check order, as on the model's other routes: 401, 404 `project_not_found`, 403
//! `permission_denied` (create and cancel: admin), 404 `model_not_found` (the model must be the
//! project's own), then the body or the schedule (400 `invalid_request`, 404
//! `schedule_not_found`, 409 `schedule_not_pending`).

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Months, Utc};
use domain::{ErrorCode, ModelId, ScheduleId, ScheduleStatus, ShareAction, Timestamp, UserId, now};
use serde::{Deserialize, Serialize};
use storage::{CancelRefused, NewSchedule, Schedule};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Admin, ProjectCaller};
use crate::pagination::{Cursor, List, QueryParams};

/// The body of `POST /{projectId}/v1/models/{modelId}/schedules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSchedule {
    /// `share` or `unshare`.
    #[schema(value_type = String, example = "share")]
    action: Option<String>,
    /// RFC 3339; in the future and at most one year ahead. Stored in whole seconds (a fraction
    /// is dropped), in UTC.
    #[schema(value_type = String, format = DateTime, example = "2026-12-24T09:00:00Z")]
    at: Option<String>,
}

/// A scheduled share or unshare.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDto {
    /// `sch_` and 32 hex digits.
    #[schema(value_type = String, example = "sch_4f9d2c8e0b7a4e1f9c3d5a6b7e8f9012")]
    pub id: ScheduleId,
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    /// `share` or `unshare`.
    #[schema(example = "share")]
    pub action: &'static str,
    /// When it is due.
    #[schema(value_type = String, format = DateTime, example = "2026-12-24T09:00:00Z")]
    pub at: Timestamp,
    /// `pending`, `succeeded`, `failed` or `cancelled`.
    #[schema(example = "pending")]
    pub status: &'static str,
    #[schema(value_type = String, format = DateTime, example = "2026-12-02T10:30:00Z")]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = Uuid)]
    pub created_by_user_id: UserId,
    /// When it ran (succeeded or failed).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub result_at: Option<Timestamp>,
    /// On success: the share's or unshare's response body
    /// (`{"modelId", "shared": true, "sharedAt"}` or `{"modelId", "shared": false, "unsharedAt"}`).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// On failure: the error object the API would have answered (`{"message", "type", "code",
    /// "param"}`).
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
}

impl From<Schedule> for ScheduleDto {
    fn from(s: Schedule) -> Self {
        Self {
            id: s.id,
            model_id: s.model_id,
            action: s.action.as_str(),
            at: s.at,
            status: s.status.as_str(),
            created_at: s.created_at,
            created_by_user_id: s.created_by_user_id,
            result_at: s.result_at,
            result: s.result,
            error: s.error,
            cancelled_at: s.cancelled_at,
        }
    }
}

fn schedule_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ScheduleNotFound,
        "No such schedule for this model.",
    )
}

fn schedule_not_pending() -> ApiError {
    ApiError::new(
        ErrorCode::ScheduleNotPending,
        "Only a pending schedule can be cancelled; this one has run, was cancelled, or is running now.",
    )
}

/// A schedule id from the path; anything else names no schedule.
fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    raw.parse().map_err(|_| schedule_not_found())
}

/// `action`: share or unshare.
fn parse_action(raw: Option<&str>) -> Result<ShareAction, ApiError> {
    raw.and_then(|a| a.parse().ok())
        .ok_or_else(|| ApiError::invalid("action", "`action` must be share or unshare."))
}

/// `at`: an RFC 3339 time after `now` and at most a year after it, in whole seconds.
fn parse_at(raw: Option<&str>, now: Timestamp) -> Result<Timestamp, ApiError> {
    let bad = |message: &'static str| ApiError::invalid("at", message);
    let raw =
        raw.ok_or_else(|| bad("`at` is required: an RFC 3339 time, e.g. 2026-12-24T09:00:00Z."))?;
    let at = DateTime::parse_from_rfc3339(raw)
        .map(|at| Timestamp::from(at.with_timezone(&Utc)))
        .map_err(|_| bad("`at` must be an RFC 3339 time, e.g. 2026-12-24T09:00:00Z."))?;
    if at <= now {
        return Err(bad("`at` must be in the future."));
    }
    let latest = now
        .as_datetime()
        .checked_add_months(Months::new(12))
        .map(Timestamp::from);
    if latest.is_none_or(|latest| at > latest) {
        return Err(bad("`at` must be at most one year ahead."));
    }
    Ok(at)
}

/// `status`: one of the schedule statuses, if given.
fn parse_status(raw: Option<&str>) -> Result<Option<ScheduleStatus>, ApiError> {
    raw.map(|s| {
        s.parse().map_err(|_| {
            ApiError::invalid(
                "status",
                "`status` must be pending, succeeded, failed or cancelled.",
            )
        })
    })
    .transpose()
}

/// `POST /{projectId}/v1/models/{modelId}/schedules` `{"action", "at"}`: admin.
#[utoipa::path(post, path = "/{projectId}/v1/models/{modelId}/schedules", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    request_body = CreateSchedule,
    responses((status = 201, description = "Scheduled (`pending`); `Location` names it", body = ScheduleDto),
        (status = 400, description = "Bad JSON, bad `action`, `at` not in the future or more than a year ahead (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied` (role below admin), or a refusal the chain gives this caller for any model (`feature_not_enabled`)", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope),
        (status = 413, description = "Body over the limit", body = ErrorEnvelope),
        (status = 415, description = "Body is not JSON", body = ErrorEnvelope)))]
pub(crate) async fn create_schedule(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    body: web::Json<CreateSchedule>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = super::own_model(&state, &caller, &path.1).await?;
    let action = parse_action(body.action.as_deref())?;
    let at = parse_at(body.at.as_deref(), now())?;
    // What refuses this caller now (feature, role) refuses the run too: say so now.
    state.catalog.refuse_caller(action, &caller.0).await?;
    let principal = &caller.0;
    let schedule = state
        .store
        .create_schedule(NewSchedule {
            project_id: principal.project_id.clone(),
            model_id: model.id,
            action,
            at,
            created_by_user_id: principal.user_id,
            created_by_key_id: principal.api_key_id,
        })
        .await?;
    tracing::info!(schedule_id = %schedule.id, %action, at = %at.to_rfc3339(), "schedule created");
    let location = format!(
        "/{}/v1/models/{}/schedules/{}",
        principal.project_id, model.id, schedule.id
    );
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, location))
        .json(ScheduleDto::from(schedule)))
}

/// `GET /{projectId}/v1/models/{modelId}/schedules`: newest first, any role.
#[utoipa::path(get, path = "/{projectId}/v1/models/{modelId}/schedules", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000"),
        ("status" = Option<String>, Query, description = "Only schedules in this status: pending, succeeded, failed or cancelled"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page")),
    responses((status = 200, description = "The model's schedules, newest first", body = List<ScheduleDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn list_schedules(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["limit", "after", "status"])?;
    let model = super::own_model(&state, &caller, &path.1).await?;
    let limit = params.limit(&state.api)?;
    let after = Cursor::created(params.get("after"))?;
    let status = parse_status(params.get("status"))?;
    let page = state
        .store
        .list_schedules(
            &caller.0.project_id,
            Some(model.id),
            status,
            after.map(|(at, id)| (at, ScheduleId::from_uuid(id))),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(List::page(
        page.items,
        page.has_more,
        |s| Cursor::Created(s.created_at, s.id.as_uuid()),
        ScheduleDto::from,
    )))
}

/// `GET /{projectId}/v1/models/{modelId}/schedules/{scheduleId}`: any role.
#[utoipa::path(get, path = "/{projectId}/v1/models/{modelId}/schedules/{scheduleId}", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000"), ("scheduleId" = String, Path, description = "Schedule id, `sch_` + 32 hex digits")),
    responses((status = 200, description = "The schedule", body = ScheduleDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`, `model_not_found` or `schedule_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn get_schedule(
    caller: ProjectCaller,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let model = super::own_model(&state, &caller, &path.1).await?;
    let id = schedule_id(&path.2)?;
    let schedule = state
        .store
        .get_schedule(&caller.0.project_id, model.id, id)
        .await?
        .ok_or_else(schedule_not_found)?;
    Ok(HttpResponse::Ok().json(ScheduleDto::from(schedule)))
}

/// `DELETE /{projectId}/v1/models/{modelId}/schedules/{scheduleId}`: admin; cancels a pending
/// schedule and answers it, now `cancelled`.
#[utoipa::path(delete, path = "/{projectId}/v1/models/{modelId}/schedules/{scheduleId}", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000"), ("scheduleId" = String, Path, description = "Schedule id, `sch_` + 32 hex digits")),
    responses((status = 200, description = "Cancelled: the schedule, now `cancelled`", body = ScheduleDto),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`, `model_not_found` or `schedule_not_found`", body = ErrorEnvelope),
        (status = 409, description = "`schedule_not_pending`: it has run, was cancelled, or is running now", body = ErrorEnvelope)))]
pub(crate) async fn cancel_schedule(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = super::own_model(&state, &caller, &path.1).await?;
    let id = schedule_id(&path.2)?;
    match state
        .store
        .cancel_schedule(&caller.0.project_id, model.id, id)
        .await?
    {
        Ok(schedule) => {
            tracing::info!(schedule_id = %schedule.id, "schedule cancelled");
            Ok(HttpResponse::Ok().json(ScheduleDto::from(schedule)))
        }
        Err(CancelRefused::NotFound) => Err(schedule_not_found()),
        Err(CancelRefused::NotPending) => Err(schedule_not_pending()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from(DateTime::from_timestamp(secs, 0).unwrap())
    }

    #[test]
    fn at_must_be_ahead_by_at_most_a_year() {
        let now = at(1_800_000_000);
        let ok = parse_at(Some("2027-01-15T08:00:05.900+00:00"), now).unwrap();
        assert_eq!(ok.to_rfc3339(), "2027-01-15T08:00:05Z");
        // Another offset is the same instant in UTC.
        let offset = parse_at(Some("2027-01-15T10:00:05+02:00"), now).unwrap();
        assert_eq!(offset, ok);
        for bad in [
            None,
            Some("tomorrow"),
            Some("2027-01-15"),
            Some(&*now.to_rfc3339()),
            Some("2020-01-01T00:00:00Z"),
            Some("2028-01-16T00:00:00Z"),
        ] {
            let err = parse_at(bad, now).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("at"), "{bad:?}");
        }
        let a_year = now
            .as_datetime()
            .checked_add_months(Months::new(12))
            .unwrap();
        assert!(parse_at(Some(&Timestamp::from(a_year).to_rfc3339()), now).is_ok());
    }

    #[test]
    fn actions_and_statuses_are_closed_sets() {
        assert_eq!(parse_action(Some("unshare")).unwrap(), ShareAction::Unshare);
        for bad in [None, Some(""), Some("publish"), Some("Share")] {
            assert_eq!(
                parse_action(bad).unwrap_err().param.as_deref(),
                Some("action")
            );
        }
        assert_eq!(parse_status(None).unwrap(), None);
        assert_eq!(
            parse_status(Some("cancelled")).unwrap(),
            Some(ScheduleStatus::Cancelled)
        );
        assert_eq!(
            parse_status(Some("running")).unwrap_err().param.as_deref(),
            Some("status")
        );
    }
}
