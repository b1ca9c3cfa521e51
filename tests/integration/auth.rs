//! Key authentication: missing, malformed, unknown, revoked, other project, non-member.

use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app};

#[actix_rt::test]
async fn a_valid_key_reads_its_projects_models() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app
        .get_model(&t.project, &t.model.to_string(), &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["id"], t.model.to_string());
}

#[actix_rt::test]
async fn no_authorization_header_is_401_authentication_required() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app.get(&format!("/{}/v1/models", t.project), None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "authentication_required",
    )
    .await;
}

#[actix_rt::test]
async fn malformed_keys_are_401_invalid_api_key() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let url = app.url(&format!("/{}/v1/models", t.project));
    let secret = t.key.rsplit('_').next().unwrap().to_owned();
    for header in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {}", t.key),
        format!("Bearer {}x", t.key),
        format!("Bearer xero_{}_{}", t.slug, &secret[1..]),
        format!("Bearer other_{}_{secret}", t.slug),
        "Bearer not-a-key".to_owned(),
    ] {
        let response = app
            .client
            .get(&url)
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    }
}

#[actix_rt::test]
async fn an_unknown_well_formed_key_is_401() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let forged = format!("xero_{}_{}", t.slug, "A".repeat(43));
    let response = app.list_models(&t.project, "", &forged).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
}

#[actix_rt::test]
async fn a_revoked_key_is_401() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    assert_eq!(
        app.list_models(&t.project, "", &t.key).await.status(),
        StatusCode::OK
    );
    app.store.revoke_api_key(t.key_id).await.unwrap();
    let response = app.list_models(&t.project, "", &t.key).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
}

#[actix_rt::test]
async fn a_key_of_a_user_removed_from_the_project_is_401() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    app.store
        .remove_membership(&t.project, t.user)
        .await
        .unwrap();
    let response = app.list_models(&t.project, "", &t.key).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
}

#[actix_rt::test]
async fn another_projects_key_gets_project_not_found_and_learns_nothing() {
    let app = spawn_app().await;
    let victim = app.tenant().await;
    let intruder = app.tenant().await;
    let existing = app.list_models(&victim.project, "", &intruder.key).await;
    let existing = assert_error(existing, StatusCode::NOT_FOUND, "project_not_found").await;
    let missing = app
        .list_models(&"proj_DOESNOTEXIST".parse().unwrap(), "", &intruder.key)
        .await;
    let missing = assert_error(missing, StatusCode::NOT_FOUND, "project_not_found").await;
    assert_eq!(
        existing, missing,
        "the body must not reveal whether the project exists"
    );
    let model = app
        .get_model(&victim.project, &victim.model.to_string(), &intruder.key)
        .await;
    assert_error(model, StatusCode::NOT_FOUND, "project_not_found").await;
}

#[actix_rt::test]
async fn a_malformed_project_id_is_project_not_found() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let response = app.get("/not-a-project/v1/models", Some(&t.key)).await;
    assert_error(response, StatusCode::NOT_FOUND, "project_not_found").await;
}

#[actix_rt::test]
async fn authentication_is_checked_before_the_project() {
    let app = spawn_app().await;
    let response = app.get("/proj_DOESNOTEXIST/v1/models", None).await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "authentication_required",
    )
    .await;
}

#[actix_rt::test]
async fn keys_are_stored_hashed() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let lookup = app
        .store
        .find_key_by_hash(&auth::hash_key(&t.key))
        .await
        .unwrap()
        .expect("found by hash");
    assert_eq!(lookup.key.id, t.key_id);
    assert!(t.key.starts_with(&lookup.key.display_prefix));
    assert!(lookup.key.display_prefix.len() < t.key.len() - 32);
}
