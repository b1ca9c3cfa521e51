//! Database faults: the connection to PostgreSQL is cut under load (through a proxy the test
//! controls, [`proxy`]: an outage and a stall in [`postgres`]), an instance is killed with
//! SIGKILL under load ([`kill`]), and the disk fills ([`disk`]). Nothing acknowledged is lost,
//! nothing is half-written, no request hangs or answers 500, and service resumes unaided. The
//! clients and the final check they share are here.

mod disk;
mod kill;
mod postgres;
mod proxy;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{ModelId, ShareAction};
use reqwest::StatusCode;
use storage::Store;

use crate::helpers::{Tenant, TestApp, consistent_history};

/// What one client saw: each acknowledged transition's request id, per model.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<(ModelId, ShareAction, String)>,
    statuses: BTreeMap<u16, usize>,
    slowest: Duration,
    missing_retry_after: usize,
    /// Every answer: model, when the request was sent, the status.
    answers: Vec<(ModelId, Instant, u16)>,
}

/// One client per model: toggles its own model until `stop`, learning the state again (GET)
/// after any failure, so that every 200 is a real transition.
async fn drive(
    app: Arc<TestApp>,
    t: Tenant,
    model: ModelId,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut shared = false;
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let action = if shared {
            ShareAction::Unshare
        } else {
            ShareAction::Share
        };
        let request_id = format!("{model}-{n}");
        let started = Instant::now();
        let response = app
            .client
            .post(app.url(&format!("/{}/v1/models/{model}/{action}", t.project)))
            .bearer_auth(&t.key)
            .header("x-request-id", &request_id)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let took = started.elapsed();
        let status = match response {
            Ok(r) => {
                if r.status() == StatusCode::SERVICE_UNAVAILABLE
                    && !r.headers().contains_key("retry-after")
                {
                    seen.lock().unwrap().missing_retry_after += 1;
                }
                r.status().as_u16()
            }
            Err(_) => 0,
        };
        {
            let mut seen = seen.lock().unwrap();
            *seen.statuses.entry(status).or_default() += 1;
            seen.slowest = seen.slowest.max(took);
            seen.answers.push((model, started, status));
            if status == 200 {
                seen.acknowledged.push((model, action, request_id));
            }
        }
        if status == 200 {
            shared = !shared;
            continue;
        }
        // The outcome is unknown (the commit may have happened before the cut): ask.
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let response = app
                .client
                .get(app.url(&format!("/{}/v1/models/{model}", t.project)))
                .bearer_auth(&t.key)
                .send()
                .await;
            if let Ok(response) = response
                && response.status() == StatusCode::OK
            {
                shared = response.json::<serde_json::Value>().await.unwrap()["shared"] == true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every acknowledged transition has its event; per model, events alternate and the state
/// equals the last event.
async fn assert_nothing_lost(
    store: &Store,
    models: &[ModelId],
    acknowledged: &[(ModelId, ShareAction, String)],
) -> usize {
    let mut events_by_request = HashMap::new();
    let mut total = 0;
    for model in models {
        let events = consistent_history(store, *model).await;
        total += events.len();
        for event in events {
            events_by_request.insert(event.request_id.clone(), (event.model_id, event.action));
        }
    }
    for (model, action, request_id) in acknowledged {
        assert_eq!(
            events_by_request.get(request_id),
            Some(&(*model, *action)),
            "acknowledged {action} {request_id} has no event"
        );
    }
    total
}
