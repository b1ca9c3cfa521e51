//! The public catalog: shared models only, filters, sorts, optional auth; its pages and
//! cursors in [`paging`].

mod checkpoint;
mod facets;
mod paging;

use std::collections::HashSet;

use domain::{ModelId, ModelStatus};
use reqwest::StatusCode;
use serde_json::Value;
use storage::NewModel;

use crate::helpers::{Tenant, TestApp, assert_error, spawn_app, spawn_app_with};

/// A `ready` model with `(architecture, parameters, context length, license)` and tags.
async fn model(
    app: &TestApp,
    t: &Tenant,
    name: &str,
    (arch, params, ctx, license): (&str, i64, i64, &str),
    tags: &[&str],
) -> ModelId {
    let id = ModelId::new();
    app.store
        .create_model(NewModel {
            id,
            project_id: t.project.clone(),
            name: name.into(),
            description: format!("About {name}"),
            status: ModelStatus::Ready,
            architecture: Some(arch.into()),
            parameter_count: Some(params),
            context_length: Some(ctx),
            license: Some(license.into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
        .await
        .unwrap();
    id
}

#[actix_rt::test]
async fn the_catalog_lists_shared_models_only_with_the_contract_fields() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let shared = model(
        &app,
        &t,
        "Shared One",
        ("llama", 7_000_000_000, 8192, "mit"),
        &["chat"],
    )
    .await;
    let private = model(
        &app,
        &t,
        "Private One",
        ("llama", 7_000_000_000, 8192, "mit"),
        &["chat"],
    )
    .await;
    let withdrawn = model(
        &app,
        &t,
        "Withdrawn",
        ("llama", 7_000_000_000, 8192, "mit"),
        &["chat"],
    )
    .await;
    app.shared(&t, shared).await;
    app.shared(&t, withdrawn).await;
    assert_eq!(
        app.unshare(&t.project, &withdrawn.to_string(), &t.key)
            .await
            .status(),
        200
    );

    let response = app.catalog("").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["hasMore"], false);
    assert_eq!(body["nextCursor"], Value::Null);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{body}");
    let item = &data[0];
    let keys: HashSet<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "modelId",
        "name",
        "description",
        "architecture",
        "parameterCount",
        "contextLength",
        "license",
        "tags",
        "owner",
        "sharedAt",
        "endpointCount",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(item["modelId"], shared.to_string());
    assert_eq!(item["owner"]["projectId"], t.project.to_string());
    assert!(
        item["owner"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Project ")
    );
    assert_eq!(item["endpointCount"], 0);

    let one = app.get(&format!("/v1/catalog/models/{shared}"), None).await;
    assert_eq!(one.status(), StatusCode::OK);
    let one: Value = one.json().await.unwrap();
    assert_eq!(&one, item);
    for id in [
        private.to_string(),
        withdrawn.to_string(),
        "not-a-uuid".into(),
    ] {
        let response = app.get(&format!("/v1/catalog/models/{id}"), None).await;
        assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    }
}

#[actix_rt::test]
async fn filters_and_sorts() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let a = model(
        &app,
        &t,
        "alpha-chat",
        ("llama", 7_000_000_000, 8192, "apache-2.0"),
        &["chat"],
    )
    .await;
    let b = model(
        &app,
        &t,
        "Beta Coder",
        ("mistral", 13_000_000_000, 32768, "mit"),
        &["code"],
    )
    .await;
    let c = model(
        &app,
        &t,
        "gamma",
        ("llama", 70_000_000_000, 4096, "llama3"),
        &["chat", "large"],
    )
    .await;
    for id in [a, b, c] {
        app.shared(&t, id).await;
        tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    }
    for _ in 0..2 {
        let slug = format!("e{}", uuid::Uuid::new_v4().simple());
        assert_eq!(
            app.create_endpoint(&t.project, &slug[..20], &b.to_string(), &t.key)
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        app.create_endpoint(&t.project, "c-one", &c.to_string(), &t.key)
            .await
            .status(),
        201
    );
    let ids = |v: &[ModelId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();

    assert_eq!(
        app.catalog_ids("").await,
        ids(&[c, b, a]),
        "newest share first"
    );
    assert_eq!(app.catalog_ids("?sort=sharedAt").await, ids(&[c, b, a]));
    assert_eq!(
        app.catalog_ids("?sort=name").await,
        ids(&[a, b, c]),
        "case-insensitive name order"
    );
    assert_eq!(app.catalog_ids("?sort=endpoints").await, ids(&[b, c, a]));
    assert_eq!(app.catalog_ids("?q=CODER").await, ids(&[b]));
    assert_eq!(
        app.catalog_ids("?q=about%20gam").await,
        ids(&[c]),
        "q matches descriptions"
    );
    assert_eq!(app.catalog_ids("?architecture=llama").await, ids(&[c, a]));
    assert_eq!(app.catalog_ids("?license=mit").await, ids(&[b]));
    assert_eq!(app.catalog_ids("?tag=chat").await, ids(&[c, a]));
    assert_eq!(
        app.catalog_ids("?minParameters=10000000000").await,
        ids(&[c, b])
    );
    assert_eq!(
        app.catalog_ids("?maxParameters=13000000000").await,
        ids(&[b, a])
    );
    assert_eq!(
        app.catalog_ids("?minContextLength=8192").await,
        ids(&[b, a])
    );
    assert_eq!(
        app.catalog_ids("?architecture=llama&tag=chat&minParameters=1&sort=name&limit=1")
            .await,
        ids(&[a, c])
    );
    let body: Value = app
        .get(&format!("/v1/catalog/models/{b}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["endpointCount"], 2);
}

#[actix_rt::test]
async fn bad_catalog_parameters_are_400_with_param() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    for i in 0..3 {
        let id = model(&app, &t, &format!("m{i}"), ("llama", 1, 1, "mit"), &[]).await;
        app.shared(&t, id).await;
    }
    let page: Value = app
        .catalog("?limit=1&sort=name")
        .await
        .json()
        .await
        .unwrap();
    let name_cursor = page["nextCursor"].as_str().unwrap().to_owned();
    for (query, param) in [
        ("?limit=0".to_owned(), "limit"),
        ("?limit=1000".to_owned(), "limit"),
        ("?limit=-1".to_owned(), "limit"),
        ("?sort=bogus".to_owned(), "sort"),
        ("?after=forged".to_owned(), "after"),
        (format!("?after={name_cursor}"), "after"),
        ("?minParameters=lots".to_owned(), "minParameters"),
        (
            "?minParameters=10&maxParameters=5".to_owned(),
            "maxParameters",
        ),
        ("?minContextLength=-4".to_owned(), "minContextLength"),
        ("?owner=me".to_owned(), "owner"),
    ] {
        let response = app.catalog(&query).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], param, "{query}");
    }
    let response = app
        .catalog(&format!("?sort=name&after={name_cursor}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn browsing_can_require_a_key() {
    let app = spawn_app_with(|s| s.catalog.public_browse = false).await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    assert_error(
        app.catalog("").await,
        StatusCode::UNAUTHORIZED,
        "authentication_required",
    )
    .await;
    let one = app
        .get(&format!("/v1/catalog/models/{}", t.model), None)
        .await;
    assert_error(one, StatusCode::UNAUTHORIZED, "authentication_required").await;
    let stranger = app.tenant().await;
    let response = app.get("/v1/catalog/models", Some(&stranger.key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get("/v1/catalog/models", Some("xero_bad_key")).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
}
