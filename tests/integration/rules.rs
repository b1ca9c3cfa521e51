//! Policies operators write themselves: CEL rules from the config files refuse like built-ins,
//! fail closed, show in the dry run, and are swapped whole by a reload under load.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use api::Settings;
use domain::{ModelId, ModelStatus, ProjectId};
use reqwest::StatusCode;
use serde_json::Value;
use storage::NewModel;

use crate::cli::config_dir;
use crate::helpers::{TestApp, assert_error, exclusive, spawn_app_with};

/// The shipped default.toml plus `local` as local.toml, loaded from a temp folder.
pub(crate) fn settings_with(dir: &Path, local: &str) -> Settings {
    std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
    std::fs::write(dir.join("local.toml"), local).unwrap();
    Settings::load(Some(dir)).unwrap()
}

/// A rule table: `[policies.rules.NAME]` refusing with `code` when `expression` is false.
pub(crate) fn rule(name: &str, expression: &str, code: &str, status: u16) -> String {
    format!(
        "[policies.rules.{name}]\napplies_to = [\"share\"]\nexpression = \"{expression}\"\ncode = \"{code}\"\nstatus = {status}\nmessage = \"Refused by {name}.\"\n\n"
    )
}

async fn model(app: &TestApp, project: &ProjectId, license: &str, params: Option<i64>) -> ModelId {
    let id = ModelId::new();
    app.store
        .create_model(NewModel {
            id,
            project_id: project.clone(),
            name: format!("m-{license}"),
            description: String::new(),
            status: ModelStatus::Ready,
            architecture: None,
            parameter_count: params,
            context_length: None,
            license: Some(license.into()),
            tags: vec![],
        })
        .await
        .unwrap();
    id
}

#[actix_rt::test]
async fn rules_refuse_like_builtins_fail_closed_and_show_in_the_dry_run() {
    let local = format!(
        "[policies]\nshare = [\"account_feature\", \"project_role\", \"model_status\", \"no_copyleft\", \"needs_params\", \"project_quota\"]\n\n{}{}{}",
        rule(
            "no_copyleft",
            "!(model.license in ['gpl-3.0', 'agpl-3.0'])",
            "license_not_allowed",
            400
        ),
        // Fails at run time on a model with no parameter count.
        rule(
            "needs_params",
            "model.parameterCount / 1000 > 0",
            "too_small",
            400
        ),
        rule(
            "project_quota",
            "project.sharedModels < 2",
            "project_share_limit_reached",
            403
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let policies = settings_with(dir.path(), &local).policies;
    let app = spawn_app_with(move |s| s.policies = policies).await;
    let t = app.tenant().await;

    let gpl = model(&app, &t.project, "gpl-3.0", Some(7_000)).await;
    let response = app.share(&t.project, &gpl.to_string(), &t.key).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "license_not_allowed").await;
    assert_eq!(error["message"], "Refused by no_copyleft.");
    assert_eq!(error["type"], "invalid_request_error");

    let unsized_model = model(&app, &t.project, "mit", None).await;
    let response = app
        .share(&t.project, &unsized_model.to_string(), &t.key)
        .await;
    let error = assert_error(response, StatusCode::FORBIDDEN, "policy_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("needs_params"),
        "{error}"
    );
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("modelshare_policy_errors_total{policy=\"needs_params\"}"),
        "{metrics}"
    );

    // The dry run lists the rules with the built-ins, in chain order.
    let path = format!("/{}/v1/models/{gpl}/share-eligibility", t.project);
    let body: Value = app.get(&path, Some(&t.key)).await.json().await.unwrap();
    let listed: Vec<(&str, Option<&str>)> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["policy"].as_str().unwrap(), c["code"].as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("account_feature", None),
            ("project_role", None),
            ("model_status", None),
            ("no_copyleft", Some("license_not_allowed")),
            ("needs_params", None),
            ("project_quota", None),
        ]
    );

    // project.sharedModels: two shares pass, the third is refused.
    for _ in 0..2 {
        let ok = model(&app, &t.project, "mit", Some(7_000)).await;
        let response = app.share(&t.project, &ok.to_string(), &t.key).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let third = model(&app, &t.project, "mit", Some(7_000)).await;
    let response = app.share(&t.project, &third.to_string(), &t.key).await;
    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "project_share_limit_reached",
    )
    .await;
}

/// The share chain ending in a rule that refuses every model with `code`.
fn chain_refusing_with(code: &str) -> String {
    format!(
        "[policies]\nshare = [\"account_feature\", \"caller_{code}\", \"project_role\", \"model_status\", \"{code}\"]\n\n{}{}",
        rule(
            &format!("caller_{code}"),
            "caller.role == 'admin'",
            "not_admin",
            403
        ),
        rule(code, "model.name == 'no model has this name'", code, 400),
    )
}

/// Under a running load of shares the chain is swapped: each answer comes from the old chain
/// or the new one, never anything else, and once a caller has seen the new chain it never sees
/// the old one again. A broken configuration is then refused and the new chain stays.
#[actix_rt::test]
async fn a_reload_under_load_swaps_the_chain_whole_and_a_broken_one_is_refused() {
    let _heavy = exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let old = settings_with(dir.path(), &chain_refusing_with("old_chain")).policies;
    let app = Arc::new(spawn_app_with(move |s| s.policies = old).await);
    let t = app.tenant().await;
    let models = [
        t.model,
        app.model_in(&t.project, "b", ModelStatus::Ready).await,
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for i in 0..6 {
        let (app, t, stop) = (Arc::clone(&app), t.clone(), Arc::clone(&stop));
        let model = models[i % 2].to_string();
        callers.push(actix_rt::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) || seen.is_empty() {
                let response = app.share(&t.project, &model, &t.key).await;
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                seen.push((
                    status,
                    body["error"]["code"].as_str().unwrap_or("").to_owned(),
                ));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut next = app.settings.clone();
    next.policies = settings_with(dir.path(), &chain_refusing_with("new_chain")).policies;
    let reloaded = app.reloader.apply(&next).unwrap();
    assert_eq!(reloaded.share.last().map(String::as_str), Some("new_chain"));
    assert!(reloaded.need_restart.is_empty(), "{reloaded:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut olds, mut news) = (0, 0);
    for caller in callers {
        let seen = caller.await.unwrap();
        let mut switched = false;
        for (status, code) in seen {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{code}");
            match code.as_str() {
                "old_chain" => {
                    assert!(!switched, "the old chain answered after the new one");
                    olds += 1;
                }
                "new_chain" => {
                    switched = true;
                    news += 1;
                }
                other => panic!("an answer from neither chain: {other}"),
            }
        }
    }
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");

    let mut broken = app.settings.clone();
    broken.policies = settings_with(
        dir.path(),
        &format!(
            "[policies]\nshare = [\"oops\"]\n\n{}",
            rule("oops", "user.role == 'x'", "x", 400)
        ),
    )
    .policies;
    let err = app.reloader.apply(&broken).unwrap_err().to_string();
    assert!(err.contains("policies.rules.oops.expression"), "{err}");
    let response = app.share(&t.project, &t.model.to_string(), &t.key).await;
    assert_error(response, StatusCode::BAD_REQUEST, "new_chain").await;
}
