//! Plugin policies: operators reshape the chains with a config file; engineers add a policy in
//! a few lines; mistakes stop start-up with a message naming them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{Application, Settings};
use async_trait::async_trait;
use auth::{CustomStatus, Denial, Policy, PolicyContext, PolicyRegistry, Verdict};
use domain::{ModelId, ModelStatus, Role};
use reqwest::StatusCode;

use crate::cli::config_dir;
use crate::db::TestDb;
use crate::helpers::{
    TestApp, assert_error, spawn_app_with, spawn_app_with_policies, spawn_on, test_settings,
};

/// A config folder: the shipped default.toml plus a local.toml overlay.
fn overlay(dir: &Path, local: &str) -> Settings {
    std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
    std::fs::write(dir.join("local.toml"), local).unwrap();
    Settings::load(Some(dir)).unwrap()
}

pub(crate) fn with_overlay(local: &'static str) -> impl FnOnce(&mut Settings) {
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

/// The share chain with a quota of two shared models per account.
const QUOTA_OF_TWO: &str = "[policies]\nshare = [\"account_feature\", \"project_role\", \"model_status\", \"max_shared_models\"]\n\n[policies.max_shared_models]\nlimit = 2\n";

/// Shares `n` models of one account at once, spread over `apps` (instances on one database),
/// and checks the quota of two held: exactly two answered 200 and are shared in the database
/// and in every instance's catalog; every other share got the policy's own refusal.
async fn quota_holds_under(apps: &[Arc<TestApp>], n: usize) {
    let t = apps[0].tenant().await;
    let mut models = vec![t.model];
    for i in 1..n {
        models.push(
            apps[0]
                .model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                .await,
        );
    }
    let tasks: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let app = Arc::clone(&apps[i % apps.len()]);
            let (project, model, key) = (t.project.clone(), *model, t.key.clone());
            actix_rt::spawn(async move {
                let response = app.share(&project, &model.to_string(), &key).await;
                (model, response)
            })
        })
        .collect();
    let mut answered_ok = BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        let (model, response) = task.await.unwrap();
        if response.status() == StatusCode::OK {
            answered_ok.insert(model);
            continue;
        }
        let error = assert_error(
            response,
            StatusCode::FORBIDDEN,
            "shared_model_limit_reached",
        )
        .await;
        // The refusal the policy's own check gives, word for word.
        assert_eq!(error["type"], "permission_error");
        assert_eq!(
            error["message"],
            "Your account already shares 2 models, the most it may share (2). Unshare one first."
        );
        refused += 1;
    }
    assert_eq!(
        (answered_ok.len(), refused),
        (2, n - 2),
        "{n} concurrent shares with a quota of 2"
    );
    let in_db: BTreeSet<ModelId> = apps[0]
        .store
        .list_catalog()
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.model.id)
        .collect();
    assert_eq!(in_db, answered_ok, "shared in the database");
    assert_eq!(
        apps[0]
            .store
            .count_shared_models_in_account(t.account)
            .await
            .unwrap(),
        2
    );
    for model in &models {
        let events = crate::helpers::consistent_history(&apps[0].store, *model).await;
        assert_eq!(events.len(), usize::from(answered_ok.contains(model)));
    }
    // Each instance's catalog: its own shares at once, the others' through the outbox.
    let started = Instant::now();
    for app in apps {
        loop {
            let in_catalog: BTreeSet<ModelId> = app.catalog.shared_ids().into_iter().collect();
            if in_catalog == answered_ok {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "catalog {in_catalog:?}, shared {answered_ok:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn one_instance_with_a_quota_of_two() -> Arc<TestApp> {
    Arc::new(spawn_app_with(with_overlay(QUOTA_OF_TWO)).await)
}

#[actix_rt::test]
async fn the_quota_holds_for_ten_concurrent_shares() {
    let app = one_instance_with_a_quota_of_two().await;
    quota_holds_under(&[app], 10).await;
}

#[actix_rt::test]
async fn the_quota_holds_for_fifty_concurrent_shares() {
    let app = one_instance_with_a_quota_of_two().await;
    quota_holds_under(&[app], 50).await;
}

#[actix_rt::test]
async fn the_quota_holds_across_two_instances_on_one_database() {
    let db = TestDb::new();
    let a = spawn_on(
        &db,
        with_overlay(QUOTA_OF_TWO),
        PolicyRegistry::with_builtins(),
    )
    .await;
    let b = spawn_on(
        &db,
        with_overlay(QUOTA_OF_TWO),
        PolicyRegistry::with_builtins(),
    )
    .await;
    quota_holds_under(&[Arc::new(a), Arc::new(b)], 50).await;
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
                CustomStatus::Forbidden,
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
