//! `/catalog` in Chromium: a real click on a facet narrows the list and the other facets'
//! counts (with JavaScript, the click submits the form; without, the "Apply filters" button
//! does), the chips undo one filter each, and the page reads the list's query string.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::driver::driver;
use super::fixture::small_catalog;
use crate::helpers::spawn_app;

/// The names of the models the page shows.
fn names(state: &Value) -> BTreeSet<String> {
    state["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A facet's counts as the page shows them, by value (by label for a bucket), without the
/// options that show no count ("Any").
fn counts(state: &Value, facet: &str) -> BTreeMap<String, u64> {
    state["facets"][facet]
        .as_array()
        .unwrap_or_else(|| panic!("no facet {facet} on the page"))
        .iter()
        .filter_map(|o| {
            let key = if facet == "parameters" || facet == "contextLength" {
                o["label"].as_str()?
            } else {
                o["value"].as_str()?
            };
            Some((key.to_owned(), o["count"].as_u64()?))
        })
        .collect()
}

/// The values (labels for a bucket) whose box is ticked.
fn checked(state: &Value, facet: &str) -> Vec<String> {
    state["facets"][facet]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["checked"] == true)
        .map(|o| {
            o["label"]
                .as_str()
                .filter(|_| facet == "parameters" || facet == "contextLength")
                .or(o["value"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[actix_rt::test]
async fn clicking_a_facet_narrows_the_list_and_its_counts() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let fixture = small_catalog(&app).await;

    // With JavaScript: a click on "llama" submits the form.
    let run = driver
        .run(
            "click-facet",
            json!({"url": app.url("/catalog"), "facet": "architecture", "value": "llama"}),
        )
        .await;
    assert_eq!(run["status"], 200);
    let (before, after) = (&run["before"], &run["after"]);
    assert_eq!(
        names(before),
        set(&[
            "llama-3-8b-instruct",
            "codellama-13b",
            "mistral-7b-v0.3",
            "qwen3-1.7b",
            "phi-3-mini"
        ])
    );
    assert_eq!(before["heading"], "5 models");
    assert_eq!(
        counts(before, "architecture"),
        map(&[("llama", 2), ("mistral", 1), ("qwen3", 1), ("phi", 1)])
    );
    assert_eq!(
        counts(before, "tag"),
        map(&[
            ("chat", 3),
            ("instruct", 2),
            ("code", 1),
            ("multilingual", 1)
        ])
    );
    assert_eq!(
        counts(before, "license"),
        map(&[("llama3", 2), ("apache-2.0", 2), ("mit", 1)])
    );
    assert!(checked(before, "architecture").is_empty());
    assert_eq!(before["chips"], json!([]));

    let url = after["url"].as_str().unwrap();
    // The form's fields in order; the empty search stays out of the URL.
    assert!(
        url.ends_with("/catalog?sort=relevance&architecture=llama"),
        "{url}"
    );
    assert_eq!(names(after), set(&["llama-3-8b-instruct", "codellama-13b"]));
    assert_eq!(after["heading"], "2 models");
    // A facet's own filter does not narrow its counts; the others' do.
    assert_eq!(
        counts(after, "architecture"),
        counts(before, "architecture")
    );
    assert_eq!(checked(after, "architecture"), ["llama"]);
    assert_eq!(
        counts(after, "tag"),
        map(&[("chat", 1), ("instruct", 1), ("code", 1)])
    );
    assert_eq!(counts(after, "license"), map(&[("llama3", 2)]));
    let parameters = counts(after, "parameters");
    assert_eq!(parameters["4B to 10B"], 1, "{parameters:?}");
    assert_eq!(parameters["10B to 30B"], 1, "{parameters:?}");
    assert_eq!(parameters["Under 1B"], 0, "{parameters:?}");
    assert_eq!(after["chips"][0]["text"], "Architecture: llama");

    // Without JavaScript: tick the 10B-30B bucket, then "Apply filters".
    let run = driver
        .run(
            "click-facet",
            json!({"url": url, "facet": "parameters", "value": "10000000000-29999999999",
                   "javascript": false}),
        )
        .await;
    let after = &run["after"];
    assert_eq!(names(after), set(&["codellama-13b"]));
    assert_eq!(checked(after, "parameters"), ["10B to 30B"]);
    assert_eq!(checked(after, "architecture"), ["llama"]);
    // The other buckets still count what they would leave.
    assert_eq!(counts(after, "parameters")["4B to 10B"], 1);
    assert_eq!(counts(after, "tag"), map(&[("code", 1)]));
    let chips: Vec<&str> = after["chips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(chips, ["Architecture: llama", "Parameters: 10B to 30B"]);

    // Each chip is the page without that one filter.
    let without_llama = after["chips"][0]["href"].as_str().unwrap();
    assert_eq!(
        without_llama,
        "/catalog?sort=relevance&minParameters=10000000000&maxParameters=29999999999"
    );
    let page = app.get(without_llama, None).await.text().await.unwrap();
    let card = |name: &str| format!("data-model-id=\"{}\"", fixture.id(name));
    assert!(page.contains(&card("codellama-13b")));
    assert!(!page.contains(&card("llama-3-8b-instruct")));
    let without_size = after["chips"][1]["href"].as_str().unwrap();
    assert_eq!(without_size, "/catalog?sort=relevance&architecture=llama");
}

#[actix_rt::test]
async fn the_page_reads_repeated_values_empty_fields_and_ranked_search() {
    let app = spawn_app().await;
    let fixture = small_catalog(&app).await;
    let page = |query: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/catalog{query}"), None).await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let shown = |html: &str| -> BTreeSet<String> {
        fixture
            .ids
            .iter()
            .filter(|(_, id)| html.contains(&format!("data-model-id=\"{id}\"")))
            .map(|(name, _)| (*name).to_owned())
            .collect()
    };

    // Repeated values mean either; empty form fields mean no filter.
    let (status, html) =
        page("?q=&architecture=llama&architecture=qwen3&license=&parameters=&sort=").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        shown(&html),
        set(&["llama-3-8b-instruct", "codellama-13b", "qwen3-1.7b"])
    );
    for value in ["llama", "qwen3"] {
        assert!(
            html.contains(&format!("value=\"{value}\" checked")),
            "{value} is not ticked"
        );
    }

    // With `q`, best match first: a whole-word name match before a substring match.
    let (_, html) = page("?q=llama").await;
    let first = html.find(&fixture.id("llama-3-8b-instruct")).unwrap();
    let second = html.find(&fixture.id("codellama-13b")).unwrap();
    assert!(first < second, "relevance order");
    assert!(html.contains("<option value=\"relevance\" selected>"));

    // Paging goes on with the same filters.
    let (_, html) = page("?limit=2&sort=name").await;
    let next = html
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page link")
        .replace("&amp;", "&");
    assert!(
        next.starts_with("/catalog?limit=2&sort=name&after="),
        "{next}"
    );
    let response = app.get(&next, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert_eq!(shown(&html), set(&["mistral-7b-v0.3", "phi-3-mini"]));

    // A bad value is a 400 page that says which parameter.
    let (status, html) = page("?minParameters=lots").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("minParameters"), "{html}");
    let (status, _) = page("?parameters=big").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
