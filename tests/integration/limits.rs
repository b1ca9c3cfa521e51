//! Rate limits: a proven key counts against its key; everything else (anonymous reads, and any
//! request whose key is not proven yet) counts against the client's address before it is
//! authenticated; and failed authentications have a stricter limit per address, which once spent
//! answers 429 before the database is asked about a key.

use std::time::Duration;

use api::Settings;
use reqwest::{Response, StatusCode};

use crate::helpers::{Tenant, assert_error, spawn_app_with};

/// A well-formed key of the tenant's project that was never minted.
fn unknown_key(t: &Tenant, n: usize) -> String {
    format!("xero_{}_{n:A>43}", t.slug)
}

/// Asserts 429 `rate_limit_exceeded` with a `Retry-After`; returns its seconds.
async fn assert_limited(response: Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let error = assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    )
    .await;
    assert_eq!(error["type"], "rate_limit_error");
    retry
}

/// Limits on, and high enough everywhere but on failed authentications (their defaults apply).
fn only_failures_limited(s: &mut Settings) {
    s.rate_limit.enabled = true;
    s.rate_limit.per_key_per_second = 1000;
    s.rate_limit.per_key_burst = 1000;
    s.rate_limit.anonymous_per_ip_per_second = 1000;
    s.rate_limit.anonymous_per_ip_burst = 1000;
}

#[actix_rt::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.per_key_per_second = 1;
        s.rate_limit.per_key_burst = 3;
        s.rate_limit.anonymous_per_ip_per_second = 1;
        s.rate_limit.anonymous_per_ip_burst = 2;
    })
    .await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let mut last = None;
    for _ in 0..4 {
        last = Some(app.list_models(&t.project, "", &t.key).await);
    }
    assert_limited(last.unwrap()).await;
    // Another key has its own budget, and a proven key's requests (four from t, one from
    // other) were not charged to the address: its anonymous budget is still whole.
    assert_eq!(
        app.list_models(&other.project, "", &other.key)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/catalog/models", Some(&other.key))
            .await
            .status(),
        StatusCode::OK
    );
    // Anonymous catalog reads are limited per address.
    for _ in 0..2 {
        assert_eq!(app.catalog("").await.status(), StatusCode::OK);
    }
    assert_limited(app.catalog("").await).await;
}

#[actix_rt::test]
async fn a_request_whose_key_is_not_proven_counts_against_its_address() {
    let app = spawn_app_with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.per_key_per_second = 1000;
        s.rate_limit.per_key_burst = 1000;
        s.rate_limit.anonymous_per_ip_per_second = 1;
        s.rate_limit.anonymous_per_ip_burst = 2;
    })
    .await;
    let t = app.tenant().await;
    for _ in 0..5 {
        let response = app.list_models(&t.project, "", &t.key).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Two requests with keys that do not authenticate spend the address's anonymous budget ...
    let response = app.get("/v1/catalog/models", Some("not-a-key")).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let response = app.list_models(&t.project, "", &unknown_key(&t, 1)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    // ... so the next one is refused before it is looked up, whatever its key.
    assert_limited(app.list_models(&t.project, "", &unknown_key(&t, 2)).await).await;
    assert_limited(app.list_models(&t.project, "", &t.key).await).await;
}

#[actix_rt::test]
async fn failed_authentications_are_limited_per_address_before_the_database() {
    let app = spawn_app_with(only_failures_limited).await;
    let burst = app.settings.rate_limit.failed_auth_per_ip_burst as usize;
    let t = app.tenant().await;
    for n in 0..burst {
        let response = app.list_models(&t.project, "", &unknown_key(&t, n)).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    }
    // Stop the database: from here on any key lookup fails (503), so a 429 proves none was made.
    app.store.clone().close().await.ok();
    assert!(
        app.store
            .find_key_by_hash(&auth::hash_key(&t.key))
            .await
            .is_err(),
        "the database still answers"
    );
    for n in burst..burst + 20 {
        assert_limited(app.list_models(&t.project, "", &unknown_key(&t, n)).await).await;
    }
    assert_limited(
        app.get("/v1/catalog/models", Some(&unknown_key(&t, 99)))
            .await,
    )
    .await;
}

#[actix_rt::test]
async fn a_valid_key_shares_its_addresss_failure_budget() {
    let app = spawn_app_with(only_failures_limited).await;
    let burst = app.settings.rate_limit.failed_auth_per_ip_burst as usize;
    let t = app.tenant().await;
    let fail = async |n: usize| {
        let response = app.list_models(&t.project, "", &unknown_key(&t, n)).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    };
    let succeed = async || {
        let response = app.list_models(&t.project, "", &t.key).await;
        assert_eq!(response.status(), StatusCode::OK);
    };
    for n in 0..burst / 2 {
        fail(n).await;
    }
    // Successes spend nothing of the failure budget.
    for _ in 0..5 {
        succeed().await;
    }
    for n in burst / 2..burst {
        fail(n).await;
    }
    // Spent: until a key is looked up it cannot be told from a guess, so a valid one waits too.
    let retry = assert_limited(app.list_models(&t.project, "", &t.key).await).await;
    // Reads without a key look nothing up and are not held back.
    assert_eq!(app.catalog("").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    succeed().await;
}
