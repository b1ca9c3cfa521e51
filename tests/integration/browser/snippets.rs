//! The model page: what it shows, its 404 page, and its curl and Python snippets, taken from the
//! page as Chromium renders it and run, which create an endpoint in the reader's own project.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use super::driver::driver;
use super::fixture::small_catalog;
use crate::helpers::{Tenant, TestApp, spawn_app};

/// Runs `program` with `args` as `reader` would: their project and key in the environment.
async fn run_as(reader: &Tenant, program: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("PROJECT_ID", reader.project.to_string())
        .env("MODELSHARE_API_KEY", &reader.key)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the snippet finished in time")
        .unwrap_or_else(|err| panic!("{program} runs: {err}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The reader's endpoints, as the API lists them.
async fn endpoints_of(app: &TestApp, reader: &Tenant) -> Vec<Value> {
    let response = app
        .get(
            &format!("/{}/v1/endpoints", reader.project),
            Some(&reader.key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

#[actix_rt::test]
async fn the_model_pages_snippets_create_an_endpoint_when_run() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let fixture = small_catalog(&app).await;
    let model = fixture.id("mistral-7b-v0.3");
    let url = app.url(&format!("/catalog/models/{model}"));

    // The page shows what one checks before deploying.
    let html = app
        .get(&format!("/catalog/models/{model}"), None)
        .await
        .text()
        .await
        .unwrap();
    for fact in [
        "<h1>mistral-7b-v0.3</h1>",
        "mistral-7b-v0.3: a mistral model for chat.",
        "7.2B (7,240,000,000)",
        "32K tokens (32,768)",
        "apache-2.0",
        ">chat</a>",
        "Shared since",
        fixture.owner.project.as_ref(),
    ] {
        assert!(html.contains(fact), "{fact:?} missing from the model page");
    }

    // The curl snippet, as the browser renders it, run by bash as a reader in another project.
    let reader = app.tenant().await;
    let curl = driver
        .run("text", json!({"url": url, "selector": "#curl-snippet"}))
        .await;
    assert_eq!(curl["status"], 200);
    let curl = curl["text"].as_str().unwrap();
    assert!(curl.starts_with("curl "), "{curl}");
    assert!(
        curl.contains(&format!("{}/$PROJECT_ID/v1/endpoints", app.base)),
        "{curl}"
    );
    assert!(curl.contains("Bearer $MODELSHARE_API_KEY"), "{curl}");
    assert!(!curl.contains(&reader.key), "a key in the page");
    let (ok, stdout, stderr) = run_as(&reader, "bash", &["-c", curl]).await;
    assert!(ok, "the curl snippet failed: {stderr}");
    let created: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("the curl snippet's answer is no JSON: {stdout}"));
    assert_eq!(created["slug"], "my-endpoint", "{created}");
    assert_eq!(created["modelId"], model.as_str());
    assert_eq!(created["status"], "active");
    let listed = endpoints_of(&app, &reader).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    // The page counts it.
    let html = app
        .get(&format!("/catalog/models/{model}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<dt>Endpoints</dt><dd>1</dd>"),
        "endpoint count"
    );

    // The Python snippet does the same (requests: .ci/run installs it).
    let python = driver
        .run("text", json!({"url": url, "selector": "#python-snippet"}))
        .await;
    let python = python["text"].as_str().unwrap();
    let has_requests = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|out| out.status.success());
    if has_requests {
        let reader = app.tenant().await;
        let (ok, stdout, stderr) = run_as(&reader, "python3", &["-c", python]).await;
        assert!(ok, "the Python snippet failed: {stderr}");
        assert!(stdout.contains(&model), "{stdout}");
        let listed = endpoints_of(&app, &reader).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["modelId"], model.as_str());
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must install requests");
        eprintln!("the Python snippet was not run: no requests module");
    }
}

#[actix_rt::test]
async fn a_model_that_is_not_shared_has_a_404_page() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let unshared = t.model.to_string();
    let shared = app.tenant().await;
    app.shared(&shared, shared.model).await;
    assert_eq!(
        app.unshare(&shared.project, &shared.model.to_string(), &shared.key)
            .await
            .status(),
        StatusCode::OK
    );
    for id in [
        unshared,
        shared.model.to_string(),
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
    ] {
        let response = app.get(&format!("/catalog/models/{id}"), None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>Model not found</h1>"), "{html}");
        assert!(html.contains("href=\"/catalog\""));
    }
}
