//! Events out of the outbox: who gets what, signed how, retried when, and who is not delayed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use domain::ModelStatus;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Receiver, call, deliveries_until, subscribe, webhook_app};
use crate::helpers::exclusive;

#[actix_rt::test]
async fn shares_and_unshares_reach_the_owner_signed() {
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let receiver = Receiver::start();
    let hook = subscribe(&app, &t, &receiver.url, &["model.shared", "model.unshared"]).await;
    let secret = hook["secret"].as_str().unwrap();
    let model = t.model.to_string();

    let shared = app
        .client
        .post(app.url(&format!("/{}/v1/models/{model}/share", t.project)))
        .bearer_auth(&t.key)
        .header("x-request-id", "req-share-1")
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::OK);
    let unshared = app.unshare(&t.project, &model, &t.key).await;
    assert_eq!(unshared.status(), StatusCode::OK);
    // Refused: not shared now. No event, so nothing is sent for it.
    let refused = app.unshare(&t.project, &model, &t.key).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);

    let mut got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    // A webhook's deliveries go out side by side (`webhooks.max_in_flight_per_webhook`) and the
    // contract promises no order, so the two may arrive either way round: taken by type.
    got.sort_by_key(|received| received.json()["type"].as_str().map(str::to_owned));
    let now = chrono::Utc::now().timestamp();
    for (received, kind) in got.iter().zip(["model.shared", "model.unshared"]) {
        let body = received.json();
        assert_eq!(body["type"], kind);
        assert_eq!(body["object"], "event");
        assert_eq!(body["id"], received.id.as_str());
        assert!(received.id.starts_with("evt_"));
        assert!(received.signed_by(secret), "bad signature on {kind}");
        assert!(!received.signed_by("whsec_other"));
        let ts: i64 = received.timestamp.parse().unwrap();
        assert!((now - ts).abs() < 300, "timestamp {ts} not fresh");
        let data = &body["data"];
        assert_eq!(data["modelId"], model.as_str());
        assert_eq!(data["projectId"], t.project.as_str());
        assert_eq!(data["actorUserId"], t.user.to_string());
        assert!(data["scheduleId"].is_null());
        assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let first = got[0].json();
    assert_eq!(first["data"]["requestId"], "req-share-1");
    assert!(first["data"]["sharedAt"].is_string());
    assert!(got[1].json()["data"]["unsharedAt"].is_string());
    assert_ne!(got[0].id, got[1].id);

    // Nothing more comes (the refused unshare wrote nothing).
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.got().len(), 2);

    // Operators see the deliveries in the metrics.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"modelshare_webhook_deliveries_total{outcome="succeeded"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("modelshare_webhook_delivery_duration_seconds_bucket"));
    assert!(metrics.contains("modelshare_webhook_queue_depth"));
}

#[actix_rt::test]
async fn projects_with_endpoints_are_told_only_of_their_own() {
    let app = webhook_app(|_| {}).await;
    let owner = app.tenant().await;
    let model = owner.model.to_string();
    assert_eq!(
        app.share(&owner.project, &model, &owner.key).await.status(),
        StatusCode::OK
    );
    let (b, c, d) = (app.tenant().await, app.tenant().await, app.tenant().await);
    let mut endpoints_of_b = Vec::new();
    for slug in ["b-one", "b-two"] {
        let made = app.create_endpoint(&b.project, slug, &model, &b.key).await;
        assert_eq!(made.status(), StatusCode::CREATED);
        endpoints_of_b.push(
            made.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let made = app
        .create_endpoint(&c.project, "c-one", &model, &c.key)
        .await;
    let endpoint_of_c = made.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = app
        .create_endpoint(&owner.project, "own", &model, &owner.key)
        .await;
    assert_eq!(own.status(), StatusCode::CREATED);
    let (rb, rc, rd, ro) = (
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
    );
    subscribe(&app, &b, &rb.url, &["endpoint.model_unshared"]).await;
    subscribe(&app, &c, &rc.url, &["endpoint.model_unshared"]).await;
    subscribe(&app, &d, &rd.url, &["endpoint.model_unshared"]).await;
    subscribe(&app, &owner, &ro.url, &["endpoint.model_unshared"]).await;

    assert_eq!(
        app.unshare(&owner.project, &model, &owner.key)
            .await
            .status(),
        StatusCode::OK
    );
    let got_b = rb.wait_for(1, Duration::from_secs(10)).await;
    let got_c = rc.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!((got_b.len(), got_c.len()), (1, 1));
    let body_b = got_b[0].json();
    assert_eq!(body_b["type"], "endpoint.model_unshared");
    assert_eq!(body_b["data"]["modelId"], model.as_str());
    let mut ids: Vec<String> = body_b["data"]["endpointIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    endpoints_of_b.sort();
    assert_eq!(ids, endpoints_of_b);
    assert_eq!(
        got_c[0].json()["data"]["endpointIds"],
        json!([endpoint_of_c])
    );
    for got in [&got_b[0], &got_c[0]] {
        let text = String::from_utf8(got.body.clone()).unwrap();
        assert!(
            !text.contains(owner.project.as_str()),
            "owner leaked: {text}"
        );
        assert!(
            !text.contains(&owner.user.to_string()),
            "owner leaked: {text}"
        );
    }
    assert!(
        !String::from_utf8(got_b[0].body.clone())
            .unwrap()
            .contains(&endpoint_of_c)
    );
    assert_ne!(
        got_b[0].id, got_c[0].id,
        "each project's event has its own id"
    );
    // Neither a project without endpoints nor the owner itself is told.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(rd.got().is_empty());
    assert!(ro.got().is_empty());
}

#[actix_rt::test]
async fn a_failed_attempt_is_retried_with_the_same_event() {
    let app = webhook_app(|_| {}).await;
    let t = app.tenant().await;
    let receiver = Receiver::start();
    receiver.answer(500);
    let hook = subscribe(&app, &t, &receiver.url, &["model.shared"]).await;
    let id = hook["id"].as_str().unwrap();
    assert_eq!(
        app.share(&t.project, &t.model.to_string(), &t.key)
            .await
            .status(),
        StatusCode::OK
    );
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1);
    let pending = deliveries_until(&app, &t, id, Duration::from_secs(5), |d| {
        d.first().is_some_and(|d| d["attempt"] == 1)
    })
    .await;
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(pending[0]["responseStatus"], 500);
    assert!(pending[0]["error"].as_str().unwrap().contains("500"));
    assert!(pending[0]["nextAttemptAt"].is_string());
    receiver.answer(204);
    let done = deliveries_until(&app, &t, id, Duration::from_secs(10), |d| {
        d.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(done[0]["attempt"], 2);
    assert_eq!(done[0]["responseStatus"], 204);
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(got[0].body, got[1].body);
}

#[actix_rt::test]
async fn a_webhook_whose_events_all_fail_is_disabled_until_re_enabled() {
    let app = webhook_app(|s| {
        s.webhooks.retry_schedule_secs = vec![];
        s.webhooks.disable_after_failed_events = std::num::NonZeroU32::new(2).unwrap();
    })
    .await;
    let t = app.tenant().await;
    let receiver = Receiver::start();
    receiver.answer(503);
    let hook = subscribe(&app, &t, &receiver.url, &["model.shared", "model.unshared"]).await;
    let id = hook["id"].as_str().unwrap();
    let model = t.model.to_string();
    assert_eq!(
        app.share(&t.project, &model, &t.key).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.unshare(&t.project, &model, &t.key).await.status(),
        StatusCode::OK
    );
    let list = deliveries_until(&app, &t, id, Duration::from_secs(10), |d| {
        d.len() == 2 && d.iter().all(|d| d["status"] == "failed")
    })
    .await;
    assert!(list.iter().all(|d| d["status"] == "failed"), "{list:?}");
    let read = |app: &crate::helpers::TestApp| {
        let app = app.detached();
        let t = t.clone();
        let id = id.to_owned();
        async move {
            call(&app, Method::GET, &t, &format!("/{id}"), &t.key, None)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mut state = read(&app).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while state["active"] == true && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = read(&app).await;
    }
    assert_eq!(state["active"], false, "{state}");
    // While inactive, nothing is sent.
    assert_eq!(
        app.share(&t.project, &model, &t.key).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.got().len(), 2);
    // Re-enabled: the next event goes out.
    receiver.answer(200);
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
    assert_eq!(
        app.unshare(&t.project, &model, &t.key).await.status(),
        StatusCode::OK
    );
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].json()["type"], "model.unshared");
}

/// A receiver that takes 30 s holds its own deliveries only: another subscription's events
/// arrive within a second of each share's answer, and the shares answer at once.
#[actix_rt::test]
async fn a_slow_receiver_delays_no_one_else() {
    let _heavy = exclusive().await;
    let app = webhook_app(|s| {
        s.webhooks.timeout_ms = std::num::NonZeroU64::new(10_000).unwrap();
        s.webhooks.lease_secs = std::num::NonZeroU64::new(30).unwrap();
    })
    .await;
    let slow_tenant = app.tenant().await;
    let fast_tenant = app.tenant().await;
    let slow = Receiver::start();
    slow.delay(Duration::from_secs(30));
    let fast = Receiver::start();
    // The slow one is subscribed to the fast tenant's events too, and to its own.
    subscribe(
        &app,
        &slow_tenant,
        &slow.url,
        &["model.shared", "model.unshared"],
    )
    .await;
    subscribe(
        &app,
        &fast_tenant,
        &slow.url,
        &["model.shared", "model.unshared"],
    )
    .await;
    subscribe(
        &app,
        &fast_tenant,
        &fast.url,
        &["model.shared", "model.unshared"],
    )
    .await;
    let mut slow_models = Vec::new();
    for i in 0..6 {
        slow_models.push(
            app.model_in(
                &slow_tenant.project,
                &format!("slow-{i}"),
                ModelStatus::Ready,
            )
            .await,
        );
    }
    for model in &slow_models {
        let answer = app
            .share(&slow_tenant.project, &model.to_string(), &slow_tenant.key)
            .await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let fast_model = fast_tenant.model.to_string();
    let mut worst = Duration::ZERO;
    let mut worst_answer = Duration::ZERO;
    for i in 0..6 {
        let started = Instant::now();
        let answer = if i % 2 == 0 {
            app.share(&fast_tenant.project, &fast_model, &fast_tenant.key)
                .await
        } else {
            app.unshare(&fast_tenant.project, &fast_model, &fast_tenant.key)
                .await
        };
        assert_eq!(answer.status(), StatusCode::OK);
        let answered = Instant::now();
        worst_answer = worst_answer.max(answered - started);
        let got = fast.wait_for(i + 1, Duration::from_secs(5)).await;
        assert_eq!(
            got.len(),
            i + 1,
            "event {i} did not reach the fast receiver"
        );
        worst = worst.max(got[i].at.saturating_duration_since(answered));
    }
    assert!(
        worst < Duration::from_secs(1),
        "the fast receiver waited {worst:?}"
    );
    assert!(
        worst_answer < Duration::from_secs(1),
        "a share waited {worst_answer:?}"
    );
    // The slow receiver has not answered one yet, and has at most its bound in flight.
    assert!(slow.got().is_empty());
    assert!(slow.arrived() <= 8, "{} in flight", slow.arrived());
    let ids: BTreeSet<String> = fast.got().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 6);
}
