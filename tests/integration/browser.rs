//! The catalog web pages in a real browser (headless Chromium). Here: shared models are on
//! `/catalog`, unshared ones are not, user text is shown as text. In the submodules, through
//! puppeteer-core and axe-core (`tests/browser/`): a real click on a facet narrows the list and
//! its counts ([`facets`]), the model page's snippets create an endpoint when run ([`snippets`]),
//! no serious or critical accessibility violation on either page, and their screenshots
//! ([`audit`]).

mod audit;
mod driver;
mod facets;
mod fixture;
mod snippets;

use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::{ModelId, ModelStatus};
use reqwest::StatusCode;
use storage::NewModel;
use tokio::process::Command;

use crate::helpers::{Tenant, TestApp, spawn_app};

pub(crate) fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

async fn headless(browser: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("chromium finished in time")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn model(
    app: &TestApp,
    t: &Tenant,
    name: &str,
    description: &str,
    arch: &str,
    params: i64,
    tags: &[&str],
) -> ModelId {
    let id = ModelId::new();
    app.store
        .create_model(NewModel {
            id,
            project_id: t.project.clone(),
            name: name.into(),
            description: description.into(),
            status: ModelStatus::Ready,
            architecture: Some(arch.into()),
            parameter_count: Some(params),
            context_length: Some(8192),
            license: Some("apache-2.0".into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
        .await
        .unwrap();
    id
}

#[actix_rt::test]
async fn the_catalog_page_shows_shared_models_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Chromium (.ci/run does)"
        );
        eprintln!("skipped: Chromium is not installed (apt-get install chromium; CI installs it)");
        return;
    };
    let app = spawn_app().await;
    let t = app.tenant().await;
    let shown = [
        model(
            &app,
            &t,
            "llama-3-8b-instruct",
            "Chat model, 8B parameters.",
            "llama",
            8_030_000_000,
            &["chat", "instruct"],
        )
        .await,
        model(
            &app,
            &t,
            "mistral-7b-v0.3",
            "Fast general-purpose model.",
            "mistral",
            7_240_000_000,
            &["general"],
        )
        .await,
        model(
            &app,
            &t,
            "codellama-13b",
            "Code completion and infilling.",
            "llama",
            13_000_000_000,
            &["code"],
        )
        .await,
        model(
            &app,
            &t,
            "<script>alert(1)</script>",
            "Names are <b>text</b>, not markup.",
            "qwen",
            1_500_000_000,
            &["<i>tag</i>"],
        )
        .await,
    ];
    for id in shown {
        app.shared(&t, id).await;
    }
    let hidden = model(
        &app,
        &t,
        "private-finetune",
        "Never shared.",
        "llama",
        8_000_000_000,
        &[],
    )
    .await;
    let withdrawn = model(
        &app,
        &t,
        "withdrawn-model",
        "Shared, then unshared.",
        "llama",
        8_000_000_000,
        &[],
    )
    .await;
    app.shared(&t, withdrawn).await;
    assert_eq!(
        app.unshare(&t.project, &withdrawn.to_string(), &t.key)
            .await
            .status(),
        StatusCode::OK
    );
    let slug = "page-demo";
    assert_eq!(
        app.create_endpoint(&t.project, slug, &shown[0].to_string(), &t.key)
            .await
            .status(),
        201
    );

    let url = app.url("/catalog");
    let dom = headless(&browser, &["--dump-dom", &url]).await;
    for name in ["llama-3-8b-instruct", "mistral-7b-v0.3", "codellama-13b"] {
        assert!(dom.contains(name), "{name} missing from the page");
    }
    for id in shown {
        assert!(
            dom.contains(&format!("data-model-id=\"{id}\"")),
            "card of {id} missing"
        );
    }
    assert!(!dom.contains("private-finetune") && !dom.contains(&hidden.to_string()));
    assert!(!dom.contains("withdrawn-model") && !dom.contains(&withdrawn.to_string()));
    // User text is text: the browser saw no script or bold element from it.
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the model name was not escaped"
    );
    assert!(!dom.contains("<script>alert(1)</script>"));
    assert!(dom.contains("&lt;b&gt;text&lt;/b&gt;") && dom.contains("&lt;i&gt;tag&lt;/i&gt;"));
    // Each card links to its model's page.
    for id in shown {
        assert!(
            dom.contains(&format!("href=\"/catalog/models/{id}\"")),
            "no link to the page of {id}"
        );
    }

    // The filters work through the form's query string, and so does paging.
    let filtered = headless(
        &browser,
        &["--dump-dom", &format!("{url}?architecture=llama&sort=name")],
    )
    .await;
    assert!(filtered.contains("codellama-13b") && filtered.contains("llama-3-8b-instruct"));
    assert!(!filtered.contains("mistral-7b-v0.3"));
    let first = headless(
        &browser,
        &["--dump-dom", &format!("{url}?limit=2&sort=name")],
    )
    .await;
    assert!(first.contains("Next page"), "no next link");

    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target).unwrap();
    let shot = target.join("catalog-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &browser,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1100",
            "--hide-scrollbars",
            &url,
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot"
    );
    println!("screenshot: {}", shot.display());
}
