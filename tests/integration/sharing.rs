//! Share and unshare: bodies, idempotence, 409, the check order, share history.

use domain::{Feature, ModelStatus, Role};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TenantSpec, assert_error, spawn_app};

fn is_wire_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 20 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
    })
}

#[actix_rt::test]
async fn share_then_unshare_answers_the_contract_bodies() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let model = t.model.to_string();

    let body: Value = app.shared(&t, t.model).await;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3, "{body}");
    assert_eq!(body["modelId"], model);
    assert_eq!(body["shared"], true);
    assert!(is_wire_timestamp(&body["sharedAt"]), "{body}");
    assert!(
        app.catalog.get(t.model).is_some(),
        "the catalog shows the shared model at once"
    );

    let response = app.unshare(&t.project, &model, &t.key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(body["modelId"], model);
    assert_eq!(body["shared"], false);
    assert!(is_wire_timestamp(&body["unsharedAt"]), "{body}");
    assert!(app.catalog.get(t.model).is_none());

    let owner_view: Value = app
        .get_model(&t.project, &model, &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(owner_view["shared"], false);
    assert_eq!(owner_view["unsharedAt"], body["unsharedAt"]);
    assert!(
        is_wire_timestamp(&owner_view["sharedAt"]),
        "the owner still sees when it was shared"
    );
}

#[actix_rt::test]
async fn sharing_twice_keeps_the_original_shared_at_and_writes_no_event() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let first = app.shared(&t, t.model).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = app.shared(&t, t.model).await;
    assert_eq!(first["sharedAt"], second["sharedAt"]);
    let events = app
        .store
        .list_share_events(t.model, None, 100)
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);
}

#[actix_rt::test]
async fn unsharing_a_model_that_is_not_shared_is_409() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app.unshare(&t.project, &t.model.to_string(), &t.key).await;
    assert_error(response, StatusCode::CONFLICT, "model_not_shared").await;
    app.shared(&t, t.model).await;
    assert_eq!(
        app.unshare(&t.project, &t.model.to_string(), &t.key)
            .await
            .status(),
        200
    );
    let again = app.unshare(&t.project, &t.model.to_string(), &t.key).await;
    let error = assert_error(again, StatusCode::CONFLICT, "model_not_shared").await;
    assert_eq!(error["type"], "conflict_error");
}

#[actix_rt::test]
async fn share_checks_run_in_the_contract_order() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // No feature: 403 feature_not_enabled, even for a viewer and an unknown model.
    let t = app
        .tenant_with(TenantSpec {
            features: vec![],
            role: Role::Viewer,
            model_status: ModelStatus::Uploading,
        })
        .await;
    for model in [unknown.as_str(), "not-a-uuid", &t.model.to_string()] {
        let response = app.share(&t.project, model, &t.key).await;
        let error = assert_error(response, StatusCode::FORBIDDEN, "feature_not_enabled").await;
        assert_eq!(error["type"], "permission_error");
    }

    // Feature on, role too low: 403 permission_denied before the model is looked at.
    for role in [Role::Viewer, Role::Member] {
        let t = app
            .tenant_with(TenantSpec {
                role,
                model_status: ModelStatus::Uploading,
                ..TenantSpec::default()
            })
            .await;
        for model in [unknown.as_str(), "not-a-uuid", &t.model.to_string()] {
            let response = app.share(&t.project, model, &t.key).await;
            assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
        }
    }

    // Admin: 404 for a model that is not there, 400 for a status that may not be shared.
    let t = app
        .tenant_with(TenantSpec {
            model_status: ModelStatus::Uploading,
            ..TenantSpec::default()
        })
        .await;
    for model in [unknown.as_str(), "not-a-uuid"] {
        let response = app.share(&t.project, model, &t.key).await;
        assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    }
    let response = app.share(&t.project, &t.model.to_string(), &t.key).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_model_status").await;
    assert_eq!(error["type"], "invalid_request_error");

    for status in [
        ModelStatus::Validating,
        ModelStatus::Failed,
        ModelStatus::Archived,
    ] {
        app.store.set_model_status(t.model, status).await.unwrap();
        let response = app.share(&t.project, &t.model.to_string(), &t.key).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_model_status").await;
    }
    for status in [ModelStatus::Ready, ModelStatus::Active] {
        let model = app.model_in(&t.project, "ok", status).await;
        app.shared(&t, model).await;
    }
}

#[actix_rt::test]
async fn unshare_needs_admin_but_not_the_feature() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    let member = app.member(&t, Role::Member).await;
    let response = app.unshare(&t.project, &t.model.to_string(), &member).await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;

    // The account loses the feature: it can no longer share, but can still withdraw.
    app.store
        .set_account_feature(t.account, Feature::ModelSharing, false)
        .await
        .unwrap();
    let other = app.model_in(&t.project, "other", ModelStatus::Ready).await;
    let response = app.share(&t.project, &other.to_string(), &t.key).await;
    assert_error(response, StatusCode::FORBIDDEN, "feature_not_enabled").await;
    let response = app.unshare(&t.project, &t.model.to_string(), &t.key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.unshare(&t.project, "not-a-uuid", &t.key).await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
}

#[actix_rt::test]
async fn share_accepts_any_body_or_none() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let url = app.url(&format!("/{}/v1/models/{}/share", t.project, t.model));
    for body in ["", "{}", "not json at all", "{\"shared\": false}"] {
        let response = app
            .client
            .post(&url)
            .bearer_auth(&t.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "body {body:?}");
    }
}

#[actix_rt::test]
async fn the_share_history_records_who_how_and_which_request_newest_first() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let model = t.model.to_string();
    for (i, path) in ["share", "unshare", "share", "unshare", "share"]
        .iter()
        .enumerate()
    {
        let response = app
            .client
            .post(app.url(&format!("/{}/v1/models/{model}/{path}", t.project)))
            .bearer_auth(&t.key)
            .header("x-request-id", format!("req-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app
        .share_events(&t.project, &model, "?limit=2", &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(page["hasMore"], true);
    assert_eq!(data[0]["action"], "share");
    assert_eq!(data[0]["requestId"], "req-4");
    assert_eq!(data[1]["action"], "unshare");
    assert_eq!(data[1]["requestId"], "req-3");
    assert_eq!(data[0]["actorUserId"], t.user.to_string());
    assert_eq!(data[0]["apiKeyId"], t.key_id.to_string());
    assert!(is_wire_timestamp(&data[0]["at"]));
    assert!(data[0]["id"].as_i64().unwrap() > data[1]["id"].as_i64().unwrap());

    let mut all: Vec<Value> = data.clone();
    let mut cursor = page["nextCursor"].as_str().unwrap().to_owned();
    loop {
        let page: Value = app
            .share_events(
                &t.project,
                &model,
                &format!("?limit=2&after={cursor}"),
                &t.key,
            )
            .await
            .json()
            .await
            .unwrap();
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let ids: Vec<&str> = all
        .iter()
        .map(|e| e["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req-4", "req-3", "req-2", "req-1", "req-0"]);

    // Any role may read the history.
    let viewer = app.member(&t, Role::Viewer).await;
    assert_eq!(
        app.share_events(&t.project, &model, "", &viewer)
            .await
            .status(),
        StatusCode::OK
    );
    let response = app
        .share_events(&t.project, &model, "?limit=0", &t.key)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app.share_events(&t.project, "nope", "", &t.key).await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
}

#[actix_rt::test]
async fn the_audit_trail_keeps_the_servers_request_id_next_to_the_clients() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let with_id = app
        .client
        .post(app.url(&format!("/{}/v1/models/{}/share", t.project, t.model)))
        .bearer_auth(&t.key)
        .header("x-request-id", "client-chosen-1")
        .send()
        .await
        .unwrap();
    assert_eq!(with_id.status(), StatusCode::OK);
    assert_eq!(with_id.headers()["x-request-id"], "client-chosen-1");
    let without = app.unshare(&t.project, &t.model.to_string(), &t.key).await;
    assert_eq!(without.status(), StatusCode::OK);
    let echoed = without.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let events: serde_json::Value = app
        .share_events(&t.project, &t.model.to_string(), "", &t.key)
        .await
        .json()
        .await
        .unwrap();
    let events = events["data"].as_array().unwrap();
    // Newest first: the unshare, then the share.
    assert_eq!(events[0]["requestId"], echoed.as_str());
    assert_eq!(events[0]["serverRequestId"], echoed.as_str());
    assert_eq!(events[1]["requestId"], "client-chosen-1");
    let server = events[1]["serverRequestId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(server).is_ok(), "{server}");
}
