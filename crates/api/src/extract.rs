//! Extractors that put authorization in a handler's signature: a handler that takes a
//! [`ProjectCaller<Member>`] cannot run for a request without a valid key of the path's project
//! with at least the member role, and one that takes a [`CatalogCaller`] cannot run for a
//! request the catalog's access rule refuses.

use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use auth::{AuthError, Principal};
use domain::{ErrorCode, ProjectId, Role};
use futures_util::future::{Either, Ready, ready};

use crate::app::AppState;
use crate::error::ApiError;

/// The least role a [`ProjectCaller`] must have, as a type.
pub trait RoleGate {
    const LEAST: Role;
}

/// Any member of the project (viewer or above).
#[derive(Debug, Clone, Copy)]
pub struct AnyRole;

impl RoleGate for AnyRole {
    const LEAST: Role = Role::Viewer;
}

/// Member or above.
#[derive(Debug, Clone, Copy)]
pub struct Member;

impl RoleGate for Member {
    const LEAST: Role = Role::Member;
}

/// Admins only.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl RoleGate for Admin {
    const LEAST: Role = Role::Admin;
}

/// The caller of a `/{projectId}/...` route: authenticated, the key's project is the path's,
/// and its role is at least `R`'s.
///
/// Check order: 401 (no or bad key), then 404 `project_not_found` (a key of another project
/// gets the same 404 as a project that does not exist), then 403 `permission_denied`. A role a
/// route's policy chain decides (share and unshare) is not gated here: the chain's own check
/// answers it, with the operator's configuration.
#[derive(Debug, Clone)]
pub struct ProjectCaller<R: RoleGate = AnyRole>(pub Principal, PhantomData<R>);

impl<R: RoleGate + 'static> FromRequest for ProjectCaller<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credentials = Credentials::of(req);
        let path_project = req.match_info().get("projectId").map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let principal = credentials.authenticate(&state).await?;
            let same_project = path_project
                .as_deref()
                .and_then(|p| ProjectId::parse(p).ok())
                .is_some_and(|p| p == principal.project_id);
            if !same_project {
                return Err(ApiError::project_not_found());
            }
            tracing::Span::current().record("project_id", principal.project_id.as_str());
            if principal.role < R::LEAST {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    format!(
                        "This action needs the {} role in the project; your role is {}.",
                        R::LEAST,
                        principal.role
                    ),
                ));
            }
            Ok(Self(principal, PhantomData))
        })
    }
}

/// A reader of the public catalog: the key's principal, or nobody when no key is sent and
/// `catalog.public_browse` is on (such a request counts against its address). A key that is
/// sent is always checked, so a bad one is a 401 rather than silently ignored.
#[derive(Debug, Clone)]
pub struct CatalogCaller(pub Option<Principal>);

impl FromRequest for CatalogCaller {
    type Error = ApiError;
    /// Ready at once for an anonymous read (the catalog's most frequent request: nothing to
    /// look up, so nothing to box); a key is looked up.
    type Future = Either<
        Ready<Result<Self, Self::Error>>,
        Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>,
    >;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Either::Left(ready(Err(ApiError::internal())));
        };
        let credentials = Credentials::of(req);
        if credentials.is_anonymous() && state.public_browse {
            return Either::Left(ready(
                credentials.count_anonymous(state).map(|()| Self(None)),
            ));
        }
        let state = state.clone();
        Either::Right(Box::pin(async move {
            credentials.authenticate(&state).await.map(Some).map(Self)
        }))
    }
}

/// The principal a middleware already proved for this request (in the request's extensions),
/// so that the handler's extractor neither looks the key up nor charges the limits again.
#[derive(Debug, Clone)]
pub struct Proven(pub Principal);

/// What a request offers to prove who it is: its `Authorization` header and its address.
/// [`Credentials::authenticate`] is the one path from a header to a [`Principal`], under the
/// rate limits (see [`crate::ratelimit`] for who is charged what).
#[derive(Debug, Clone)]
pub struct Credentials {
    header: Option<String>,
    peer: Option<IpAddr>,
    proven: Option<Principal>,
}

impl Credentials {
    pub fn of(req: &HttpRequest) -> Self {
        Self {
            // A header that is not text cannot hold a key (keys are ASCII); lossy text fails to
            // parse like any other malformed key.
            header: req
                .headers()
                .get(AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            peer: req.peer_addr().map(|a| a.ip()),
            proven: req.extensions().get::<Proven>().map(|p| p.0.clone()),
        }
    }

    /// No `Authorization` header at all.
    pub fn is_anonymous(&self) -> bool {
        self.header.is_none()
    }

    /// Counts a request that goes on without a key against its address.
    pub fn count_anonymous(&self, state: &AppState) -> Result<(), ApiError> {
        match self.peer {
            Some(ip) => state.rate_limits.check_ip(ip),
            None => Ok(()),
        }
    }

    /// The principal of the key, if it is valid: 401 without a key or with a bad one, 429 over
    /// a limit (before the key is looked up, if the address is over its own).
    pub async fn authenticate(self, state: &AppState) -> Result<Principal, ApiError> {
        if let Some(principal) = self.proven {
            return Ok(principal);
        }
        if self.is_anonymous() {
            self.count_anonymous(state)?;
            return Err(AuthError::Missing.into());
        }
        let attempt = state.rate_limits.before_authentication(self.peer)?;
        match state
            .authenticator
            .authenticate(self.header.as_deref())
            .await
        {
            Ok(principal) => {
                attempt.proven(principal.api_key_id)?;
                Ok(principal)
            }
            Err(err @ (AuthError::Invalid | AuthError::Missing)) => {
                attempt.failed();
                Err(err.into())
            }
            Err(err @ AuthError::Storage(_)) => {
                attempt.not_looked_up();
                Err(err.into())
            }
        }
    }
}
