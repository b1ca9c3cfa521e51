//! Scheduled shares and unshares: created, listed, read and cancelled here, with every refusal
//! in the envelope naming its field; run when due (on two instances, after a lost role, at
//! start-up) in [`runs`]; listed by operators in [`cli`].

mod cli;
mod runs;

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use domain::{ModelId, Role, UserId};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TenantSpec, TestApp, assert_error, spawn_app};

/// `/{project}/v1/models/{model}/schedules`.
fn schedules_path(t: &Tenant, model: ModelId) -> String {
    format!("/{}/v1/models/{model}/schedules", t.project)
}

/// `POST` a schedule body for `model` with `key`.
async fn create(app: &TestApp, t: &Tenant, model: ModelId, body: Value, key: &str) -> Response {
    app.client
        .post(app.url(&schedules_path(t, model)))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Schedules `action` of `model` at `at` with the tenant's key; asserts 201 and returns it.
async fn scheduled(app: &TestApp, t: &Tenant, model: ModelId, action: &str, at: &str) -> Value {
    let response = create(app, t, model, json!({"action": action, "at": at}), &t.key).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{action} at {at}");
    response.json().await.unwrap()
}

/// `GET` or `DELETE` one schedule.
async fn one(
    app: &TestApp,
    t: &Tenant,
    model: ModelId,
    id: &str,
    delete: bool,
    key: &str,
) -> Response {
    let url = app.url(&format!("{}/{id}", schedules_path(t, model)));
    let request = if delete {
        app.client.delete(url)
    } else {
        app.client.get(url)
    };
    request.bearer_auth(key).send().await.unwrap()
}

/// The list body of `GET .../schedules{query}`.
async fn list(app: &TestApp, t: &Tenant, model: ModelId, query: &str) -> Value {
    let response = app
        .get(
            &format!("{}{query}", schedules_path(t, model)),
            Some(&t.key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

/// The ids of a list body's items.
fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The next whole second plus `secs`, as a time and as the wire spells it.
fn whole_seconds_ahead(secs: i64) -> (DateTime<Utc>, String) {
    let at = Utc::now().trunc_subsecs(0) + chrono::Duration::seconds(secs + 1);
    (at, at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn parse_time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Polls the schedule until it is no longer pending (for at most `within`); returns it and
/// when it was first seen so.
async fn outcome(
    app: &TestApp,
    t: &Tenant,
    model: ModelId,
    id: &str,
    within: Duration,
) -> (Value, DateTime<Utc>) {
    let started = Instant::now();
    loop {
        let response = one(app, t, model, id, false, &t.key).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        if body["status"] != "pending" {
            return (body, Utc::now());
        }
        assert!(
            started.elapsed() < within,
            "still pending after {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Another admin of the tenant's project: their user id and key.
async fn another_admin(app: &TestApp, t: &Tenant) -> (UserId, String) {
    let user = app
        .store
        .create_user(
            t.account,
            &format!("{}@example.com", uuid::Uuid::new_v4().simple()),
        )
        .await
        .unwrap();
    app.store
        .set_membership(&t.project, user.id, Role::Admin)
        .await
        .unwrap();
    let (_, key) = app.key_for(&t.project, &t.slug, user.id).await;
    (user.id, key)
}

#[actix_rt::test]
async fn schedules_are_created_listed_read_and_cancelled() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let (_, in_an_hour) = whole_seconds_ahead(3600);
    let response = create(
        &app,
        &t,
        t.model,
        json!({"action": "share", "at": in_an_hour}),
        &t.key,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let share: Value = response.json().await.unwrap();
    let id = share["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sch_") && id.len() == 36, "{id}");
    assert_eq!(share["modelId"], t.model.to_string());
    assert_eq!(share["action"], "share");
    assert_eq!(share["at"], in_an_hour);
    assert_eq!(share["status"], "pending");
    assert_eq!(share["createdByUserId"], t.user.to_string());
    assert!(share["createdAt"].is_string());
    for field in ["resultAt", "result", "error", "cancelledAt"] {
        assert!(share[field].is_null(), "{field}: {share}");
    }
    // Another offset and a fraction of a second: the same instant, in whole seconds, in UTC.
    let (tomorrow, _) = whole_seconds_ahead(86_400);
    let spelled = tomorrow.with_timezone(&chrono::FixedOffset::east_opt(7200).unwrap());
    let unshare = scheduled(
        &app,
        &t,
        t.model,
        "unshare",
        &format!("{}.250+02:00", spelled.format("%Y-%m-%dT%H:%M:%S")),
    )
    .await;
    assert_eq!(
        unshare["at"],
        tomorrow.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let unshare_id = unshare["id"].as_str().unwrap().to_owned();

    // Read back: one, the list, pages of it, and by status.
    let read: Value = one(&app, &t, t.model, &id, false, &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, share);
    let all = list(&app, &t, t.model, "").await;
    assert_eq!(all["object"], "list");
    assert_eq!(all["hasMore"], false);
    assert!(all["nextCursor"].is_null());
    let mut listed = ids(&all);
    listed.sort();
    let mut created = vec![id.clone(), unshare_id.clone()];
    created.sort();
    assert_eq!(listed, created);
    let first = list(&app, &t, t.model, "?limit=1").await;
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = list(&app, &t, t.model, &format!("?limit=1&after={cursor}")).await;
    assert_eq!(second["hasMore"], false);
    let mut paged = [ids(&first), ids(&second)].concat();
    paged.sort();
    assert_eq!(paged, created);
    assert_eq!(
        ids(&list(&app, &t, t.model, "?status=pending").await).len(),
        2
    );
    assert!(ids(&list(&app, &t, t.model, "?status=cancelled").await).is_empty());
    // Another model of the project lists none of them.
    let other_model = app
        .model_in(&t.project, "other", domain::ModelStatus::Ready)
        .await;
    assert!(ids(&list(&app, &t, other_model, "").await).is_empty());

    // Cancel: 200 with the schedule, now cancelled; once only.
    let response = one(&app, &t, t.model, &id, true, &t.key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelledAt"].is_string());
    assert_eq!(cancelled["id"], id.as_str());
    let read: Value = one(&app, &t, t.model, &id, false, &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, cancelled);
    assert_eq!(
        ids(&list(&app, &t, t.model, "?status=cancelled").await),
        vec![id.clone()]
    );
    assert_eq!(
        ids(&list(&app, &t, t.model, "?status=pending").await),
        vec![unshare_id]
    );
    let again = one(&app, &t, t.model, &id, true, &t.key).await;
    let error = assert_error(again, StatusCode::CONFLICT, "schedule_not_pending").await;
    assert_eq!(error["type"], "conflict_error");
}

#[actix_rt::test]
async fn only_admins_schedule_and_cancel_but_any_role_reads() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let (_, at) = whole_seconds_ahead(3600);
    let pending = scheduled(&app, &t, t.model, "share", &at).await;
    let id = pending["id"].as_str().unwrap();
    for role in [Role::Viewer, Role::Member] {
        let key = app.member(&t, role).await;
        let refused = create(
            &app,
            &t,
            t.model,
            json!({"action": "share", "at": at}),
            &key,
        )
        .await;
        let error = assert_error(refused, StatusCode::FORBIDDEN, "permission_denied").await;
        assert_eq!(error["type"], "permission_error");
        let refused = one(&app, &t, t.model, id, true, &key).await;
        assert_error(refused, StatusCode::FORBIDDEN, "permission_denied").await;
        assert_eq!(
            one(&app, &t, t.model, id, false, &key).await.status(),
            StatusCode::OK
        );
        let listed = app.get(&schedules_path(&t, t.model), Some(&key)).await;
        assert_eq!(listed.status(), StatusCode::OK);
    }
    // An account without the feature cannot schedule a share (it would fail), only an unshare.
    let featureless = app
        .tenant_with(TenantSpec {
            features: Vec::new(),
            ..TenantSpec::default()
        })
        .await;
    let refused = create(
        &app,
        &featureless,
        featureless.model,
        json!({"action": "share", "at": at}),
        &featureless.key,
    )
    .await;
    assert_error(refused, StatusCode::FORBIDDEN, "feature_not_enabled").await;
    scheduled(&app, &featureless, featureless.model, "unshare", &at).await;
    // Still pending after all that.
    let read: Value = one(&app, &t, t.model, id, false, &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "pending");
}

#[actix_rt::test]
async fn bad_schedules_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let (_, ok) = whole_seconds_ahead(60);
    let (_, past) = whole_seconds_ahead(-120);
    let (_, too_far) = whole_seconds_ahead(367 * 86_400);
    for (body, param) in [
        (json!({"action": "share", "at": past}), "at"),
        (json!({"action": "share", "at": too_far}), "at"),
        (json!({"action": "share", "at": "next tuesday"}), "at"),
        (json!({"action": "share", "at": 1_900_000_000}), "body"),
        (json!({"action": "share"}), "at"),
        (json!({"action": "publish", "at": ok}), "action"),
        (json!({"at": ok}), "action"),
        (json!({"action": "share", "at": ok, "when": "now"}), "body"),
    ] {
        let response = create(&app, &t, t.model, body.clone(), &t.key).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["param"], param, "{body}");
    }
    let bad_query = app
        .get(
            &format!("{}?status=running", schedules_path(&t, t.model)),
            Some(&t.key),
        )
        .await;
    let error = assert_error(bad_query, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["param"], "status");
    // Nothing was created.
    assert!(ids(&list(&app, &t, t.model, "").await).is_empty());
}

#[actix_rt::test]
async fn another_projects_model_or_schedule_is_not_found() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let (_, at) = whole_seconds_ahead(3600);
    let body = json!({"action": "share", "at": at});
    // Another project's model, or no model at all: 404 model_not_found on every route.
    let theirs = scheduled(&app, &other, other.model, "share", &at).await;
    let their_id = theirs["id"].as_str().unwrap();
    for model in [other.model.to_string(), "not-a-uuid".to_owned()] {
        let path = format!("/{}/v1/models/{model}/schedules", t.project);
        let created = app
            .client
            .post(app.url(&path))
            .bearer_auth(&t.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(created, StatusCode::NOT_FOUND, "model_not_found").await;
        assert_error(
            app.get(&path, Some(&t.key)).await,
            StatusCode::NOT_FOUND,
            "model_not_found",
        )
        .await;
        let one_path = format!("{path}/{their_id}");
        assert_error(
            app.get(&one_path, Some(&t.key)).await,
            StatusCode::NOT_FOUND,
            "model_not_found",
        )
        .await;
    }
    // Their schedule id under our own model, another model's, a malformed one: schedule_not_found.
    let ours = scheduled(&app, &t, t.model, "share", &at).await;
    let sibling = app
        .model_in(&t.project, "sibling", domain::ModelStatus::Ready)
        .await;
    for (model, id) in [
        (t.model, their_id),
        (sibling, ours["id"].as_str().unwrap()),
        (t.model, "sch_nope"),
    ] {
        let read = one(&app, &t, model, id, false, &t.key).await;
        let error = assert_error(read, StatusCode::NOT_FOUND, "schedule_not_found").await;
        assert_eq!(error["type"], "not_found_error");
        let cancel = one(&app, &t, model, id, true, &t.key).await;
        assert_error(cancel, StatusCode::NOT_FOUND, "schedule_not_found").await;
    }
    // Theirs is untouched.
    let read: Value = one(&app, &other, other.model, their_id, false, &other.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "pending");
}
