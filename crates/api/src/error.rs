//! The one `ResponseError` of the service and the error envelope of the contract:
//! `{"error": {"message", "type", "code", "param"}}`.
//!
//! Handlers return [`ApiError`]; errors of other crates map onto it through `From`; actix's own
//! errors (bad JSON, unknown route, wrong method, body too large) are routed into the same
//! envelope by the extractor configs in [`crate::app`] and by [`enveloped`].

use std::borrow::Cow;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth::AuthError;
use catalog::ShareError;
use domain::{ErrorCode, ErrorType};
use serde::Serialize;
use storage::StorageError;

/// Seconds a client should wait after a 503, stored in app data.
#[derive(Debug, Clone, Copy)]
pub struct RetryAfter(pub u64);

/// An error answered to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub kind: ErrorType,
    pub message: Cow<'static, str>,
    pub param: Option<Cow<'static, str>>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// The envelope's `error` object.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            message: &self.message,
            kind: self.kind.as_str(),
            code: &self.code,
            param: self.param.as_deref(),
        }
    }

    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::from_u16(code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: Cow::Borrowed(code.as_str()),
            kind: code.error_type(),
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<Cow<'static, str>>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400 `invalid_request` naming the offending parameter or field.
    pub fn invalid(
        param: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_param(param)
    }

    pub fn project_not_found() -> Self {
        Self::new(
            ErrorCode::ProjectNotFound,
            "The project does not exist or your API key does not belong to it.",
        )
    }

    pub fn model_not_found() -> Self {
        Self::new(
            ErrorCode::ModelNotFound,
            "The specified model does not exist or you do not have access to it.",
        )
    }

    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                ErrorCode::ServiceUnavailable,
                "The service is temporarily unavailable. Retry after the time in the Retry-After header.",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalError,
            "An internal error occurred. It has been logged with this request's id.",
        )
    }

    /// The default answer for a bare status produced outside our handlers.
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => ErrorCode::InvalidRequest,
            401 => ErrorCode::AuthenticationRequired,
            404 => ErrorCode::RouteNotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::RateLimitExceeded,
            503 => ErrorCode::ServiceUnavailable,
            _ => ErrorCode::InternalError,
        };
        let message = match code {
            ErrorCode::RouteNotFound => {
                "No route matches this path. See the API reference for the available routes."
            }
            ErrorCode::MethodNotAllowed => "This route does not accept this HTTP method.",
            ErrorCode::PayloadTooLarge => "The request body is larger than the configured limit.",
            ErrorCode::RequestTimeout => {
                "The service did not answer in time. A share or unshare may still complete: read the model before retrying."
            }
            ErrorCode::UnsupportedMediaType => {
                "The request body must be JSON (Content-Type: application/json)."
            }
            ErrorCode::InvalidRequest => "The request is malformed.",
            _ => {
                return Self {
                    status,
                    ..Self::internal()
                };
            }
        };
        Self {
            status,
            ..Self::new(code, message)
        }
    }
}

/// Every error response: `{"error": {"message", "type", "code", "param"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// A sentence for people; never internals.
    #[schema(value_type = String, example = "User does not have admin role in the project.")]
    pub message: &'a str,
    /// The code's family.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "permission_error")]
    pub kind: &'a str,
    /// The stable slug clients branch on.
    #[schema(value_type = String, example = "permission_denied")]
    pub code: &'a str,
    /// The offending field or parameter, if any.
    #[schema(value_type = Option<String>)]
    pub param: Option<&'a str>,
}

/// Marks a response whose body is already the envelope.
#[derive(Debug, Clone, Copy)]
struct Enveloped;

/// Marks `response` as final: [`enveloped`] leaves it as it is (a replayed response,
/// whose error body was already the envelope when it was first answered).
pub(crate) fn as_answered(response: &mut HttpResponse) {
    response.extensions_mut().insert(Enveloped);
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = builder.json(ErrorEnvelope { error: self.body() });
        response.extensions_mut().insert(Enveloped);
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Self::unavailable()
            }
            other => {
                tracing::error!(error = ?other, "storage error");
                Self::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing => Self::new(
                ErrorCode::AuthenticationRequired,
                "Authentication required: send your API key as `Authorization: Bearer <key>`.",
            ),
            AuthError::Invalid => Self::new(
                ErrorCode::InvalidApiKey,
                "The API key is malformed, unknown, revoked or expired.",
            ),
            AuthError::Storage(err) => err.into(),
        }
    }
}

/// `res` with the envelope if it is an error response not yet in it (actix's own 404, 405,
/// 413, ...), and with the configured `Retry-After` if it is a 503. Every response passes
/// through here ([`crate::telemetry::request_context`]).
pub fn enveloped(res: ServiceResponse<impl MessageBody + 'static>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    // Ours already carry the envelope; a handler that chose its own body (an HTML page) keeps it.
    let wrapped = res.response().extensions().get::<Enveloped>().is_some()
        || res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|ct| ct.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html"));
    let mut res = if (status.is_client_error() || status.is_server_error()) && !wrapped {
        let (req, old) = res.into_parts();
        let mut new = ApiError::from_status(status).error_response();
        // Keep the headers actix set (e.g. `Allow` on 405), but not the old body's.
        for (name, value) in old.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                new.headers_mut().insert(name.clone(), value.clone());
            }
        }
        ServiceResponse::new(req, new)
    } else {
        res.map_into_boxed_body()
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry_after = res
            .request()
            .app_data::<actix_web::web::Data<RetryAfter>>()
            .map(|r| r.0);
        let secs = retry_after.unwrap_or(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&secs) {
            res.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    res
}

/// A refused or failed share/unshare in the contract's envelope.
impl From<ShareError> for ApiError {
    fn from(err: ShareError) -> Self {
        match err {
            ShareError::Denied { policy, denial } => {
                tracing::info!(policy, code = %denial.code, "denied");
                ApiError {
                    status: StatusCode::from_u16(denial.status.as_u16())
                        .unwrap_or(StatusCode::FORBIDDEN),
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
