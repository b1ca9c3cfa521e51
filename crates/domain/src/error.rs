//! The error-code table of the HTTP contract: every stable `code` a client may branch on, with
//! its HTTP status and its `type` family. Crates map their own errors onto these codes; only the
//! `api` crate turns them into responses.

use serde::Serialize;

/// The family of an error, the `type` field of the error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    AuthenticationError,
    PermissionError,
    NotFoundError,
    InvalidRequestError,
    ConflictError,
    RateLimitError,
    ServerError,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthenticationError => "authentication_error",
            Self::PermissionError => "permission_error",
            Self::NotFoundError => "not_found_error",
            Self::InvalidRequestError => "invalid_request_error",
            Self::ConflictError => "conflict_error",
            Self::RateLimitError => "rate_limit_error",
            Self::ServerError => "server_error",
        }
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => ($status:literal, $code:literal, $kind:ident) ),+ $(,)?) => {
        /// A stable error code of the contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self { $( Self::$variant => $status, )+ }
            }

            /// The slug clients branch on.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $code, )+ }
            }

            /// The family of the code.
            pub fn error_type(self) -> ErrorType {
                match self { $( Self::$variant => ErrorType::$kind, )+ }
            }
        }
    };
}

error_codes! {
    /// No `Authorization` header.
    AuthenticationRequired => (401, "authentication_required", AuthenticationError),
    /// Malformed, unknown, revoked or expired key.
    InvalidApiKey => (401, "invalid_api_key", AuthenticationError),
    /// The path's project does not exist or is not the key's project.
    ProjectNotFound => (404, "project_not_found", NotFoundError),
    /// The account lacks the model sharing feature.
    FeatureNotEnabled => (403, "feature_not_enabled", PermissionError),
    /// The caller's project role is too low.
    PermissionDenied => (403, "permission_denied", PermissionError),
    /// A policy rule (CEL) could not be evaluated; the transition is refused (fail closed).
    PolicyError => (403, "policy_error", PermissionError),
    /// No such model in this project.
    ModelNotFound => (404, "model_not_found", NotFoundError),
    /// No such endpoint in this project.
    EndpointNotFound => (404, "endpoint_not_found", NotFoundError),
    /// The model's status does not allow sharing.
    InvalidModelStatus => (400, "invalid_model_status", InvalidRequestError),
    /// Unshare of a model that is not shared.
    ModelNotShared => (409, "model_not_shared", ConflictError),
    /// Bad JSON, bad field, bad query parameter.
    InvalidRequest => (400, "invalid_request", InvalidRequestError),
    /// No such schedule of this model (also: the id is not a schedule id).
    ScheduleNotFound => (404, "schedule_not_found", NotFoundError),
    /// Cancel of a schedule that already ran, was cancelled, or is running now.
    ScheduleNotPending => (409, "schedule_not_pending", ConflictError),
    /// No such webhook in this project (also: the id is not a webhook id).
    WebhookNotFound => (404, "webhook_not_found", NotFoundError),
    /// No such delivery of this webhook (also: the id is not a delivery id).
    DeliveryNotFound => (404, "delivery_not_found", NotFoundError),
    /// Endpoint slug already used in the project.
    SlugTaken => (409, "slug_taken", ConflictError),
    /// No route matches the path.
    RouteNotFound => (404, "route_not_found", NotFoundError),
    /// The route exists but not for this method.
    MethodNotAllowed => (405, "method_not_allowed", InvalidRequestError),
    /// The service did not answer within `server.request_timeout_ms`: the time went to the
    /// service or its database, not the client, hence a server error. (A client too slow to send
    /// its request headers gets the HTTP layer's bare 408, which has no body.)
    RequestTimeout => (408, "request_timeout", ServerError),
    /// Body over the configured limit.
    PayloadTooLarge => (413, "payload_too_large", InvalidRequestError),
    /// The body's media type is not JSON.
    UnsupportedMediaType => (415, "unsupported_media_type", InvalidRequestError),
    /// An `Idempotency-Key` already used with another method, path or body.
    IdempotencyKeyReused => (422, "idempotency_key_reused", InvalidRequestError),
    /// An `Idempotency-Key` whose first request is still running.
    IdempotencyKeyInUse => (409, "idempotency_key_in_use", ConflictError),
    /// Over the rate limit.
    RateLimitExceeded => (429, "rate_limit_exceeded", RateLimitError),
    /// Database unreachable or timed out.
    ServiceUnavailable => (503, "service_unavailable", ServerError),
    /// A bug.
    InternalError => (500, "internal_error", ServerError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "duplicate code {}",
                code.as_str()
            );
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn seed_codes_have_the_contract_statuses() {
        assert_eq!(ErrorCode::FeatureNotEnabled.status(), 403);
        assert_eq!(ErrorCode::PermissionDenied.status(), 403);
        assert_eq!(ErrorCode::InvalidModelStatus.status(), 400);
        assert_eq!(ErrorCode::ModelNotFound.status(), 404);
        assert_eq!(
            ErrorCode::PermissionDenied.error_type().as_str(),
            "permission_error"
        );
    }

    #[test]
    fn a_request_timeout_is_the_services_doing() {
        assert_eq!(ErrorCode::RequestTimeout.status(), 408);
        assert_eq!(
            ErrorCode::RequestTimeout.error_type(),
            ErrorType::ServerError
        );
    }
}
