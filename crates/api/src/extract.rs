//! Extractors that put authorization in a handler's signature: a handler that takes a
//! [`ProjectCaller`] cannot run for a request without a valid key of the path's project.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use auth::{AuthError, Principal};
use domain::ProjectId;

use crate::app::AppState;
use crate::error::ApiError;

/// The caller of a `/{projectId}/...` route: authenticated, and the key's project is the path's.
///
/// Check order: 401 (no or bad key) before 404 `project_not_found`; a key of another project
/// gets the same 404 as a project that does not exist.
#[derive(Debug, Clone)]
pub struct ProjectCaller(pub Principal);

impl FromRequest for ProjectCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = authorization(req);
        let path_project = req.match_info().get("projectId").map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let principal = state.authenticator.authenticate(header?.as_deref()).await?;
            state.rate_limits.check_key(principal.api_key_id)?;
            let same_project = path_project
                .as_deref()
                .and_then(|p| ProjectId::parse(p).ok())
                .is_some_and(|p| p == principal.project_id);
            if !same_project {
                return Err(ApiError::project_not_found());
            }
            tracing::Span::current().record("project_id", principal.project_id.as_str());
            Ok(Self(principal))
        })
    }
}

/// The `Authorization` header as text; a header that is not text is an invalid key.
fn authorization(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get(AUTHORIZATION) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.to_owned()))
            .map_err(|_| AuthError::Invalid.into()),
    }
}
