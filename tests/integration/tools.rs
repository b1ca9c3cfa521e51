//! Sharing tools that write nothing: a share-eligibility dry run lists every check of the chain,
//! and an unshare's impact is told as counts that name no other tenant.

use domain::{Feature, ModelStatus, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TenantSpec, TestApp, assert_error, consistent_history, spawn_app, spawn_app_with,
};
use crate::policies::with_overlay;

/// The share chain with a policy added by configuration (`require_license`).
const WITH_LICENSES: &str = "[policies]\nshare = [\"account_feature\", \"project_role\", \"model_status\", \"require_license\"]\n\n[policies.require_license]\nallowed = [\"mit\"]\n";

async fn eligibility(app: &TestApp, project: &str, model: &str, query: &str, key: &str) -> Value {
    let path = format!("/{project}/v1/models/{model}/share-eligibility{query}");
    let response = app.get(&path, Some(key)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// `(policy, passed, code)` of each check, in order.
fn checks(body: &Value) -> Vec<(String, bool, Option<String>)> {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["policy"].as_str().unwrap().to_owned(),
                c["passed"].as_bool().unwrap(),
                c["code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn a_model_failing_three_checks_lists_all_three_and_nothing_is_written() {
    let app = spawn_app_with(with_overlay(WITH_LICENSES)).await;
    // No feature, a member's key, a model still validating, a license the chain refuses.
    let t = app
        .tenant_with(TenantSpec {
            features: Vec::new(),
            role: Role::Member,
            model_status: ModelStatus::Validating,
        })
        .await;
    let model = t.model.to_string();
    let version = app.store.get_model(t.model).await.unwrap().unwrap().version;
    let actors = app.catalog.registered_actors();

    let body = eligibility(&app, t.project.as_str(), &model, "", &t.key).await;
    assert_eq!(body["modelId"], json!(model));
    assert_eq!(body["action"], "share");
    assert_eq!(body["eligible"], false);
    let code = |c: &str| Some(c.to_owned());
    assert_eq!(
        checks(&body),
        vec![
            ("account_feature".into(), false, code("feature_not_enabled")),
            ("project_role".into(), false, code("permission_denied")),
            ("model_status".into(), false, code("invalid_model_status")),
            ("require_license".into(), false, code("license_not_allowed")),
        ]
    );
    assert!(body["checks"][0]["message"].as_str().unwrap().len() > 10);
    // A dry run: the model, its history and the actors are as they were.
    let after = app.store.get_model(t.model).await.unwrap().unwrap();
    assert_eq!(after.version, version);
    assert!(!after.shared);
    assert!(consistent_history(&app.store, t.model).await.is_empty());
    assert_eq!(app.catalog.registered_actors(), actors);
}

#[actix_rt::test]
async fn an_eligible_model_passes_every_check_of_either_chain() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let model = t.model.to_string();
    let project = t.project.as_str();

    let share = eligibility(&app, project, &model, "?action=share", &t.key).await;
    assert_eq!(share["eligible"], true);
    let passed = checks(&share);
    assert!(passed.len() >= 3, "{passed:?}");
    assert!(passed.iter().all(|(_, ok, code)| *ok && code.is_none()));
    assert!(share["checks"][0]["message"].is_null());

    // An unshare of a model that is not shared: the chain's currently_shared says no.
    let unshare = eligibility(&app, project, &model, "?action=unshare", &t.key).await;
    assert_eq!(unshare["eligible"], false);
    let refused: Vec<_> = checks(&unshare).into_iter().filter(|c| !c.1).collect();
    assert_eq!(
        refused,
        vec![(
            "currently_shared".into(),
            false,
            Some("model_not_shared".into())
        )]
    );
    // Any role may ask; the answer is the chain's for that caller.
    let viewer = app.member(&t, Role::Viewer).await;
    let as_viewer = eligibility(&app, project, &model, "", &viewer).await;
    assert_eq!(as_viewer["eligible"], false);
    assert!(checks(&as_viewer).contains(&(
        "project_role".into(),
        false,
        Some("permission_denied".into())
    )));
    // Shared now: a share would answer 200 (unchanged), an unshare would pass.
    assert_eq!(app.share(&t.project, &model, &t.key).await.status(), 200);
    let again = eligibility(&app, project, &model, "", &t.key).await;
    assert_eq!(again["eligible"], true);
    let unshare = eligibility(&app, project, &model, "?action=unshare", &t.key).await;
    assert_eq!(unshare["eligible"], true);
}

#[actix_rt::test]
async fn eligibility_refuses_what_the_caller_cannot_see_and_bad_actions() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let path = |project: &str, model: &str, query: &str| {
        format!("/{project}/v1/models/{model}/share-eligibility{query}")
    };
    let own = t.model.to_string();
    // Another tenant's model, a model that does not exist, an id that is no UUID: all 404.
    for model in [
        other.model.to_string(),
        uuid::Uuid::new_v4().to_string(),
        "nope".into(),
    ] {
        let response = app
            .get(&path(t.project.as_str(), &model, ""), Some(&t.key))
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    }
    let response = app
        .get(&path(other.project.as_str(), &own, ""), Some(&t.key))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "project_not_found").await;
    let response = app.get(&path(t.project.as_str(), &own, ""), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .get(
            &path(t.project.as_str(), &own, "?action=delete"),
            Some(&t.key),
        )
        .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "action");
}

#[actix_rt::test]
async fn unshare_impact_counts_endpoints_without_naming_other_tenants() {
    let app = spawn_app().await;
    let owner = app.tenant().await;
    let model = owner.model.to_string();
    assert_eq!(
        app.share(&owner.project, &model, &owner.key).await.status(),
        200
    );
    let first = app.tenant().await;
    let second = app
        .tenant_with(TenantSpec {
            features: vec![Feature::ModelSharing],
            ..TenantSpec::default()
        })
        .await;
    for (tenant, slugs) in [
        (&owner, &["own-a", "own-b"][..]),
        (&first, &["first-a", "first-b", "first-c"][..]),
        (&second, &["second-a"][..]),
    ] {
        for slug in slugs {
            let response = app
                .create_endpoint(&tenant.project, slug, &model, &tenant.key)
                .await;
            assert_eq!(response.status(), StatusCode::CREATED, "{slug}");
        }
    }

    let path = format!("/{}/v1/models/{model}/unshare-impact", owner.project);
    let response = app.get(&path, Some(&owner.key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body,
        json!({
            "modelId": model,
            "shared": true,
            "endpoints": {"total": 6, "ownProject": 2, "otherProjects": 4},
            "projectsAffected": 2,
        })
    );
    for named in [first.project.as_str(), second.project.as_str()] {
        assert!(!text.contains(named), "{text}");
    }
    // Any role of the owner's project may ask; another tenant may not.
    let viewer = app.member(&owner, Role::Viewer).await;
    assert_eq!(app.get(&path, Some(&viewer)).await.status(), StatusCode::OK);
    let theirs = format!("/{}/v1/models/{model}/unshare-impact", first.project);
    let response = app.get(&theirs, Some(&first.key)).await;
    assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    // Nothing written: still shared, one event.
    assert_eq!(consistent_history(&app.store, owner.model).await.len(), 1);
}

#[actix_rt::test]
async fn the_rule_no_configuration_removes_is_listed_when_the_chain_leaves_it_out() {
    let app = spawn_app_with(with_overlay("[policies]\nunshare = [\"project_role\"]\n")).await;
    let t = app.tenant().await;
    let model = t.model.to_string();
    let body = eligibility(&app, t.project.as_str(), &model, "?action=unshare", &t.key).await;
    assert_eq!(body["eligible"], false);
    assert_eq!(
        checks(&body),
        vec![
            ("project_role".into(), true, None),
            (
                "currently_shared".into(),
                false,
                Some("model_not_shared".into())
            ),
        ]
    );
    // The call itself agrees.
    let response = app.unshare(&t.project, &model, &t.key).await;
    assert_error(response, StatusCode::CONFLICT, "model_not_shared").await;
}
