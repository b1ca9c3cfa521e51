//! The SSRF guard: private, loopback, link-local, CGNAT and metadata targets are refused when a
//! webhook is made, and again at delivery on the address actually resolved.

use std::time::Duration;

use ::api::webhooks::SecretBox;
use domain::EventType;
use reqwest::StatusCode;
use serde_json::json;

use super::{Receiver, create, deliveries_until, webhook_app};
use crate::helpers::assert_error;

#[actix_rt::test]
async fn private_targets_are_refused_at_creation() {
    // http is allowed here so that only the address decides.
    let app = webhook_app(|s| s.webhooks.allow_private_networks = false).await;
    let t = app.tenant().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://[fd00:ec2::254]/hook",
    ] {
        let response = create(
            &app,
            &t,
            json!({"url": url, "events": ["model.shared"]}),
            &t.key,
        )
        .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], "url", "{url}");
    }
    let public = create(
        &app,
        &t,
        json!({"url": "http://203.0.113.7/hook", "events": ["model.shared"]}),
        &t.key,
    )
    .await;
    assert_eq!(public.status(), StatusCode::CREATED);
}

/// A name that pointed somewhere public when the webhook was made and points to loopback now
/// (DNS rebinding) is refused when the delivery resolves it: the receiver gets nothing.
#[actix_rt::test]
async fn a_name_that_resolves_to_loopback_at_delivery_is_refused() {
    let app = webhook_app(|s| s.webhooks.allow_private_networks = false).await;
    let t = app.tenant().await;
    let receiver = Receiver::start();
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // Made as if the name had passed the check at creation.
    let sealer = SecretBox::from_hex(app.settings.webhooks.secret_key.expose(), "test").unwrap();
    let webhook = app
        .store
        .create_webhook(storage::NewWebhook {
            project_id: t.project.clone(),
            url: format!("http://localhost:{port}/hook"),
            events: vec![EventType::ModelShared],
            description: String::new(),
            sealed_secret: sealer.seal("whsec_test").unwrap(),
            created_by_user_id: t.user,
        })
        .await
        .unwrap();
    assert_eq!(
        app.share(&t.project, &t.model.to_string(), &t.key)
            .await
            .status(),
        StatusCode::OK
    );
    let list = deliveries_until(
        &app,
        &t,
        &webhook.id.to_string(),
        Duration::from_secs(10),
        |d| d.first().is_some_and(|d| d["attempt"] == 1),
    )
    .await;
    let error = list[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("refused address"), "{list:?}");
    assert!(list[0]["responseStatus"].is_null());
    assert_eq!(receiver.arrived(), 0);
}
