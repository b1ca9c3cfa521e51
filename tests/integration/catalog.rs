//! The public catalog: shared models only, filters, sorts, stable cursors, optional auth.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use domain::{ModelId, ModelStatus};
use reqwest::StatusCode;
use serde_json::Value;
use storage::NewModel;

use crate::helpers::{Tenant, TestApp, assert_error, spawn_app, spawn_app_with};

/// A `ready` model with `(architecture, parameters, context length, license)` and tags.
async fn model(
    app: &TestApp,
    t: &Tenant,
    name: &str,
    (arch, params, ctx, license): (&str, i64, i64, &str),
    tags: &[&str],
) -> ModelId {
    let id = ModelId::new();
    app.store
        .create_model(NewModel {
            id,
            project_id: t.project.clone(),
            name: name.into(),
            description: format!("About {name}"),
            status: ModelStatus::Ready,
            architecture: Some(arch.into()),
            parameter_count: Some(params),
            context_length: Some(ctx),
            license: Some(license.into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
        .await
        .unwrap();
    id
}

#[actix_rt::test]
async fn the_catalog_lists_shared_models_only_with_the_contract_fields() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let shared = model(
        &app,
        &t,
        "Shared One",
        ("llama", 7_000_000_000, 8192, "mit"),
        &["chat"],
    )
    .await;
    let private = model(
        &app,
        &t,
        "Private One",
        ("llama", 7_000_000_000, 8192, "mit"),
        &["chat"],
    )
    .await;
    let withdrawn = model(
        &app,
        &t,
        "Withdrawn",
        ("llama", 7_000_000_000, 8192, "mit"),
        &["chat"],
    )
    .await;
    app.shared(&t, shared).await;
    app.shared(&t, withdrawn).await;
    assert_eq!(
        app.unshare(&t.project, &withdrawn.to_string(), &t.key)
            .await
            .status(),
        200
    );

    let response = app.catalog("").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["hasMore"], false);
    assert_eq!(body["nextCursor"], Value::Null);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{body}");
    let item = &data[0];
    let keys: HashSet<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "modelId",
        "name",
        "description",
        "architecture",
        "parameterCount",
        "contextLength",
        "license",
        "tags",
        "owner",
        "sharedAt",
        "endpointCount",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(item["modelId"], shared.to_string());
    assert_eq!(item["owner"]["projectId"], t.project.to_string());
    assert!(
        item["owner"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Project ")
    );
    assert_eq!(item["endpointCount"], 0);

    let one = app.get(&format!("/v1/catalog/models/{shared}"), None).await;
    assert_eq!(one.status(), StatusCode::OK);
    let one: Value = one.json().await.unwrap();
    assert_eq!(&one, item);
    for id in [
        private.to_string(),
        withdrawn.to_string(),
        "not-a-uuid".into(),
    ] {
        let response = app.get(&format!("/v1/catalog/models/{id}"), None).await;
        assert_error(response, StatusCode::NOT_FOUND, "model_not_found").await;
    }
}

#[actix_rt::test]
async fn filters_and_sorts() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let a = model(
        &app,
        &t,
        "alpha-chat",
        ("llama", 7_000_000_000, 8192, "apache-2.0"),
        &["chat"],
    )
    .await;
    let b = model(
        &app,
        &t,
        "Beta Coder",
        ("mistral", 13_000_000_000, 32768, "mit"),
        &["code"],
    )
    .await;
    let c = model(
        &app,
        &t,
        "gamma",
        ("llama", 70_000_000_000, 4096, "llama3"),
        &["chat", "large"],
    )
    .await;
    for id in [a, b, c] {
        app.shared(&t, id).await;
        tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    }
    for _ in 0..2 {
        let slug = format!("e{}", uuid::Uuid::new_v4().simple());
        assert_eq!(
            app.create_endpoint(&t.project, &slug[..20], &b.to_string(), &t.key)
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        app.create_endpoint(&t.project, "c-one", &c.to_string(), &t.key)
            .await
            .status(),
        201
    );
    let ids = |v: &[ModelId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();

    assert_eq!(
        app.catalog_ids("").await,
        ids(&[c, b, a]),
        "newest share first"
    );
    assert_eq!(app.catalog_ids("?sort=sharedAt").await, ids(&[c, b, a]));
    assert_eq!(
        app.catalog_ids("?sort=name").await,
        ids(&[a, b, c]),
        "case-insensitive name order"
    );
    assert_eq!(app.catalog_ids("?sort=endpoints").await, ids(&[b, c, a]));
    assert_eq!(app.catalog_ids("?q=CODER").await, ids(&[b]));
    assert_eq!(
        app.catalog_ids("?q=about%20gam").await,
        ids(&[c]),
        "q matches descriptions"
    );
    assert_eq!(app.catalog_ids("?architecture=llama").await, ids(&[c, a]));
    assert_eq!(app.catalog_ids("?license=mit").await, ids(&[b]));
    assert_eq!(app.catalog_ids("?tag=chat").await, ids(&[c, a]));
    assert_eq!(
        app.catalog_ids("?minParameters=10000000000").await,
        ids(&[c, b])
    );
    assert_eq!(
        app.catalog_ids("?maxParameters=13000000000").await,
        ids(&[b, a])
    );
    assert_eq!(
        app.catalog_ids("?minContextLength=8192").await,
        ids(&[b, a])
    );
    assert_eq!(
        app.catalog_ids("?architecture=llama&tag=chat&minParameters=1&sort=name&limit=1")
            .await,
        ids(&[a, c])
    );
    let body: Value = app
        .get(&format!("/v1/catalog/models/{b}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["endpointCount"], 2);
}

#[actix_rt::test]
async fn bad_catalog_parameters_are_400_with_param() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    for i in 0..3 {
        let id = model(&app, &t, &format!("m{i}"), ("llama", 1, 1, "mit"), &[]).await;
        app.shared(&t, id).await;
    }
    let page: Value = app
        .catalog("?limit=1&sort=name")
        .await
        .json()
        .await
        .unwrap();
    let name_cursor = page["nextCursor"].as_str().unwrap().to_owned();
    for (query, param) in [
        ("?limit=0".to_owned(), "limit"),
        ("?limit=1000".to_owned(), "limit"),
        ("?limit=-1".to_owned(), "limit"),
        ("?sort=bogus".to_owned(), "sort"),
        ("?after=forged".to_owned(), "after"),
        (format!("?after={name_cursor}"), "after"),
        ("?minParameters=lots".to_owned(), "minParameters"),
        (
            "?minParameters=10&maxParameters=5".to_owned(),
            "maxParameters",
        ),
        ("?minContextLength=-4".to_owned(), "minContextLength"),
        ("?owner=me".to_owned(), "owner"),
    ] {
        let response = app.catalog(&query).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], param, "{query}");
    }
    let response = app
        .catalog(&format!("?sort=name&after={name_cursor}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn browsing_can_require_a_key() {
    let app = spawn_app_with(|s| s.catalog.public_browse = false).await;
    let t = app.tenant().await;
    app.shared(&t, t.model).await;
    assert_error(
        app.catalog("").await,
        StatusCode::UNAUTHORIZED,
        "authentication_required",
    )
    .await;
    let one = app
        .get(&format!("/v1/catalog/models/{}", t.model), None)
        .await;
    assert_error(one, StatusCode::UNAUTHORIZED, "authentication_required").await;
    let stranger = app.tenant().await;
    let response = app.get("/v1/catalog/models", Some(&stranger.key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get("/v1/catalog/models", Some("xero_bad_key")).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
}

#[actix_rt::test]
async fn cursors_are_stable_while_other_models_come_and_go() {
    let _heavy = crate::helpers::exclusive().await;
    let app = Arc::new(spawn_app().await);
    let t = app.tenant().await;
    let mut stable = HashSet::new();
    for i in 0..30 {
        let id = model(
            &app,
            &t,
            &format!("stable-{i:02}"),
            ("llama", i, 1, "mit"),
            &[],
        )
        .await;
        app.shared(&t, id).await;
        stable.insert(id.to_string());
    }
    let mut togglers = Vec::new();
    for i in 0..20 {
        let id = model(
            &app,
            &t,
            &format!("toggler-{i:02}"),
            ("llama", i, 1, "mit"),
            &[],
        )
        .await;
        if i % 2 == 0 {
            app.shared(&t, id).await;
        }
        togglers.push(id);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let toggling = {
        let (app, t, stop) = (Arc::clone(&app), t.clone(), Arc::clone(&stop));
        actix_rt::spawn(async move {
            let mut flips = 0usize;
            while !stop.load(Ordering::SeqCst) {
                for id in &togglers {
                    let id = id.to_string();
                    if app.share(&t.project, &id, &t.key).await.status() == 200 {
                        flips += 1;
                    }
                    if app.unshare(&t.project, &id, &t.key).await.status() == 200 {
                        flips += 1;
                    }
                }
            }
            flips
        })
    };

    for sort in ["sharedAt", "name", "endpoints"] {
        for _ in 0..3 {
            let ids = app.catalog_ids(&format!("?limit=4&sort={sort}")).await;
            let unique: HashSet<&String> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "an item was repeated ({sort})");
            let seen_stable: HashSet<String> = ids
                .iter()
                .filter(|id| stable.contains(*id))
                .cloned()
                .collect();
            assert_eq!(
                seen_stable, stable,
                "a model shared throughout was skipped ({sort})"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let flips = toggling.await.unwrap();
    assert!(flips > 0, "the toggler never changed anything");
}

/// Pages are kept between identical reads (`catalog.page_cache_bytes`), yet every read shows
/// the catalog as it is: a share, an endpoint and an unshare each show at once on a page that
/// was just read.
#[actix_rt::test]
async fn a_page_read_again_shows_every_change_at_once() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let first = model(&app, &t, "Kept One", ("llama", 1, 8192, "mit"), &["kept"]).await;
    let second = model(&app, &t, "Kept Two", ("llama", 2, 8192, "mit"), &["kept"]).await;
    app.shared(&t, first).await;
    let page = || async {
        let response = app.catalog("?tag=kept&sort=endpoints").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["modelId"].as_str().unwrap().to_owned(),
                    i["endpointCount"].as_i64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (first, second) = (first.to_string(), second.to_string());
    assert_eq!(page().await, [(first.clone(), 0)]);
    assert_eq!(page().await, [(first.clone(), 0)], "read again");

    app.shared(&t, second.parse().unwrap()).await;
    let both = page().await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(page().await, both, "read again");

    let response = app
        .create_endpoint(&t.project, "kept-ep", &second, &t.key)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(page().await, [(second.clone(), 1), (first.clone(), 0)]);

    assert_eq!(app.unshare(&t.project, &second, &t.key).await.status(), 200);
    assert_eq!(page().await, [(first.clone(), 0)]);
    assert_eq!(page().await, [(first, 0)], "read again");
}

/// No page examines more than a bounded number of models: a filter that only the last model of
/// the order matches gets short pages (here empty) with `hasMore: true`, and following
/// `nextCursor` reaches it exactly once. A value no model has answers at once with no cursor.
#[actix_rt::test]
async fn a_page_examines_a_bounded_number_of_models_and_the_cursor_goes_on() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let needle = model(&app, &t, "zzz needle", ("llama", 1, 8192, "mit"), &["chat"]).await;
    let mut ids = vec![needle];
    for i in 0..(catalog::EXAMINE_BOUND + 40) {
        ids.push(
            model(
                &app,
                &t,
                &format!("bulk {i:05}"),
                ("llama", 1, 8192, "mit"),
                &["chat"],
            )
            .await,
        );
    }
    // Shared by a few concurrent clients: the catalog is large, the test stays quick.
    let workers: Vec<_> = ids
        .chunks(ids.len().div_ceil(8))
        .map(|chunk| {
            let (app, t, chunk) = (app.detached(), t.clone(), chunk.to_vec());
            actix_rt::spawn(async move {
                for id in chunk {
                    app.shared(&t, id).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(app.catalog.len(), ids.len());

    // `q` matches only the needle ("About zzz needle"), which sorts last by name.
    let first: Value = app
        .catalog("?q=zzz%20needle&sort=name&limit=5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 0, "{first}");
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second: Value = app
        .catalog(&format!("?q=zzz%20needle&sort=name&limit=5&after={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let found: Vec<&str> = second["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["modelId"].as_str().unwrap())
        .collect();
    assert_eq!(found, [needle.to_string()]);
    assert_eq!(second["hasMore"], false);
    assert_eq!(
        app.catalog_ids("?q=zzz%20needle&sort=name&limit=5").await,
        [needle.to_string()]
    );
    // Every model, exactly once, in pages that are full.
    let all = app.catalog_ids("?limit=100&sort=endpoints").await;
    assert_eq!(all.len(), ids.len());
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), ids.len());

    let absent: Value = app
        .catalog("?tag=no-such-tag&sort=name")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(absent["data"].as_array().unwrap().len(), 0);
    assert_eq!(absent["hasMore"], false);
    assert_eq!(absent["nextCursor"], Value::Null);

    // The web page says the search goes on, and links the next page.
    let page = app
        .get("/catalog?q=zzz%20needle&sort=name&limit=5", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("the next page searches on"), "{page}");
    assert!(page.contains("Next page"));
}
