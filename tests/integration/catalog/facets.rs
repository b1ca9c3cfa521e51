//! Facets with drill-down counts, repeated filter values, and the relevance order over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::model;
use crate::helpers::{assert_error, spawn_app};

const B: i64 = 1_000_000_000;

#[actix_rt::test]
async fn facets_count_under_every_filter_but_their_own() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    for (name, spec, tags) in [
        ("Llama Chat", ("llama", 8 * B, 8192, "mit"), &["chat"][..]),
        (
            "Llama Big",
            ("Llama", 70 * B, 131_072, "llama3"),
            &["chat", "large"],
        ),
        (
            "Qwen Coder",
            ("qwen3", 500_000_000, 32_768, "apache-2.0"),
            &["code"],
        ),
        ("Mistral Small", ("mistral", 7 * B, 4096, "mit"), &[]),
    ] {
        let id = model(&app, &t, name, spec, tags).await;
        app.shared(&t, id).await;
    }
    let private = model(&app, &t, "Hidden", ("hidden-arch", B, 1, "secret"), &["x"]).await;
    let _ = private;

    let facets = |query: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/v1/catalog/facets{query}"), None).await;
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };
    let all = facets("").await;
    assert_eq!(
        all["architecture"],
        json!([{"value": "llama", "count": 2}, {"value": "mistral", "count": 1}, {"value": "qwen3", "count": 1}]),
        "values by count then name; case folded; a private model counts nowhere"
    );
    assert_eq!(
        all["parameters"],
        json!([
            {"min": 0, "max": 999_999_999, "count": 1},
            {"min": B, "max": 4 * B - 1, "count": 0},
            {"min": 4 * B, "max": 10 * B - 1, "count": 2},
            {"min": 10 * B, "max": 30 * B - 1, "count": 0},
            {"min": 30 * B, "max": 100 * B - 1, "count": 1},
            {"min": 100 * B, "max": null, "count": 0},
        ])
    );
    assert_eq!(
        all["contextLength"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 1, 1, 1]
    );
    assert_eq!(all["total"], 4);

    // Two architectures (either), one license: the architecture facet ignores its own filter.
    let drilled = facets("?architecture=llama&architecture=QWEN3&license=mit").await;
    assert_eq!(
        drilled["architecture"],
        json!([{"value": "llama", "count": 1}, {"value": "mistral", "count": 1}, {"value": "qwen3", "count": 0}]),
        "a selected value stays listed even at 0"
    );
    assert_eq!(
        drilled["license"],
        json!([{"value": "apache-2.0", "count": 1}, {"value": "llama3", "count": 1}, {"value": "mit", "count": 1}])
    );
    assert_eq!(drilled["tag"], json!([{"value": "chat", "count": 1}]));
    assert_eq!(drilled["total"], 1);
    let bucket = facets("?minParameters=4000000000&maxParameters=9999999999&q=llama").await;
    assert_eq!(bucket["total"], 1);
    assert_eq!(bucket["parameters"][4]["count"], 1, "own filter ignored");

    for (query, param) in [
        ("?limit=5", "limit"),
        ("?sort=name", "sort"),
        ("?minContextLength=9&maxContextLength=8", "maxContextLength"),
        ("?q=one&q=two", "q"),
    ] {
        let response = app.get(&format!("/v1/catalog/facets{query}"), None).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], param, "{query}");
    }
    let many = (0..21)
        .map(|i| format!("tag=t{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let response = app.get(&format!("/v1/catalog/facets?{many}"), None).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "tag");
}

#[actix_rt::test]
async fn repeated_values_mean_either_and_a_search_ranks_by_relevance() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let mut ids = std::collections::HashMap::new();
    for (name, arch) in [
        ("Old Llama", "llama"),
        ("TinyLlama", "llama"),
        ("Llamafile", "qwen3"),
        ("Llama 3", "mistral"),
        ("Gemma", "gemma"),
    ] {
        let id = model(&app, &t, name, (arch, B, 4096, "mit"), &[]).await;
        app.shared(&t, id).await;
        ids.insert(id.to_string(), name);
        tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    }
    let names = |got: Vec<String>| got.iter().map(|id| ids[id]).collect::<Vec<_>>();
    assert_eq!(
        names(
            app.catalog_ids("?architecture=qwen3&architecture=GEMMA")
                .await
        ),
        ["Gemma", "Llamafile"]
    );
    let expected = ["Llama 3", "Old Llama", "Llamafile", "TinyLlama"];
    assert_eq!(names(app.catalog_ids("?q=llama").await), expected);
    assert_eq!(names(app.catalog_ids("?q=Llama&limit=1").await), expected);
    assert_eq!(
        names(app.catalog_ids("?q=llama&sort=relevance&limit=3").await),
        expected
    );
    assert_eq!(
        names(app.catalog_ids("?q=llama&sort=sharedAt").await),
        ["Llama 3", "Llamafile", "TinyLlama", "Old Llama"],
        "an explicit sort wins over relevance"
    );
    // A relevance cursor belongs to relevance listings.
    let page: Value = app.catalog("?q=llama&limit=1").await.json().await.unwrap();
    let cursor = page["nextCursor"].as_str().unwrap();
    let response = app
        .catalog(&format!("?q=llama&sort=name&after={cursor}"))
        .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "after");
    let response = app.catalog("?architecture=a&sort=nope").await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "sort");
}
