//! The subscriptions API: who may use it, what it answers, what it refuses.

use domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Receiver, call, create, deliveries_until, hooks_path, subscribe, webhook_app};
use crate::helpers::{assert_error, run_cli, spawn_app};
use std::time::Duration;

#[actix_rt::test]
async fn the_secret_is_shown_once_and_stored_sealed() {
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let response = create(
        &app,
        &t,
        json!({"url": "https://hooks.example.com/x", "events": ["model.shared"], "description": "registry"}),
        &t.key,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let made: Value = response.json().await.unwrap();
    let id = made["id"].as_str().unwrap();
    assert!(id.starts_with("wh_"), "{made}");
    assert_eq!(location, hooks_path(&t, &format!("/{id}")));
    assert_eq!(made["url"], "https://hooks.example.com/x");
    assert_eq!(made["events"], json!(["model.shared"]));
    assert_eq!(made["description"], "registry");
    assert_eq!(made["active"], true);
    assert!(made["createdAt"].as_str().unwrap().ends_with('Z'));
    let secret = made["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );

    let one: Value = call(&app, Method::GET, &t, &format!("/{id}"), &t.key, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(one.get("secret").is_none(), "{one}");
    assert_eq!(one["id"], id);
    let list: Value = call(&app, Method::GET, &t, "", &t.key, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret[6..]));

    // A dump of the table does not hold it.
    let rows = crate::helpers::raw_texts(&app, "SELECT secret FROM webhooks", "secret").await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].contains(&secret[6..]), "stored in the clear");
    assert!(rows[0].starts_with("v1:"), "{}", rows[0]);
    // Nor do the metrics.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(!metrics.contains(&secret[6..]));
}

#[actix_rt::test]
async fn only_admins_use_webhooks_and_other_tenants_see_none() {
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let made = subscribe(&app, &t, "https://hooks.example.com/x", &["model.shared"]).await;
    let id = made["id"].as_str().unwrap();
    for role in [Role::Member, Role::Viewer] {
        let key = app.member(&t, role).await;
        for (method, rest, body) in [
            (Method::GET, String::new(), None),
            (Method::GET, format!("/{id}"), None),
            (
                Method::PATCH,
                format!("/{id}"),
                Some(json!({"active": true})),
            ),
            (Method::DELETE, format!("/{id}"), None),
            (Method::POST, format!("/{id}/ping"), None),
            (Method::POST, format!("/{id}/rotate-secret"), None),
            (Method::GET, format!("/{id}/deliveries"), None),
        ] {
            let response = call(&app, method.clone(), &t, &rest, &key, body).await;
            assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
        }
        let response = create(
            &app,
            &t,
            json!({"url": "https://hooks.example.com/y", "events": ["model.shared"]}),
            &key,
        )
        .await;
        assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    }
    // Another tenant: its own project does not have the webhook; ours is not its project.
    let other = app.tenant().await;
    for (method, rest) in [
        (Method::GET, format!("/{id}")),
        (Method::DELETE, format!("/{id}")),
        (Method::POST, format!("/{id}/ping")),
        (Method::GET, format!("/{id}/deliveries")),
    ] {
        let response = call(&app, method, &other, &rest, &other.key, None).await;
        assert_error(response, StatusCode::NOT_FOUND, "webhook_not_found").await;
    }
    let theirs = call(&app, Method::GET, &t, "", &other.key, None).await;
    assert_error(theirs, StatusCode::NOT_FOUND, "project_not_found").await;
    // Still there for its owner.
    let mine = call(&app, Method::GET, &t, &format!("/{id}"), &t.key, None).await;
    assert_eq!(mine.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn bad_subscriptions_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    for (body, param) in [
        (json!({"events": ["model.shared"]}), "url"),
        (
            json!({"url": "http://hooks.example.com/x", "events": ["model.shared"]}),
            "url",
        ),
        (
            json!({"url": "hooks.example.com", "events": ["model.shared"]}),
            "url",
        ),
        (json!({"url": "https://hooks.example.com/x"}), "events"),
        (
            json!({"url": "https://hooks.example.com/x", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["model.deleted"]}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["ping"]}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["model.shared"], "description": "x".repeat(501)}),
            "description",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["model.shared"], "secret": "mine"}),
            "body",
        ),
    ] {
        let response = create(&app, &t, body.clone(), &t.key).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], param, "{body}");
    }
    let none: Value = call(&app, Method::GET, &t, "", &t.key, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        none["data"].as_array().unwrap().is_empty(),
        "half-written: {none}"
    );
}

#[actix_rt::test]
async fn a_project_has_a_bounded_number_of_webhooks() {
    let app = webhook_app(|s| {
        s.webhooks.max_per_project = std::num::NonZeroU64::new(2).unwrap();
    })
    .await;
    let t = app.tenant().await;
    subscribe(&app, &t, "https://a.example.com/", &["model.shared"]).await;
    subscribe(&app, &t, "https://b.example.com/", &["model.shared"]).await;
    let third = create(
        &app,
        &t,
        json!({"url": "https://c.example.com/", "events": ["model.shared"]}),
        &t.key,
    )
    .await;
    let error = assert_error(third, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(error["message"].as_str().unwrap().contains("at most 2"));
}

#[actix_rt::test]
async fn delete_patch_ping_rotate_and_redeliver() {
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let receiver = Receiver::start();
    let made = subscribe(&app, &t, &receiver.url, &["model.shared"]).await;
    let id = made["id"].as_str().unwrap().to_owned();
    let first_secret = made["secret"].as_str().unwrap().to_owned();

    // Ping: delivered now, signed, and listed.
    let ping = call(&app, Method::POST, &t, &format!("/{id}/ping"), &t.key, None).await;
    assert_eq!(ping.status(), StatusCode::ACCEPTED);
    let ping: Value = ping.json().await.unwrap();
    assert_eq!(ping["status"], "pending");
    assert_eq!(ping["eventType"], "ping");
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].signed_by(&first_secret));
    assert_eq!(got[0].json()["type"], "ping");
    assert_eq!(got[0].json()["data"]["webhookId"], id.as_str());
    assert_eq!(got[0].id, ping["eventId"].as_str().unwrap());
    let listed = deliveries_until(&app, &t, &id, Duration::from_secs(10), |d| {
        d.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(listed[0]["id"], ping["id"]);
    assert_eq!(listed[0]["attempt"], 1);
    assert_eq!(listed[0]["responseStatus"], 200);
    assert!(listed[0]["nextAttemptAt"].is_null());

    // Rotate: the new secret is shown once; both sign for now, the new one first.
    let rotated = call(
        &app,
        Method::POST,
        &t,
        &format!("/{id}/rotate-secret"),
        &t.key,
        None,
    )
    .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second_secret, first_secret);
    let redelivered = call(
        &app,
        Method::POST,
        &t,
        &format!(
            "/{id}/deliveries/{}/redeliver",
            ping["id"].as_str().unwrap()
        ),
        &t.key,
        None,
    )
    .await;
    assert_eq!(redelivered.status(), StatusCode::ACCEPTED);
    let redelivered: Value = redelivered.json().await.unwrap();
    assert_ne!(redelivered["id"], ping["id"]);
    assert_eq!(redelivered["eventId"], ping["eventId"]);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].id, got[0].id, "a redelivery is the same event");
    assert_eq!(got[1].body, got[0].body);
    let signatures: Vec<&str> = got[1].signature.split(',').collect();
    assert_eq!(signatures.len(), 2, "{}", got[1].signature);
    assert!(got[1].signed_by(&second_secret) && got[1].signed_by(&first_secret));
    let bogus = call(
        &app,
        Method::POST,
        &t,
        &format!("/{id}/deliveries/dlv_{}/redeliver", "0".repeat(32)),
        &t.key,
        None,
    )
    .await;
    assert_error(bogus, StatusCode::NOT_FOUND, "delivery_not_found").await;

    // PATCH: off and on again; a body without `active` is refused.
    let off = call(
        &app,
        Method::PATCH,
        &t,
        &format!("/{id}"),
        &t.key,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(off.json::<Value>().await.unwrap()["active"], false);
    let empty = call(
        &app,
        Method::PATCH,
        &t,
        &format!("/{id}"),
        &t.key,
        Some(json!({})),
    )
    .await;
    let error = assert_error(empty, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "active");
    let on = call(
        &app,
        Method::PATCH,
        &t,
        &format!("/{id}"),
        &t.key,
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(on.json::<Value>().await.unwrap()["active"], true);

    // DELETE: 204, then gone.
    let deleted = call(&app, Method::DELETE, &t, &format!("/{id}"), &t.key, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = call(&app, Method::DELETE, &t, &format!("/{id}"), &t.key, None).await;
    assert_error(again, StatusCode::NOT_FOUND, "webhook_not_found").await;
    let malformed = call(&app, Method::GET, &t, "/not-a-webhook", &t.key, None).await;
    assert_error(malformed, StatusCode::NOT_FOUND, "webhook_not_found").await;
}

#[actix_rt::test]
async fn operators_list_a_projects_webhooks_from_the_cli_without_secrets() {
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let made = subscribe(&app, &t, "https://hooks.example.com/a", &["model.shared"]).await;
    let secret = made["secret"].as_str().unwrap();
    let run = |args: &[&str]| run_cli(&app, args);
    let project = t.project.as_str();
    let json: Value =
        serde_json::from_str(&run(&["--json", "webhooks", "list", "--project", project])).unwrap();
    assert_eq!(json["projectId"], project);
    let listed = json["webhooks"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], made["id"]);
    assert_eq!(listed[0]["url"], "https://hooks.example.com/a");
    assert!(listed[0].get("secret").is_none());
    let text = run(&["webhooks", "list", "--project", project]);
    assert!(text.contains(made["id"].as_str().unwrap()), "{text}");
    assert!(text.contains("active"), "{text}");
    assert!(!text.contains(&secret[6..]));
}
