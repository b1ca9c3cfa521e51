//! Endpoints: create from an own or a catalog model, slugs, survival after unshare, bad bodies.

use std::num::NonZeroUsize;

use domain::{ModelStatus, Role};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[actix_rt::test]
async fn create_list_get_and_delete_an_endpoint_on_an_own_model() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app
        .create_endpoint(&t.project, "my-endpoint", &t.model.to_string(), &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["slug"], "my-endpoint");
    assert_eq!(created["modelId"], t.model.to_string());
    assert_eq!(created["status"], "active");
    assert_eq!(created.as_object().unwrap().len(), 5, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/{}/v1/endpoints/{id}", t.project));

    let one: Value = app.get(&location, Some(&t.key)).await.json().await.unwrap();
    assert_eq!(one, created);
    let list: Value = app
        .get(&format!("/{}/v1/endpoints", t.project), Some(&t.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let deleted = app
        .client
        .delete(app.url(&location))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&location, Some(&t.key)).await,
        StatusCode::NOT_FOUND,
        "endpoint_not_found",
    )
    .await;
    let again = app
        .client
        .delete(app.url(&location))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "endpoint_not_found").await;
}

#[actix_rt::test]
async fn slugs_follow_the_rules_and_are_unique_per_project() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let model = t.model.to_string();
    for bad in ["", "-a", "a-", "A", "a_b", "has space", &"a".repeat(64)] {
        let response = app.create_endpoint(&t.project, bad, &model, &t.key).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], "slug", "{bad:?}");
    }
    assert_eq!(
        app.create_endpoint(&t.project, &"a".repeat(63), &model, &t.key)
            .await
            .status(),
        201
    );
    assert_eq!(
        app.create_endpoint(&t.project, "x", &model, &t.key)
            .await
            .status(),
        201
    );
    let taken = app.create_endpoint(&t.project, "x", &model, &t.key).await;
    let error = assert_error(taken, StatusCode::CONFLICT, "slug_taken").await;
    assert_eq!(error["param"], "slug");
    // Another project may use the same slug.
    let response = app
        .create_endpoint(&other.project, "x", &other.model.to_string(), &other.key)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[actix_rt::test]
async fn catalog_models_can_be_used_by_others_and_endpoints_survive_unsharing() {
    let app = spawn_app().await;
    let owner = app.tenant().await;
    let user = app.tenant().await;
    let model = owner.model.to_string();

    let response = app
        .create_endpoint(&user.project, "borrowed", &model, &user.key)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;

    app.shared(&owner, owner.model).await;
    let response = app
        .create_endpoint(&user.project, "borrowed", &model, &user.key)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let endpoint: Value = response.json().await.unwrap();
    let item: Value = app
        .get(&format!("/v1/catalog/models/{model}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["endpointCount"], 1);

    assert_eq!(
        app.unshare(&owner.project, &model, &owner.key)
            .await
            .status(),
        200
    );
    let path = format!(
        "/{}/v1/endpoints/{}",
        user.project,
        endpoint["id"].as_str().unwrap()
    );
    let still: Value = app.get(&path, Some(&user.key)).await.json().await.unwrap();
    assert_eq!(still["status"], "active");
    let list: Value = app
        .get(&format!("/{}/v1/endpoints", user.project), Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let response = app
        .create_endpoint(&user.project, "another", &model, &user.key)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    // The owner still can.
    let response = app
        .create_endpoint(&owner.project, "mine", &model, &owner.key)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Shared again, the count includes the endpoints that survived.
    app.shared(&owner, owner.model).await;
    let item: Value = app
        .get(&format!("/v1/catalog/models/{model}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["endpointCount"], 2);
}

#[actix_rt::test]
async fn only_usable_models_and_members_may_create() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let uploading = app.model_in(&t.project, "up", ModelStatus::Uploading).await;
    let response = app
        .create_endpoint(&t.project, "up", &uploading.to_string(), &t.key)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    let response = app
        .create_endpoint(&t.project, "rnd", &uuid::Uuid::new_v4().to_string(), &t.key)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    let response = app.create_endpoint(&t.project, "bad", "nope", &t.key).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "modelId");

    let viewer = app.member(&t, Role::Viewer).await;
    let response = app
        .create_endpoint(&t.project, "v", &t.model.to_string(), &viewer)
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    let member = app.member(&t, Role::Member).await;
    let response = app
        .create_endpoint(&t.project, "m", &t.model.to_string(), &member)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Viewers may read, not delete.
    let path = format!("/{}/v1/endpoints/{id}", t.project);
    assert_eq!(app.get(&path, Some(&viewer)).await.status(), StatusCode::OK);
    let response = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
}

#[actix_rt::test]
async fn bad_bodies_get_the_envelope() {
    let app =
        spawn_app_with(|s| s.server.body_limit_bytes = NonZeroUsize::new(1024).unwrap()).await;
    let t = app.tenant().await;
    let url = app.url(&format!("/{}/v1/endpoints", t.project));
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&t.key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send("{not json".into(), "application/json").await.unwrap();
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "body");
    let response = send(
        "{\"slug\": 5, \"modelId\": \"x\"}".into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = send(
        format!(
            "{{\"slug\": \"a\", \"modelId\": \"{}\", \"extra\": 1}}",
            t.model
        ),
        "application/json",
    )
    .await
    .unwrap();
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        error["message"].as_str().unwrap().contains("extra"),
        "{error}"
    );
    let response = send("{\"slug\": \"a\"}".into(), "application/json")
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let big = format!(
        "{{\"slug\": \"a\", \"modelId\": \"{}\", \"pad\": \"{}\"}}",
        t.model,
        "x".repeat(4096)
    );
    let response = send(big, "application/json").await.unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let response = send("slug=a".into(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let response = app
        .get(
            &format!("/{}/v1/endpoints/not-a-uuid", t.project),
            Some(&t.key),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "endpoint_not_found").await;
}
