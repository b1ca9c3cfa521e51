//! The README's Python receiver, run as written against real deliveries: it accepts what the
//! service signs, and refuses a forged signature and a stale timestamp.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use super::{subscribe, webhook_app};

/// The first ```python block after the README's "Verifying a delivery" heading.
fn receiver_snippet() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("### Verifying a delivery")
        .nth(1)
        .expect("the README has a \"Verifying a delivery\" section");
    let code = section
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a python block");
    code.to_owned()
}

#[actix_rt::test]
async fn the_readme_receiver_verifies_real_deliveries() {
    let snippet = receiver_snippet();
    assert!(snippet.lines().count() <= 15, "the snippet grew: {snippet}");
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    // Subscribed first: the secret the receiver needs comes from here.
    let hook = subscribe(&app, &t, &url, &["model.shared", "model.unshared"]).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let mut child = Command::new("python3")
        .args(["-c", &snippet])
        .env("WEBHOOK_SECRET", &secret)
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client.get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the receiver did not start");
    // Forged and stale requests are refused.
    let forged = client
        .post(&url)
        .header(
            "X-Webhook-Timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("X-Webhook-Signature", "00".repeat(32))
        .body("{\"id\": \"evt_forged\", \"type\": \"model.shared\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let stale_ts = chrono::Utc::now().timestamp() - 600;
    let body = "{\"id\": \"evt_stale\", \"type\": \"model.shared\"}";
    let stale = client
        .post(&url)
        .header("X-Webhook-Timestamp", stale_ts.to_string())
        .header(
            "X-Webhook-Signature",
            ::api::webhooks::secrets::sign(&secret, stale_ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);

    let model = t.model.to_string();
    assert_eq!(
        app.share(&t.project, &model, &t.key).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.unshare(&t.project, &model, &t.key).await.status(),
        StatusCode::OK
    );
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(2)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(15), lines).await;
    child.kill().ok();
    child.wait().ok();
    let lines = lines
        .expect("the receiver accepted two deliveries")
        .unwrap();
    assert!(lines[0].starts_with("model.shared evt_"), "{lines:?}");
    assert!(lines[1].starts_with("model.unshared evt_"), "{lines:?}");
}
