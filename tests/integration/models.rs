//! The owner's view of models: one model, the list with pagination, and bad input.

use std::collections::HashSet;

use domain::ModelStatus;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

#[actix_rt::test]
async fn a_model_has_every_contract_field() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app
        .get_model(&t.project, &t.model.to_string(), &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let keys: HashSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "name",
        "description",
        "status",
        "architecture",
        "parameterCount",
        "contextLength",
        "license",
        "tags",
        "shared",
        "sharedAt",
        "unsharedAt",
        "createdAt",
        "updatedAt",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["shared"], false);
    assert_eq!(body["sharedAt"], Value::Null);
    assert_eq!(body["tags"], serde_json::json!(["chat"]));
    let created = body["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
}

#[actix_rt::test]
async fn a_non_uuid_or_unknown_or_foreign_model_is_model_not_found() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    for model in [
        "not-a-uuid".to_owned(),
        uuid::Uuid::new_v4().to_string(),
        other.model.to_string(),
    ] {
        let response = app.get_model(&t.project, &model, &t.key).await;
        assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    }
}

#[actix_rt::test]
async fn listing_pages_through_every_model_once_newest_first() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let mut created = vec![t.model.to_string()];
    for i in 0..24 {
        created.push(
            app.model_in(&t.project, &format!("m{i}"), ModelStatus::Active)
                .await
                .to_string(),
        );
    }
    let other = app.tenant().await;

    let mut seen = Vec::new();
    let mut query = "?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let response = app.list_models(&t.project, &query, &t.key).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "list");
        let data = body["data"].as_array().unwrap();
        assert!(data.len() <= 10);
        seen.extend(data.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        pages += 1;
        if body["hasMore"] == false {
            assert_eq!(body["nextCursor"], Value::Null);
            break;
        }
        query = format!("?limit=10&after={}", body["nextCursor"].as_str().unwrap());
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 25, "no model repeated");
    assert!(
        !seen.contains(&other.model.to_string()),
        "another tenant's model leaked"
    );
    let expected: HashSet<_> = created.iter().collect();
    assert_eq!(unique, expected);
}

#[actix_rt::test]
async fn the_default_page_is_twenty() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    for i in 0..21 {
        app.model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
            .await;
    }
    let body: Value = app
        .list_models(&t.project, "", &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 20);
    assert_eq!(body["hasMore"], true);
}

#[actix_rt::test]
async fn bad_query_parameters_are_400_with_param() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    for (query, param) in [
        ("?limit=0", "limit"),
        ("?limit=1000", "limit"),
        ("?limit=ten", "limit"),
        ("?after=forged", "after"),
        ("?bogus=1", "bogus"),
        ("?limit=5&limit=6", "limit"),
    ] {
        let response = app.list_models(&t.project, query, &t.key).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], param, "{query}");
    }
}
