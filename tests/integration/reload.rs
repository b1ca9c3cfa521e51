//! The real binary: SIGHUP re-reads the config folder it was started with and swaps the policy
//! chain; a broken file is refused (logged, counted) and the old chain stays; a setting that
//! cannot change live is reported as needing a restart. And the operators' `policies` commands.

use std::path::Path;
use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::config_dir;
use crate::db::TestDb;
use crate::helpers::{Served, connect_store, serve_binary_in, spawn_on};
use crate::rules::rule;
use crate::signals::send_signal;

fn chain(code: &str) -> String {
    format!(
        "[policies]\nshare = [\"account_feature\", \"project_role\", \"model_status\", \"{code}\"]\n\n{}",
        rule(code, "model.name == 'no model has this name'", code, 400)
    )
}

/// Polls `what` every 100 ms for up to 20 s.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn share_code(served: &Served, project: &str, model: &str, key: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/{project}/v1/models/{model}/share", served.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

fn log_of(served: &Served) -> String {
    std::fs::read_to_string(&served.log).unwrap_or_default()
}

#[actix_rt::test]
async fn sighup_swaps_the_chain_and_a_broken_file_leaves_it_in_force() {
    let db = TestDb::sqlite();
    connect_store(&db).await.migrate().await.unwrap();
    let seeding = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = seeding.tenant().await;
    let (project, model) = (t.project.to_string(), t.model.to_string());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        config_dir().join("default.toml"),
        dir.path().join("default.toml"),
    )
    .unwrap();
    let local = dir.path().join("local.toml");
    std::fs::write(&local, chain("first_chain")).unwrap();
    let mut served = serve_binary_in(&db, dir.path(), &[]).await;
    assert_eq!(
        share_code(&served, &project, &model, &t.key).await,
        "first_chain"
    );

    std::fs::write(&local, chain("second_chain")).unwrap();
    send_signal(&served.child, "HUP");
    eventually("the second chain answers", || async {
        share_code(&served, &project, &model, &t.key).await == "second_chain"
    })
    .await;

    std::fs::write(
        &local,
        format!(
            "[policies]\nshare = [\"bad\"]\n\n{}",
            rule("bad", "model.name +", "x", 400)
        ),
    )
    .unwrap();
    send_signal(&served.child, "HUP");
    eventually("the refusal is logged", || async {
        log_of(&served).contains("reload refused")
    })
    .await;
    assert!(
        log_of(&served).contains("policies.rules.bad.expression"),
        "{}",
        log_of(&served)
    );
    assert_eq!(
        share_code(&served, &project, &model, &t.key).await,
        "second_chain"
    );

    // A setting read only at start-up: applied policies, and a line saying it needs a restart.
    std::fs::write(
        &local,
        format!("{}\n[api]\ndefault_page_size = 21\n", chain("third_chain")),
    )
    .unwrap();
    send_signal(&served.child, "HUP");
    eventually("the third chain answers", || async {
        share_code(&served, &project, &model, &t.key).await == "third_chain"
    })
    .await;
    let log = log_of(&served);
    assert!(
        log.contains("take effect only on restart") && log.contains("api"),
        "{log}"
    );
    let metrics = reqwest::get(format!("{}/metrics", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("modelshare_config_reloads_total{outcome=\"applied\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("modelshare_config_reloads_total{outcome=\"refused\"} 1"),
        "{metrics}"
    );

    send_signal(&served.child, "TERM");
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Without a signal: a change of the files is seen within `reload.watch_interval_ms` and put in
/// force; a broken file is refused and the old chain stays.
#[actix_rt::test]
async fn a_change_of_the_files_is_reloaded_without_a_signal() {
    let db = TestDb::sqlite();
    connect_store(&db).await.migrate().await.unwrap();
    let seeding = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = seeding.tenant().await;
    let (project, model) = (t.project.to_string(), t.model.to_string());
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &chain("first_chain"));
    let mut served = serve_binary_in(
        &db,
        dir.path(),
        &[("MODELSHARE__RELOAD__WATCH_INTERVAL_MS", "100")],
    )
    .await;
    assert_eq!(
        share_code(&served, &project, &model, &t.key).await,
        "first_chain"
    );
    std::fs::write(dir.path().join("local.toml"), chain("watched_chain")).unwrap();
    eventually("the watched chain answers", || async {
        share_code(&served, &project, &model, &t.key).await == "watched_chain"
    })
    .await;
    std::fs::write(
        dir.path().join("local.toml"),
        "[policies]\nshare = [\"no_such_policy\"]\n",
    )
    .unwrap();
    eventually("the refusal is logged", || async {
        log_of(&served).contains("reload refused")
    })
    .await;
    assert_eq!(
        share_code(&served, &project, &model, &t.key).await,
        "watched_chain"
    );
    send_signal(&served.child, "TERM");
    assert!(served.child.wait().unwrap().success());
}

fn write_config(dir: &Path, local: &str) {
    std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
    std::fs::write(dir.join("local.toml"), local).unwrap();
}

/// `modelshare --config DIR ARGS…` against the scratch folder's database.
fn run(cli: &crate::cli::Cli, dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"))
        .current_dir(cli.path())
        .env("MODELSHARE__DATABASE__URL", cli.db_url())
        .env_remove("MODELSHARE_ENV")
        .arg("--config")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn policies_check_compiles_every_rule_and_eval_prints_each_verdict() {
    let cli = crate::cli::Cli::new();
    let dir = cli.path().join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    write_config(
        &dir,
        &format!(
            "[policies]\nshare = [\"account_feature\", \"project_role\", \"no_copyleft\"]\n\n{}",
            rule(
                "no_copyleft",
                "!(model.license in ['gpl-3.0'])",
                "license_not_allowed",
                400
            )
        ),
    );
    let out = run(&cli, &dir, &["--json", "policies", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["share"][2], "no_copyleft");

    let model = dir.join("model.json");
    let caller = dir.join("caller.json");
    std::fs::write(
        &model,
        r#"{"name":"m","license":"gpl-3.0","tags":["reviewed"]}"#,
    )
    .unwrap();
    std::fs::write(
        &caller,
        r#"{"role":"member","projectId":"proj_ACME01","accountId":"0190a0f0-0000-7000-8000-000000000001","features":["model_sharing"]}"#,
    )
    .unwrap();
    let args = [
        "--json",
        "policies",
        "eval",
        "--action",
        "share",
        "--model-json",
        model.to_str().unwrap(),
        "--caller-json",
        caller.to_str().unwrap(),
    ];
    let out = run(&cli, &dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<(&str, bool, Option<&str>)> = eval["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let policy = c["policy"].as_str().unwrap();
            (policy, c["passed"].as_bool().unwrap(), c["code"].as_str())
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("account_feature", true, None),
            ("project_role", false, Some("permission_denied")),
            ("no_copyleft", false, Some("license_not_allowed")),
        ]
    );
    assert_eq!(eval["allowed"], false);

    let not_bool = rule("r", "model.tags.size()", "c", 400);
    write_config(&dir, &format!("[policies]\nshare = [\"r\"]\n\n{not_bool}"));
    for command in [&["policies", "check"][..], &["serve"][..]] {
        let out = run(&cli, &dir, command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("policies.rules.r.expression: must return a bool"),
            "{command:?}: {stderr}"
        );
    }
}
