//! The schedule runner: every instance runs one, started with the service. Each tick (the first
//! at start-up, so that schedules that came due while no instance ran are run at once; then
//! every `schedules.tick_interval_ms`) it claims the schedules that are due and runs them
//! concurrently.
//!
//! A run is a share or unshare as the scheduling user **as of now**: their principal is read
//! fresh (membership, role, account features), then the transition goes through the catalog
//! exactly as a request's would (the chain's caller checks, the model's actor, the whole chain
//! on fresh state), its share event naming the schedule. The outcome is recorded on the
//! schedule: `succeeded` with the seed's response body, or `failed` with the error object the
//! API would have answered. A transient failure (what the API answers 503) records nothing and
//! gives the claim back, so the next tick, on any instance, tries again.
//!
//! Exactly once: the claim ([`Store::claim_due_schedules`]) gives each due schedule to one
//! runner, under a lease. A runner that stopped after its transition committed but before it
//! recorded the outcome left the schedule's share event behind; whoever takes the schedule
//! over after the lease finds that event and records the success instead of running it again.

use std::sync::Arc;
use std::time::Duration;

use catalog::{Catalog, Visibility};
use domain::{ErrorCode, ShareAction, Timestamp, now};
use futures_util::future::join_all;
use storage::{Claim, Schedule, ScheduleOutcome, ShareEvent, Store};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::error::ApiError;
use crate::routes::sharing::SeedBody;

/// Most schedules one claim takes; a full claim is followed by the next at once.
const BATCH: u64 = 32;

/// `[schedules]` as the runner uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// Time between two looks for due schedules.
    pub tick: Duration,
    /// How long a claim holds a schedule before another runner may take it over.
    pub lease: Duration,
}

/// A running schedule runner. [`Scheduler::stop`] it before the store closes.
pub struct Scheduler {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Starts the runner on the current runtime; its first tick runs at once.
    pub fn start(store: Store, catalog: Catalog, settings: SchedulerSettings) -> Self {
        let stop = Arc::new(Notify::new());
        let runner = Runner {
            store,
            catalog,
            lease: settings.lease,
        };
        let task = actix_rt::spawn(run(runner, settings.tick, Arc::clone(&stop)));
        Self { stop, task }
    }

    /// Stops claiming, and waits for the runs in flight to be recorded.
    pub async fn stop(self) {
        self.stop.notify_one();
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the schedule runner failed");
        }
    }
}

/// Ticks until told to stop (between ticks, never in the middle of one).
async fn run(runner: Runner, tick: Duration, stop: Arc<Notify>) {
    loop {
        let claimed = runner.tick().await;
        let pause = if claimed >= BATCH {
            Duration::ZERO
        } else {
            tick
        };
        tokio::select! {
            () = stop.notified() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// What a run needs.
struct Runner {
    store: Store,
    catalog: Catalog,
    lease: Duration,
}

/// A failure that retrying may fix: the schedule stays pending.
struct Transient(ApiError);

impl Runner {
    /// Claims what is due now and runs it; how many schedules it claimed.
    async fn tick(&self) -> u64 {
        let at = now();
        match self.store.has_due_schedules(at).await {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for due schedules");
                return 0;
            }
        }
        let claim = Claim {
            token: uuid::Uuid::new_v4(),
            until: lease_end(at, self.lease),
        };
        let due = match self.store.claim_due_schedules(at, claim, BATCH).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim due schedules");
                return 0;
            }
        };
        join_all(due.iter().map(|schedule| {
            let span = tracing::info_span!(
                "schedule",
                schedule_id = %schedule.id,
                model_id = %schedule.model_id,
                action = %schedule.action
            );
            self.execute(schedule, claim.token).instrument(span)
        }))
        .await;
        u64::try_from(due.len()).unwrap_or(u64::MAX)
    }

    /// Runs one claimed schedule and records its outcome, or gives the claim back after a
    /// transient failure.
    async fn execute(&self, schedule: &Schedule, token: uuid::Uuid) {
        let outcome = match self.outcome_of(schedule).await {
            Ok(outcome) => outcome,
            Err(Transient(err)) => {
                tracing::warn!(error = %err, "scheduled transition not applied; retrying");
                if let Err(err) = self.store.release_schedule(schedule.id, token).await {
                    tracing::warn!(error = %err, "claim not released; retried after its lease");
                }
                return;
            }
        };
        let label = match &outcome {
            ScheduleOutcome::Succeeded(_) => "succeeded",
            ScheduleOutcome::Failed(_) => "failed",
        };
        metrics::counter!("modelshare_schedules_total", "action" => schedule.action.as_str(), "outcome" => label)
            .increment(1);
        match self
            .store
            .complete_schedule(schedule.id, token, &outcome, now())
            .await
        {
            Ok(true) => tracing::info!(outcome = label, "schedule ran"),
            Ok(false) => tracing::warn!("schedule was taken over before its outcome was recorded"),
            Err(err) => {
                // The lease runs out and another claim records it (from the share event, if
                // the transition was written).
                tracing::warn!(error = %err, "outcome not recorded; recorded after the lease");
            }
        }
    }

    /// How the schedule's run ends: the transition's 200 body or its error object.
    async fn outcome_of(&self, schedule: &Schedule) -> Result<ScheduleOutcome, Transient> {
        let written = self
            .store
            .share_event_of_schedule(schedule.id)
            .await
            .map_err(|e| Transient(e.into()))?;
        if let Some(event) = written {
            // An earlier claim wrote the transition and stopped before recording it.
            return succeeded(&SeedBody::new(schedule.model_id, event_visibility(&event)));
        }
        let principal = auth::member_principal(
            &self.store,
            &schedule.project_id,
            schedule.created_by_user_id,
            schedule.created_by_key_id,
        )
        .await;
        let principal = match principal {
            Ok(Some(principal)) => principal,
            Ok(None) => return failed(no_longer_member()),
            Err(err) => return failed(err.into()),
        };
        let result = self
            .catalog
            .run_scheduled(schedule.model_id, schedule.action, &principal, schedule.id)
            .await;
        match result {
            Ok(done) => succeeded(&SeedBody::from(&done)),
            Err(err) => failed(err.into()),
        }
    }
}

/// `at` plus the lease, in whole seconds (rounded up).
fn lease_end(at: Timestamp, lease: Duration) -> Timestamp {
    let secs = i64::try_from(lease.as_secs().saturating_add(1)).unwrap_or(i64::MAX);
    let end = at
        .as_datetime()
        .checked_add_signed(chrono::Duration::seconds(secs))
        .unwrap_or(at.as_datetime());
    Timestamp::from(end)
}

/// Where a share event left its model.
fn event_visibility(event: &ShareEvent) -> Visibility {
    match event.action {
        ShareAction::Share => Visibility::Shared { at: event.at },
        ShareAction::Unshare => Visibility::Unshared { at: event.at },
    }
}

fn succeeded(body: &SeedBody) -> Result<ScheduleOutcome, Transient> {
    serde_json::to_value(body)
        .map(ScheduleOutcome::Succeeded)
        .map_err(|e| {
            tracing::error!(error = %e, "result not serializable");
            Transient(ApiError::internal())
        })
}

/// A refusal is the outcome; what the API would answer 503 is transient.
fn failed(err: ApiError) -> Result<ScheduleOutcome, Transient> {
    if err.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        return Err(Transient(err));
    }
    serde_json::to_value(err.body())
        .map(ScheduleOutcome::Failed)
        .map_err(|e| {
            tracing::error!(error = %e, "error object not serializable");
            Transient(ApiError::internal())
        })
}

/// The scheduling user left the project since: as a share by a non-member would be.
fn no_longer_member() -> ApiError {
    ApiError::new(
        ErrorCode::PermissionDenied,
        "The user who created this schedule is no longer a member of the project.",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_lease_ends_in_whole_seconds_after_its_length() {
        let at = Timestamp::from(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let end = lease_end(at, Duration::from_millis(60_500));
        assert_eq!(end.as_datetime().timestamp(), 1_800_000_061);
    }

    #[test]
    fn only_an_unavailable_database_is_retried() {
        assert!(failed(ApiError::unavailable()).is_err());
        match failed(no_longer_member()) {
            Ok(ScheduleOutcome::Failed(body)) => {
                assert_eq!(body["code"], "permission_denied");
                assert_eq!(body["type"], "permission_error");
                assert!(body["param"].is_null());
            }
            _ => panic!("not a failure"),
        }
    }
}
