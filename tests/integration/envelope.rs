//! actix's own errors arrive in the contract's envelope, with a request id.

use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app};

#[actix_rt::test]
async fn an_unknown_route_is_404_in_the_envelope() {
    let app = spawn_app().await;
    for path in ["/nope", "/v2/anything", "/proj_ABC123/v1/nothing-here"] {
        let response = app.get(path, None).await;
        assert_error(response, StatusCode::NOT_FOUND, "route_not_found").await;
    }
}

#[actix_rt::test]
async fn a_wrong_method_is_405_in_the_envelope() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app
        .client
        .put(app.url(&format!("/{}/v1/models/{}", t.project, t.model)))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[actix_rt::test]
async fn every_response_carries_a_request_id_and_a_valid_incoming_one_is_echoed() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::try_parse(&generated).is_ok(), "{generated}");

    let response = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "client-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-req-42");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let replaced = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::try_parse(replaced).is_ok(), "{replaced}");
}
