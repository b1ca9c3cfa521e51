//! Plugin policies: operators reshape the chains with a config file; engineers add a policy in
//! a few lines; mistakes stop start-up with a message naming them.

use std::path::Path;
use std::sync::Arc;

use api::{Application, Settings};
use async_trait::async_trait;
use auth::{Denial, Policy, PolicyContext, PolicyRegistry, Verdict};
use domain::{ModelStatus, Role};
use reqwest::StatusCode;

use crate::cli::config_dir;
use crate::helpers::{assert_error, spawn_app_with, spawn_app_with_policies, test_settings};

/// A config folder: the shipped default.toml plus a local.toml overlay.
fn overlay(dir: &Path, local: &str) -> Settings {
    std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
    std::fs::write(dir.join("local.toml"), local).unwrap();
    Settings::load(Some(dir)).unwrap()
}

fn with_overlay(local: &'static str) -> impl FnOnce(&mut Settings) {
    move |settings: &mut Settings| {
        let dir = tempfile::tempdir().unwrap();
        let loaded = overlay(dir.path(), local);
        settings.policies = loaded.policies;
    }
}

#[actix_rt::test]
async fn a_config_overlay_lowers_the_role_and_widens_the_statuses() {
    let app = spawn_app_with(with_overlay(
        "[policies.project_role]\nmin_role = \"member\"\n\n[policies.model_status]\nallowed = [\"validating\", \"ready\", \"active\"]\n",
    ))
    .await;
    let t = app.tenant().await;
    let member = app.member(&t, Role::Member).await;
    let validating = app.model_in(&t.project, "v", ModelStatus::Validating).await;
    let response = app
        .share(&t.project, &validating.to_string(), &member)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let viewer = app.member(&t, Role::Viewer).await;
    let response = app.share(&t.project, &t.model.to_string(), &viewer).await;
    let error = assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    assert!(
        error["message"].as_str().unwrap().contains("member"),
        "{error}"
    );
    let failed = app.model_in(&t.project, "f", ModelStatus::Failed).await;
    let response = app.share(&t.project, &failed.to_string(), &t.key).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_model_status").await;
}

#[actix_rt::test]
async fn quota_and_license_policies_can_be_switched_on() {
    let app = spawn_app_with(with_overlay(
        "[policies]\nshare = [\"account_feature\", \"project_role\", \"model_status\", \"require_license\", \"max_shared_models\"]\n\n\
         [policies.max_shared_models]\nlimit = 2\n\n[policies.require_license]\nallowed = [\"apache-2.0\"]\n",
    ))
    .await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    let second = app.model_in(&t.project, "b", ModelStatus::Ready).await;
    app.shared(&t, second).await;
    let third = app.model_in(&t.project, "c", ModelStatus::Ready).await;
    let response = app.share(&t.project, &third.to_string(), &t.key).await;
    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "shared_model_limit_reached",
    )
    .await;
    // Re-sharing a shared model is not a new share.
    assert_eq!(
        app.share(&t.project, &second.to_string(), &t.key)
            .await
            .status(),
        200
    );

    let unlicensed = app
        .store
        .create_model(storage::NewModel {
            id: domain::ModelId::new(),
            project_id: t.project.clone(),
            name: "gpl".into(),
            description: String::new(),
            status: ModelStatus::Ready,
            architecture: None,
            parameter_count: None,
            context_length: None,
            license: Some("gpl-3.0".into()),
            tags: vec![],
        })
        .await
        .unwrap();
    let response = app
        .share(&t.project, &unlicensed.id.to_string(), &t.key)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "license_not_allowed").await;
}

/// The whole of a new policy: one type, one registry line.
struct NoInternalModels;

#[async_trait]
impl Policy for NoInternalModels {
    fn needs_model(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        if ctx.model()?.tags.iter().any(|t| t == "internal") {
            return Err(Denial::custom(
                403,
                "internal_model",
                "Models tagged internal stay private.",
            )
            .into());
        }
        Ok(())
    }
}

#[actix_rt::test]
async fn a_custom_policy_is_one_type_and_one_registry_line() {
    let mut registry = PolicyRegistry::with_builtins();
    registry.register("no_internal_models", |_params| {
        Ok(Arc::new(NoInternalModels))
    });
    let app = spawn_app_with_policies(
        with_overlay("[policies]\nshare = [\"account_feature\", \"project_role\", \"no_internal_models\", \"model_status\"]\n"),
        registry,
    )
    .await;
    let t = app.tenant().await;
    let internal = app
        .store
        .create_model(storage::NewModel {
            id: domain::ModelId::new(),
            project_id: t.project.clone(),
            name: "secret".into(),
            description: String::new(),
            status: ModelStatus::Ready,
            architecture: None,
            parameter_count: None,
            context_length: None,
            license: None,
            tags: vec!["internal".into()],
        })
        .await
        .unwrap();
    let response = app
        .share(&t.project, &internal.id.to_string(), &t.key)
        .await;
    let error = assert_error(response, StatusCode::FORBIDDEN, "internal_model").await;
    assert_eq!(error["type"], "permission_error");
    assert_eq!(
        app.share(&t.project, &t.model.to_string(), &t.key)
            .await
            .status(),
        200
    );
}

async fn start_up_error(local: &'static str) -> String {
    let data = crate::db::TestDb::new();
    let mut settings = test_settings(&data);
    with_overlay(local)(&mut settings);
    match Application::build(settings).await {
        Ok(_) => panic!("start-up should fail for {local}"),
        Err(err) => err.to_string(),
    }
}

#[actix_rt::test]
async fn an_unknown_policy_or_bad_parameter_stops_start_up_naming_it() {
    let err =
        start_up_error("[policies]\nshare = [\"account_feature\", \"no_such_policy\"]\n").await;
    assert!(
        err.contains("no_such_policy") && err.contains("model_status"),
        "{err}"
    );
    let err = start_up_error("[policies.model_status]\nallowed = [\"shiny\"]\n").await;
    assert!(
        err.contains("policies.model_status.allowed") && err.contains("shiny"),
        "{err}"
    );
    let err = start_up_error("[policies.project_role]\nmin_role = \"owner\"\n").await;
    assert!(err.contains("policies.project_role.min_role"), "{err}");
    let err = start_up_error("[policies.project_role]\nmin_rol = \"admin\"\n").await;
    assert!(err.contains("min_rol"), "{err}");
    let err = start_up_error("[policies.not_a_policy]\nx = 1\n").await;
    assert!(err.contains("not_a_policy"), "{err}");
}

#[test]
fn the_binary_refuses_to_serve_with_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    overlay(dir.path(), "");
    std::fs::write(
        dir.path().join("local.toml"),
        "[policies]\nunshare = [\"project_role\", \"bogus\"]\n",
    )
    .unwrap();
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"))
        .env(
            "MODELSHARE__DATABASE__URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display()),
        )
        .env("MODELSHARE__SERVER__PORT", "0")
        .args(["--config", dir.path().to_str().unwrap(), "serve"])
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bogus"), "{stderr}");
}
