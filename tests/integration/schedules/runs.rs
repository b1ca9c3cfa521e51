//! Schedules that come due: run once within a second of `at` however many instances run, as
//! the scheduling user as of then, their outcome recorded on the schedule and their share event
//! naming it; one that came due while no instance ran runs at start-up.

use std::time::Duration;

use auth::PolicyRegistry;
use chrono::{DateTime, Utc};
use domain::{Feature, ModelId, ModelStatus, Role, ShareAction};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{another_admin, create, one, outcome, parse_time, scheduled, whole_seconds_ahead};
use crate::db::TestDb;
use crate::helpers::{
    Tenant, TestApp, assert_error, connect_store, consistent_history, exclusive, spawn_app,
    spawn_on,
};

/// How late after `at` a poll every 20 ms may first see the outcome of a run that finished
/// within the contract's second.
const POLL_SLACK: chrono::Duration = chrono::Duration::milliseconds(250);

/// Asserts the schedule `id` of `model` succeeded sharing it within a second of `at`, and that
/// the model's history holds exactly one event, written by that run for the scheduling user.
async fn assert_shared_once_by(
    app: &TestApp,
    t: &Tenant,
    model: ModelId,
    id: &str,
    at: DateTime<Utc>,
) {
    let (done, seen) = outcome(app, t, model, id, Duration::from_secs(5)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["error"].is_null(), "{done}");
    let result_at = parse_time(&done["resultAt"]);
    assert!(
        result_at >= at && result_at - at <= chrono::Duration::seconds(1),
        "{done}"
    );
    assert!(
        seen - at <= chrono::Duration::seconds(1) + POLL_SLACK,
        "seen {seen}, due {at}"
    );
    let events = consistent_history(&app.store, model).await;
    assert_eq!(events.len(), 1, "model {model}: {events:?}");
    let event = &events[0];
    assert_eq!(event.action, ShareAction::Share);
    assert_eq!(
        event.schedule_id.map(|s| s.to_string()).as_deref(),
        Some(id)
    );
    assert_eq!(event.actor_user_id, Some(t.user));
    assert_eq!(event.api_key_id, Some(t.key_id));
    assert_eq!(
        done["result"],
        json!({"modelId": model.to_string(), "shared": true, "sharedAt": event.at.to_rfc3339()})
    );
    // The history's DTO names the schedule too.
    let history: Value = app
        .share_events(&t.project, &model.to_string(), "", &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["data"][0]["scheduleId"], id);
}

/// Eight shares due at the same second, created through either instance: each runs exactly
/// once (one claim, one event), within a second, and both catalogs show the models.
async fn eight_shares_run_once_on_two_instances(db: TestDb) {
    let _heavy = exclusive().await;
    let a = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let b = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = a.tenant().await;
    let mut models = vec![t.model];
    for i in 1..8 {
        models.push(
            a.model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                .await,
        );
    }
    let (at, at_text) = whole_seconds_ahead(2);
    let mut ids = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        let created = scheduled(app, &t, *model, "share", &at_text).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    for (model, id) in models.iter().zip(&ids) {
        assert_shared_once_by(&a, &t, *model, id, at).await;
        let schedule = a
            .store
            .get_schedule(&t.project, *model, id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(schedule.attempts, 1, "{id} was claimed more than once");
    }
    crate::helpers::converged(&[&a, &b], Duration::from_secs(1)).await;
    for model in &models {
        assert!(
            b.catalog.get(*model).is_some(),
            "{model} missing from instance b"
        );
    }
}

#[actix_rt::test]
async fn a_share_scheduled_two_seconds_ahead_runs_once_within_a_second_on_two_instances() {
    // Two instances on one SQLite file, or on one PostgreSQL database in the PostgreSQL pass.
    eight_shares_run_once_on_two_instances(TestDb::new()).await;
}

#[actix_rt::test]
async fn a_share_scheduled_two_seconds_ahead_runs_once_on_two_instances_on_postgres() {
    // The claim's FOR UPDATE SKIP LOCKED, whichever pass this is (skipped, saying so, only
    // without MODELSHARE_TEST_POSTGRES_URL and outside CI).
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    eight_shares_run_once_on_two_instances(db).await;
}

#[actix_rt::test]
async fn a_schedule_runs_as_its_creator_as_of_then() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let (leaver, leaver_key) = another_admin(&app, &t).await;
    let leavers_model = app
        .model_in(&t.project, "leaver's", ModelStatus::Ready)
        .await;
    let unfeatured = app.tenant().await;
    let (_, at_text) = whole_seconds_ahead(1);
    let demoted = scheduled(&app, &t, t.model, "share", &at_text).await;
    let left = create(
        &app,
        &t,
        leavers_model,
        json!({"action": "share", "at": at_text}),
        &leaver_key,
    )
    .await;
    assert_eq!(left.status(), StatusCode::CREATED);
    let left: Value = left.json().await.unwrap();
    let switched_off = scheduled(&app, &unfeatured, unfeatured.model, "share", &at_text).await;
    // Between creation and `at`: a role drops, a user leaves, a feature is switched off.
    app.store
        .set_membership(&t.project, t.user, Role::Member)
        .await
        .unwrap();
    assert!(
        app.store
            .remove_membership(&t.project, leaver)
            .await
            .unwrap()
    );
    app.store
        .set_account_feature(unfeatured.account, Feature::ModelSharing, false)
        .await
        .unwrap();

    for (tenant, model, schedule, code) in [
        (&t, t.model, &demoted, "permission_denied"),
        (&t, leavers_model, &left, "permission_denied"),
        (
            &unfeatured,
            unfeatured.model,
            &switched_off,
            "feature_not_enabled",
        ),
    ] {
        let id = schedule["id"].as_str().unwrap();
        let (done, _) = outcome(&app, tenant, model, id, Duration::from_secs(5)).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert!(
            done["resultAt"].is_string() && done["result"].is_null(),
            "{done}"
        );
        assert_eq!(done["error"]["code"], code, "{done}");
        assert_eq!(done["error"]["type"], "permission_error", "{done}");
        assert!(
            done["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(done["error"].as_object().unwrap().contains_key("param"));
        // Nothing was written.
        assert!(consistent_history(&app.store, model).await.is_empty());
        assert!(app.catalog.get(model).is_none());
    }
    // The recorded error is exactly what the API answers that user now.
    for (tenant, schedule) in [(&t, &demoted), (&unfeatured, &switched_off)] {
        let model = schedule["modelId"].as_str().unwrap();
        let now = app.share(&tenant.project, model, &tenant.key).await;
        let answered: Value = now.json().await.unwrap();
        let id = schedule["id"].as_str().unwrap();
        let read: Value = one(&app, tenant, model.parse().unwrap(), id, false, &tenant.key)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["error"], answered["error"]);
    }
}

#[actix_rt::test]
async fn a_schedule_that_ran_cannot_be_cancelled() {
    // It checks the run's timing too: not under another test's load.
    let _heavy = exclusive().await;
    let app = spawn_app().await;
    let t = app.tenant().await;
    let never_shared = app
        .model_in(&t.project, "never shared", ModelStatus::Ready)
        .await;
    let (at, at_text) = whole_seconds_ahead(1);
    let share = scheduled(&app, &t, t.model, "share", &at_text).await;
    let unshare = scheduled(&app, &t, never_shared, "unshare", &at_text).await;
    let share_id = share["id"].as_str().unwrap();
    assert_shared_once_by(&app, &t, t.model, share_id, at).await;
    let (refused, _) = outcome(
        &app,
        &t,
        never_shared,
        unshare["id"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error"]["code"], "model_not_shared");
    assert_eq!(refused["error"]["type"], "conflict_error");
    for (model, id) in [
        (t.model, share_id),
        (never_shared, unshare["id"].as_str().unwrap()),
    ] {
        let cancel = one(&app, &t, model, id, true, &t.key).await;
        assert_error(cancel, StatusCode::CONFLICT, "schedule_not_pending").await;
        let read: Value = one(&app, &t, model, id, false, &t.key)
            .await
            .json()
            .await
            .unwrap();
        assert_ne!(read["status"], "cancelled");
    }
    // A request's own transition names no schedule.
    assert_eq!(
        app.unshare(&t.project, &t.model.to_string(), &t.key)
            .await
            .status(),
        StatusCode::OK
    );
    let history: Value = app
        .share_events(&t.project, &t.model.to_string(), "", &t.key)
        .await
        .json()
        .await
        .unwrap();
    assert!(history["data"][0]["scheduleId"].is_null(), "{history}");
    assert_eq!(history["data"][1]["scheduleId"], share_id);
}

#[actix_rt::test]
async fn a_schedule_due_while_no_instance_ran_runs_at_start_up() {
    let _heavy = exclusive().await;
    let db = TestDb::new();
    let first = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = first.tenant().await;
    let (at, at_text) = whole_seconds_ahead(1);
    let created = scheduled(&first, &t, t.model, "share", &at_text).await;
    let id = created["id"].as_str().unwrap();
    first.stop().await;
    // Past `at`, with no instance running: still pending.
    let wait = (at + chrono::Duration::milliseconds(1500) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let store = connect_store(&db).await;
    let waiting = store
        .get_schedule(&t.project, t.model, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.status, domain::ScheduleStatus::Pending);
    assert!(consistent_history(&store, t.model).await.is_empty());
    // A new instance runs it as it starts.
    let second = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let started = Utc::now();
    let (done, seen) = outcome(&second, &t, t.model, id, Duration::from_secs(1)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(seen - started <= chrono::Duration::seconds(1));
    assert!(parse_time(&done["resultAt"]) > at, "{done}");
    let events = consistent_history(&second.store, t.model).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].schedule_id.map(|s| s.to_string()).as_deref(),
        Some(id)
    );
    assert!(second.catalog.get(t.model).is_some());
    store.close().await.unwrap();
}

/// A runner that wrote its transition and died before recording the outcome: once its lease
/// is over, the next runner records the success from the event that names the schedule, and
/// does not run it again (an unshare run twice would fail with `model_not_shared`).
#[actix_rt::test]
async fn a_run_that_died_after_writing_is_recorded_not_repeated() {
    let _heavy = exclusive().await;
    let db = TestDb::new();
    let first = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let t = first.tenant().await;
    first.shared(&t, t.model).await;
    let (at, at_text) = whole_seconds_ahead(1);
    let created = scheduled(&first, &t, t.model, "unshare", &at_text).await;
    let id: domain::ScheduleId = created["id"].as_str().unwrap().parse().unwrap();
    first.stop().await;
    tokio::time::sleep((at - Utc::now()).to_std().unwrap_or_default()).await;

    // The runner that died: it claimed the schedule (its lease ends at `at`), wrote the unshare
    // with the schedule's id, and recorded nothing.
    let store = connect_store(&db).await;
    let lease = storage::Claim {
        token: uuid::Uuid::new_v4(),
        until: domain::Timestamp::from(at),
    };
    let claimed = store
        .claim_due_schedules(domain::Timestamp::from(Utc::now()), lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let model = store.get_model(t.model).await.unwrap().unwrap();
    let unshared_at = domain::now();
    store
        .apply_transition(storage::Transition {
            model_id: t.model,
            expected_version: model.version,
            action: ShareAction::Unshare,
            at: unshared_at,
            actor_user_id: Some(t.user),
            api_key_id: Some(t.key_id),
            request_id: id.to_string(),
            server_request_id: None,
            schedule_id: Some(id),
            guards: Vec::new(),
        })
        .await
        .unwrap();
    store.close().await.unwrap();

    let second = spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await;
    let (done, _) = outcome(
        &second,
        &t,
        t.model,
        &id.to_string(),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["shared"], false, "{done}");
    assert_eq!(
        parse_time(&done["result"]["unsharedAt"]),
        unshared_at.as_datetime()
    );
    let events = consistent_history(&second.store, t.model).await;
    assert_eq!(events.len(), 2, "one share, one unshare: {events:?}");
    assert_eq!(events[0].schedule_id, Some(id));
}
