//! The catalog's pages: stable cursors while models come and go, a page read again shows every
//! change, a page examines a bounded number of models.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

use super::model;

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

/// No page examines more than a bounded number of models: a filter the indexes cannot narrow
/// (a search of two letters) that only the last model of the order matches gets short pages
/// (here empty) with `hasMore: true`, and following `nextCursor` reaches it exactly once. A
/// search the word index narrows, or a value no model has, answers at once with no cursor.
#[actix_rt::test]
async fn a_page_examines_a_bounded_number_of_models_and_the_cursor_goes_on() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let needle = model(&app, &t, "zz needle", ("llama", 1, 8192, "mit"), &["chat"]).await;
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

    // `q` matches only the needle ("About zz needle"), which sorts last by name; one letter
    // is too few for the word index, so pages walk the name order.
    let first: Value = app
        .catalog("?q=z&sort=name&limit=5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 0, "{first}");
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second: Value = app
        .catalog(&format!("?q=z&sort=name&limit=5&after={cursor}"))
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
        app.catalog_ids("?q=z&sort=name&limit=5").await,
        [needle.to_string()]
    );
    // A word of two letters or more is looked up: the needle comes on the first page.
    for q in ["needle", "zz", "%20zz"] {
        let looked_up: Value = app
            .catalog(&format!("?q={q}&sort=name&limit=5"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(looked_up["data"][0]["modelId"], needle.to_string(), "{q}");
        assert_eq!(looked_up["hasMore"], false, "{q}");
    }
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
        .get("/catalog?q=z&sort=name&limit=5", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("the next page searches on"), "{page}");
    assert!(page.contains("Next page"));
}
