//! Many concurrent shares and unshares of one model: the model's actor serializes them.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use domain::ShareAction;
use reqwest::StatusCode;

use crate::helpers::{consistent_history, spawn_app, spawn_app_with};

#[actix_rt::test]
async fn four_hundred_concurrent_shares_and_unshares_of_one_model_stay_consistent() {
    let _heavy = crate::helpers::exclusive().await;
    let app = spawn_app().await;
    let t = app.tenant().await;
    let model = t.model.to_string();
    const CALLS: usize = 400;

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        // Half shares, half unshares, all in flight at once.
        let action = if i % 2 == 0 {
            ShareAction::Share
        } else {
            ShareAction::Unshare
        };
        let client = app.client.clone();
        let url = app.url(&format!("/{}/v1/models/{model}/{action}", t.project));
        let key = t.key.clone();
        tasks.push(actix_rt::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("request");
            (action, response.status())
        }));
    }
    let mut results = Vec::with_capacity(CALLS);
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    let elapsed = started.elapsed();

    let count = |action: ShareAction, status: StatusCode| {
        results
            .iter()
            .filter(|(a, s)| *a == action && *s == status)
            .count()
    };
    let share_ok = count(ShareAction::Share, StatusCode::OK);
    let unshare_ok = count(ShareAction::Unshare, StatusCode::OK);
    let unshare_conflict = count(ShareAction::Unshare, StatusCode::CONFLICT);
    for (action, status) in &results {
        let allowed = *status == StatusCode::OK
            || (*action == ShareAction::Unshare && *status == StatusCode::CONFLICT);
        assert!(allowed, "{action} answered {status}");
    }
    assert_eq!(share_ok + unshare_ok + unshare_conflict, CALLS);

    // Events alternate share/unshare and the final state equals the last event.
    let events = consistent_history(&app.store, t.model).await;
    let unshare_events = events
        .iter()
        .filter(|e| e.action == ShareAction::Unshare)
        .count();
    assert_eq!(
        unshare_ok, unshare_events,
        "every unshare 200 has exactly one event"
    );

    let model_row = app.store.get_model(t.model).await.unwrap().unwrap();
    assert_eq!(
        app.catalog.get(t.model).is_some(),
        model_row.shared,
        "the catalog agrees"
    );
    // The model's actor ran them one at a time: no message began while another ran, and no
    // write found the model changed under it (the compare-and-set would have caught that, but
    // inside one process it should never be needed).
    assert_eq!(
        app.catalog.overlapping_transitions(),
        0,
        "transitions of one model interleaved"
    );
    assert_eq!(
        app.catalog.stale_writes(),
        0,
        "a write found the model changed under it"
    );

    println!(
        "race: {CALLS} calls in {:.0} ms; share 200 = {share_ok}, unshare 200 = {unshare_ok}, \
         unshare 409 = {unshare_conflict}, events = {} ({} unshare)",
        elapsed.as_secs_f64() * 1000.0,
        events.len(),
        unshare_events
    );
}

#[actix_rt::test]
async fn idle_model_actors_are_stopped() {
    let app = spawn_app_with(|s| s.actors.idle_timeout_ms = NonZeroU64::new(2000).unwrap()).await;
    let t = app.tenant().await;
    let mut models = vec![t.model];
    for i in 0..4 {
        models.push(
            app.model_in(&t.project, &format!("m{i}"), domain::ModelStatus::Ready)
                .await,
        );
    }
    for model in &models {
        app.shared(&t, *model).await;
    }
    assert_eq!(app.catalog.registered_actors(), models.len());
    assert_eq!(app.catalog.live_actors(), models.len());

    let deadline = Instant::now() + Duration::from_secs(20);
    while (app.catalog.registered_actors() > 0 || app.catalog.live_actors() > 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.catalog.registered_actors(),
        0,
        "registry size back to 0"
    );
    assert_eq!(app.catalog.live_actors(), 0, "every actor stopped");

    // A later request starts a fresh actor and works.
    let response = app.unshare(&t.project, &t.model.to_string(), &t.key).await;
    assert_eq!(response.status(), StatusCode::OK);
}
