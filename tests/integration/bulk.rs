//! Bulk share and unshare: each item answered exactly as the single call would answer it, in
//! request order; a refusal of the caller refuses the whole call; bad lists are 400.

use domain::{Feature, ModelId, ModelStatus, Role};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TenantSpec, TestApp, assert_error, consistent_history, spawn_app};

async fn bulk(app: &TestApp, t: &Tenant, action: &str, body: Value, key: &str) -> Response {
    app.client
        .post(app.url(&format!("/{}/v1/models/{action}", t.project)))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The `data` of a 200 bulk answer.
async fn items(response: Response) -> Vec<Value> {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    body["data"].as_array().unwrap().clone()
}

/// `(status, result-or-error)` of what the single call answers now.
async fn single(app: &TestApp, t: &Tenant, action: &str, model: &str) -> (u16, Value) {
    let path = format!("/{}/v1/models/{model}/{action}", t.project);
    let response = app.post(&path, Some(&t.key)).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body.get("error").cloned().unwrap_or(body))
}

#[actix_rt::test]
async fn each_item_is_what_the_single_call_answers_in_request_order() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let ready = app.model_in(&t.project, "ready", ModelStatus::Ready).await;
    let already = app
        .model_in(&t.project, "already", ModelStatus::Active)
        .await;
    let before: Value = app.shared(&t, already).await;
    let validating = app.model_in(&t.project, "v", ModelStatus::Validating).await;
    let ids = [
        ready.to_string(),
        already.to_string().to_uppercase(),
        validating.to_string(),
        other.model.to_string(),
        "not-a-uuid".to_owned(),
        t.model.to_string(),
    ];
    let data = items(bulk(&app, &t, "share", json!({"modelIds": ids}), &t.key).await).await;
    let got: Vec<(&str, u64)> = data
        .iter()
        .map(|i| {
            (
                i["modelId"].as_str().unwrap(),
                i["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, u64)> = ids
        .iter()
        .map(String::as_str)
        .zip([200, 200, 400, 404, 404, 200])
        .collect();
    assert_eq!(got, expected);
    // The idempotent share keeps its original time and writes nothing.
    assert_eq!(data[1]["result"], before);
    assert_eq!(consistent_history(&app.store, already).await.len(), 1);
    assert!(data[1].get("error").is_none());
    // Each item is what the single call answers now (the shared ones: 200, unchanged).
    for (item, id) in data.iter().zip(&ids) {
        let (status, body) = single(&app, &t, "share", id).await;
        assert_eq!(item["status"].as_u64(), Some(u64::from(status)), "{id}");
        let own = if status == 200 {
            &item["result"]
        } else {
            &item["error"]
        };
        assert_eq!(own, &body, "{id}");
    }
    for shared in [ready, already, t.model] {
        assert!(app.catalog.get(shared).is_some());
        assert_eq!(consistent_history(&app.store, shared).await.len(), 1);
    }
    // Unshare back: the two shared ones 200, the validating one 409, as the single call.
    let ids = [ready.to_string(), validating.to_string()];
    let data = items(bulk(&app, &t, "unshare", json!({"modelIds": ids}), &t.key).await).await;
    assert_eq!(data[0]["status"], 200);
    assert_eq!(data[0]["result"]["shared"], false);
    assert_eq!(data[1]["status"], 409);
    assert_eq!(data[1]["error"]["code"], "model_not_shared");
    assert!(app.catalog.get(ready).is_none());
}

#[actix_rt::test]
async fn a_caller_refused_for_every_model_is_refused_once_for_the_whole_call() {
    let app = spawn_app().await;
    let no_feature = app
        .tenant_with(TenantSpec {
            features: Vec::new(),
            ..TenantSpec::default()
        })
        .await;
    let body = json!({"modelIds": [no_feature.model.to_string()]});
    let whole = bulk(&app, &no_feature, "share", body.clone(), &no_feature.key).await;
    let error = assert_error(whole, StatusCode::FORBIDDEN, "feature_not_enabled").await;
    let (_, one) = single(&app, &no_feature, "share", &no_feature.model.to_string()).await;
    assert_eq!(error, one);

    let t = app.tenant().await;
    let member = app.member(&t, Role::Member).await;
    let body = json!({"modelIds": [t.model.to_string()]});
    for action in ["share", "unshare"] {
        let response = bulk(&app, &t, action, body.clone(), &member).await;
        assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    }
    let response = bulk(&app, &t, "share", body.clone(), &no_feature.key).await;
    assert_error(response, StatusCode::NOT_FOUND, "project_not_found").await;
    let response = app
        .client
        .post(app.url(&format!("/{}/v1/models/share", t.project)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(consistent_history(&app.store, t.model).await.is_empty());
}

#[actix_rt::test]
async fn empty_long_or_repeating_lists_and_bad_bodies_are_400() {
    let app = spawn_app().await;
    let t = app
        .tenant_with(TenantSpec {
            features: vec![Feature::ModelSharing],
            ..TenantSpec::default()
        })
        .await;
    let id = t.model.to_string();
    let many: Vec<String> = (0..101).map(|_| ModelId::new().to_string()).collect();
    for body in [
        json!({"modelIds": []}),
        json!({"modelIds": many}),
        json!({"modelIds": [id, id.to_uppercase()]}),
    ] {
        let response = bulk(&app, &t, "share", body, &t.key).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], "modelIds");
    }
    for body in [json!({}), json!({"modelIds": "x"}), json!([id])] {
        let response = bulk(&app, &t, "share", body, &t.key).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert!(consistent_history(&app.store, t.model).await.is_empty());
}

#[actix_rt::test]
async fn a_hundred_models_share_in_one_call_through_group_commit() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            app.model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                .await,
        );
    }
    let body = json!({"modelIds": ids.iter().map(ToString::to_string).collect::<Vec<_>>()});
    let data = items(bulk(&app, &t, "share", body, &t.key).await).await;
    assert_eq!(data.len(), 100);
    assert!(data.iter().all(|i| i["status"] == 200), "{data:?}");
    for id in &ids {
        assert!(app.catalog.get(*id).is_some());
    }
    // The items ran concurrently: their writes were committed in groups.
    assert!(app.store.largest_transition_group() > 1);
}
