//! axe-core in Chromium finds no serious or critical accessibility violation on the catalog
//! page (with filters active) nor on a model page; and the screenshots of both.

use std::path::Path;

use serde_json::{Value, json};

use super::driver::{Driver, driver};
use super::fixture::small_catalog;
use crate::helpers::spawn_app;

/// The serious and critical violations axe-core finds on `url` (all of them are printed).
async fn serious_violations(driver: &Driver, url: &str) -> Vec<Value> {
    let audit = driver.run("axe", json!({"url": url})).await;
    assert!(audit["status"] == 200 || audit["status"] == 404, "{audit}");
    assert!(
        audit["passes"].as_u64().unwrap() > 10,
        "axe ran no rule: {audit}"
    );
    let violations = audit["violations"].as_array().unwrap().clone();
    for v in &violations {
        println!("axe on {url}: {} ({}): {}", v["id"], v["impact"], v["help"]);
    }
    for v in audit["incomplete"].as_array().unwrap() {
        println!(
            "axe on {url}, to review: {} {}: {:?}",
            v["id"], v["help"], v["nodes"]
        );
    }
    // An undecided contrast hides a possible serious violation: none may remain.
    let undecided: Vec<&Value> = audit["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["id"] == "color-contrast")
        .collect();
    assert!(
        undecided.is_empty(),
        "{url}: contrast not decided: {undecided:#?}"
    );
    violations
        .into_iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect()
}

#[actix_rt::test]
async fn axe_core_finds_no_serious_violation_on_either_page() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let fixture = small_catalog(&app).await;
    for path in [
        "/catalog?q=chat&architecture=llama&architecture=mistral&tag=chat&contextLength=8192-32767"
            .to_owned(),
        format!("/catalog/models/{}", fixture.id("llama-3-8b-instruct")),
        format!("/catalog/models/{}", uuid::Uuid::new_v4()),
    ] {
        let url = app.url(&path);
        let serious = serious_violations(&driver, &url).await;
        assert!(serious.is_empty(), "{path}: {serious:#?}");
    }
}

/// `docs/catalog-page.png` and `docs/model-page.png` when `MODELSHARE_UPDATE_SCREENSHOTS` is
/// set (`just screenshots`), else the same under `target/screenshots/`.
#[actix_rt::test]
async fn screenshots_of_both_pages() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let fixture = small_catalog(&app).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = if std::env::var_os("MODELSHARE_UPDATE_SCREENSHOTS").is_some() {
        root.join("docs")
    } else {
        root.join("target/screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (file, path, height) in [
        ("catalog-page.png", "/catalog?tag=chat".to_owned(), 900),
        (
            "model-page.png",
            format!("/catalog/models/{}", fixture.id("llama-3-8b-instruct")),
            900,
        ),
    ] {
        let shot = dir.join(file);
        let _ = std::fs::remove_file(&shot);
        let run = driver
            .run(
                "screenshot",
                json!({"url": app.url(&path), "path": shot, "width": 1280, "height": height}),
            )
            .await;
        assert_eq!(run["status"], 200);
        let png = std::fs::read(&shot).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        // The IHDR chunk's width: the page at the viewport's width.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1280);
        assert!(
            png.len() > 20_000,
            "{file}: a blank page? {} bytes",
            png.len()
        );
        println!("screenshot: {}", shot.display());
    }
}
