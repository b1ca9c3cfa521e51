//! `Idempotency-Key` on every POST, with Stripe's semantics.
//!
//! A POST that sends the header claims the key (scoped to its API key) in the database before it
//! runs, and stores its response (status, headers, body) when it ends. A retry with the same key,
//! method, path and body gets that response back byte for byte, with `Idempotent-Replayed:
//! true` (and its own `x-request-id`); the same key with another request is 422
//! `idempotency_key_reused`, and while the first request still runs, 409
//! `idempotency_key_in_use` with `Retry-After`. Keys live for `api.idempotency_ttl_secs`, after
//! which a sweeper deletes them.
//!
//! Only answers the request itself decided are stored: a 5xx or a 408 gives the key back, so
//! that a retry runs the request again. The key's claim has a lease (the request timeout and a
//! margin): if the process running the request dies, a retry after the lease runs it again.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use auth::Principal;
use domain::ErrorCode;
use sha2::{Digest, Sha256};
use storage::{Claimed, IdempotencyClaim, StoredResponse};

use crate::app::{AppState, RequestTimeout};
use crate::error::ApiError;
use crate::extract::{Credentials, Proven};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header of a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long past the request timeout a claim is held before another request may take it over.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// What a 409 `idempotency_key_in_use` asks the client to wait, in seconds.
const IN_USE_RETRY_AFTER: u64 = 1;

/// Headers a stored response does not keep: the connection's, and those the server sets on
/// every response anyway.
const NOT_STORED: &[HeaderName] = &[
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::DATE,
];

/// Middleware: see the module's documentation. Requests other than POST, and POSTs without the
/// header, pass through untouched.
pub(crate) async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST || !req.headers().contains_key(IDEMPOTENCY_KEY) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let key = match parse_key(req.headers().get(IDEMPOTENCY_KEY)) {
        Ok(key) => key,
        Err(err) => return Ok(req.error_response(err)),
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(ApiError::internal()));
    };
    // Keys are scoped to the API key, so the caller is proven first (once: the handler's
    // extractor takes the same principal from the request).
    let principal = match Credentials::of(req.request()).authenticate(&state).await {
        Ok(principal) => principal,
        Err(err) => return Ok(req.error_response(err)),
    };
    req.extensions_mut().insert(Proven(principal.clone()));
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(err)),
    };
    let fingerprint = fingerprint(req.method(), &req.uri().to_string(), &body);
    req.set_payload(Payload::from(body));
    let timeout = req
        .app_data::<web::Data<RequestTimeout>>()
        .map_or(Duration::from_secs(30), |t| t.0);
    let claim = IdempotencyClaim {
        api_key_id: principal.api_key_id,
        key: &key,
        fingerprint: &fingerprint,
        lease: timeout + LEASE_MARGIN,
        ttl: Duration::from_secs(state.api.idempotency_ttl_secs.get()),
    };
    match state.store.claim_idempotency_key(claim).await {
        Ok(Claimed::Run) => {}
        Ok(Claimed::Done(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(Claimed::Reused) => return Ok(req.error_response(reused())),
        Ok(Claimed::InFlight) => return Ok(req.error_response(in_use())),
        Err(err) => return Ok(req.error_response(ApiError::from(err))),
    }
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(err) => {
            release(&state, &principal, &key).await;
            return Err(err);
        }
    };
    finish(&state, &principal, &key, res).await
}

/// Stores the response (or gives the key back) and answers it.
async fn finish(
    state: &AppState,
    principal: &Principal,
    key: &str,
    res: ServiceResponse<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let status = res.status();
    if !worth_keeping(status) {
        release(state, principal, key).await;
        return Ok(res);
    }
    let (req, response) = res.into_parts();
    let (head, body) = response.into_parts();
    let body = match actix_web::body::to_bytes(body).await {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "reading a response to store it");
            release(state, principal, key).await;
            return Ok(ServiceResponse::new(
                req,
                ApiError::internal().error_response(),
            ));
        }
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        headers: head
            .headers()
            .iter()
            .filter(|(name, _)| !NOT_STORED.contains(name))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    };
    if let Err(err) = state
        .store
        .complete_idempotency_key(principal.api_key_id, key, &stored)
        .await
    {
        // The request ran and is answered; a retry after the claim's lease runs it again.
        tracing::warn!(error = %err, "storing an idempotent response failed");
    }
    Ok(ServiceResponse::new(req, head.set_body(BoxBody::new(body))))
}

async fn release(state: &AppState, principal: &Principal, key: &str) {
    if let Err(err) = state
        .store
        .release_idempotency_key(principal.api_key_id, key)
        .await
    {
        tracing::warn!(error = %err, "releasing an idempotency key failed");
    }
}

/// Whether a response is the request's own answer, to be replayed: not a server error (503,
/// 500) nor a timeout, after which a retry should run again.
fn worth_keeping(status: StatusCode) -> bool {
    !status.is_server_error() && status != StatusCode::REQUEST_TIMEOUT
}

/// The header's value: 1 to 255 printable ASCII characters.
fn parse_key(value: Option<&HeaderValue>) -> Result<String, ApiError> {
    let bytes = value.map(HeaderValue::as_bytes).unwrap_or_default();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// A digest of what makes two requests the same: method, path with query, and body.
fn fingerprint(method: &Method, uri: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(method.as_str().as_bytes());
    digest.update(b" ");
    digest.update(uri.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    hex::encode(digest.finalize())
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.append_header((name, value));
        }
    }
    response.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    let mut response = response.body(stored.body);
    crate::error::as_answered(&mut response);
    response
}

fn reused() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key was already used with another request (method, path or body). Use a new key for a new request.",
    )
    .with_param("Idempotency-Key")
}

fn in_use() -> ApiError {
    ApiError {
        retry_after: Some(IN_USE_RETRY_AFTER),
        ..ApiError::new(
            ErrorCode::IdempotencyKeyInUse,
            "A request with this Idempotency-Key is still running. Retry after the time in the Retry-After header.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        let ok = |s: &str| parse_key(Some(&HeaderValue::from_str(s).unwrap())).is_ok();
        assert!(ok("a"));
        assert!(ok("order 42 / retry ~ok"));
        assert!(ok(&"k".repeat(255)));
        assert!(!ok(&"k".repeat(256)));
        assert!(!ok(""));
        assert!(!ok("tab\there"));
        assert!(parse_key(Some(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap())).is_err());
        assert!(parse_key(None).is_err());
    }

    #[test]
    fn the_fingerprint_tells_method_path_and_body_apart() {
        let base = fingerprint(&Method::POST, "/p/v1/models/share", b"{}");
        assert_eq!(
            base,
            fingerprint(&Method::POST, "/p/v1/models/share", b"{}")
        );
        assert_ne!(base, fingerprint(&Method::PUT, "/p/v1/models/share", b"{}"));
        assert_ne!(
            base,
            fingerprint(&Method::POST, "/p/v1/models/unshare", b"{}")
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, "/p/v1/models/share", b"{ }")
        );
    }

    #[test]
    fn server_errors_and_timeouts_are_not_replayed() {
        assert!(worth_keeping(StatusCode::OK));
        assert!(worth_keeping(StatusCode::CREATED));
        assert!(worth_keeping(StatusCode::NOT_FOUND));
        assert!(worth_keeping(StatusCode::CONFLICT));
        assert!(!worth_keeping(StatusCode::REQUEST_TIMEOUT));
        assert!(!worth_keeping(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!worth_keeping(StatusCode::INTERNAL_SERVER_ERROR));
    }
}
