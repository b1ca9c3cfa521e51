//! Schedules: created pending, listed newest first by status, claimed once under a lease (taken
//! over only after it), completed only by the claim's holder, cancelled only while pending and
//! unclaimed.

use domain::{ApiKeyId, ScheduleStatus, ShareAction, Timestamp};
use serde_json::json;
use storage::{CancelRefused, Claim, NewSchedule, ScheduleOutcome, Store};

use crate::fixtures::{acme, member, model, ts};

both!(
    a_due_schedule_is_claimed_once_until_its_lease_runs_out,
    only_the_claims_holder_records_the_outcome,
    a_schedule_is_cancelled_only_while_pending_and_unclaimed,
    schedules_list_newest_first_by_status_and_model,
);

const T0: i64 = 1_900_000_000;

fn claim(until: Timestamp) -> Claim {
    Claim {
        token: uuid::Uuid::new_v4(),
        until,
    }
}

/// Acme's admin schedules `action` of a new model named `name` at `at`.
async fn scheduled(
    store: &Store,
    name: &str,
    action: ShareAction,
    at: Timestamp,
) -> storage::Schedule {
    let tenant = acme_once(store).await;
    let m = model(store, &tenant.project.id, name).await;
    let admin = member(
        store,
        &tenant,
        &format!("{name}@acme.example"),
        domain::Role::Admin,
    )
    .await;
    store
        .create_schedule(NewSchedule {
            project_id: tenant.project.id.clone(),
            model_id: m.id,
            action,
            at,
            created_by_user_id: admin.id,
            created_by_key_id: ApiKeyId::new(),
        })
        .await
        .unwrap()
}

/// Acme, created by the first call on this store.
async fn acme_once(store: &Store) -> crate::fixtures::Tenant {
    let id = domain::ProjectId::parse("proj_ACME01").unwrap();
    match store.get_project(&id).await.unwrap() {
        Some(project) => crate::fixtures::Tenant {
            account: store
                .get_account(project.account_id)
                .await
                .unwrap()
                .unwrap(),
            project,
        },
        None => acme(store).await,
    }
}

async fn a_due_schedule_is_claimed_once_until_its_lease_runs_out(store: Store) {
    let s = scheduled(&store, "m1", ShareAction::Share, ts(T0)).await;
    assert_eq!(s.status, ScheduleStatus::Pending);
    // Not due yet: nothing to claim.
    assert!(!store.has_due_schedules(ts(T0 - 1)).await.unwrap());
    let early = claim(ts(T0 + 60));
    assert!(
        store
            .claim_due_schedules(ts(T0 - 1), early, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Due: one claim gets it, with one attempt counted.
    assert!(store.has_due_schedules(ts(T0)).await.unwrap());
    let first = claim(ts(T0 + 60));
    let claimed = store.claim_due_schedules(ts(T0), first, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, s.id);
    assert_eq!(claimed[0].attempts, 1);
    // Held: nobody else gets it while the lease runs, even much later than `at`.
    assert!(!store.has_due_schedules(ts(T0 + 59)).await.unwrap());
    let second = claim(ts(T0 + 120));
    assert!(
        store
            .claim_due_schedules(ts(T0 + 59), second, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease ran out (its holder stopped): another claim takes it over.
    let taken = store
        .claim_due_schedules(ts(T0 + 61), second, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    assert_eq!(taken[0].status, ScheduleStatus::Pending);
}

async fn only_the_claims_holder_records_the_outcome(store: Store) {
    let s = scheduled(&store, "m2", ShareAction::Unshare, ts(T0)).await;
    let first = claim(ts(T0 + 1));
    store.claim_due_schedules(ts(T0), first, 10).await.unwrap();
    let second = claim(ts(T0 + 10));
    store
        .claim_due_schedules(ts(T0 + 2), second, 10)
        .await
        .unwrap();
    let error = json!({"message": "m", "type": "conflict_error", "code": "model_not_shared", "param": null});
    let outcome = ScheduleOutcome::Failed(error.clone());
    // The first holder lost its claim: it records nothing.
    assert!(
        !store
            .complete_schedule(s.id, first.token, &outcome, ts(T0 + 3))
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_schedule(s.id, second.token, &outcome, ts(T0 + 3))
            .await
            .unwrap()
    );
    let done = store
        .get_schedule(&s.project_id, s.model_id, s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, ScheduleStatus::Failed);
    assert_eq!(done.error, Some(error));
    assert_eq!(done.result, None);
    assert_eq!(done.result_at, Some(ts(T0 + 3)));
    // Recorded once: a second record, or a release, changes nothing.
    let late = ScheduleOutcome::Succeeded(json!({}));
    assert!(
        !store
            .complete_schedule(s.id, second.token, &late, ts(T0 + 4))
            .await
            .unwrap()
    );
    assert!(!store.release_schedule(s.id, second.token).await.unwrap());
    assert!(
        store
            .claim_due_schedules(ts(T0 + 100), claim(ts(T0 + 200)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_schedule_is_cancelled_only_while_pending_and_unclaimed(store: Store) {
    let far = domain::now().as_datetime() + chrono::Duration::days(30);
    let s = scheduled(&store, "m3", ShareAction::Share, Timestamp::from(far)).await;
    let cancelled = store
        .cancel_schedule(&s.project_id, s.model_id, s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, ScheduleStatus::Cancelled);
    assert!(cancelled.cancelled_at.is_some());
    assert_eq!(
        store
            .cancel_schedule(&s.project_id, s.model_id, s.id)
            .await
            .unwrap(),
        Err(CancelRefused::NotPending)
    );
    // Another model's or a missing schedule: not found.
    let other = scheduled(&store, "m4", ShareAction::Share, Timestamp::from(far)).await;
    assert_eq!(
        store
            .cancel_schedule(&s.project_id, other.model_id, s.id)
            .await
            .unwrap(),
        Err(CancelRefused::NotFound)
    );
    // Claimed now (a runner is running it): not pending any more; released, cancellable again.
    let due = scheduled(&store, "m5", ShareAction::Share, ts(1_700_000_000)).await;
    let held = Claim {
        token: uuid::Uuid::new_v4(),
        until: Timestamp::from(far),
    };
    store
        .claim_due_schedules(domain::now(), held, 10)
        .await
        .unwrap();
    assert_eq!(
        store
            .cancel_schedule(&due.project_id, due.model_id, due.id)
            .await
            .unwrap(),
        Err(CancelRefused::NotPending)
    );
    assert!(store.release_schedule(due.id, held.token).await.unwrap());
    assert!(
        store
            .cancel_schedule(&due.project_id, due.model_id, due.id)
            .await
            .unwrap()
            .is_ok()
    );
    // A cancelled schedule is never claimed.
    assert!(
        store
            .claim_due_schedules(domain::now(), claim(Timestamp::from(far)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn schedules_list_newest_first_by_status_and_model(store: Store) {
    let a = scheduled(&store, "m6", ShareAction::Share, ts(T0)).await;
    let b = scheduled(&store, "m7", ShareAction::Unshare, ts(T0 + 5)).await;
    store
        .cancel_schedule(&b.project_id, b.model_id, b.id)
        .await
        .unwrap()
        .unwrap();
    let project = &a.project_id;
    let all = store
        .list_schedules(project, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(!all.has_more);
    let one = store
        .list_schedules(project, None, None, None, 1)
        .await
        .unwrap();
    assert!(one.has_more);
    let last = &one.items[0];
    let rest = store
        .list_schedules(project, None, None, Some((last.created_at, last.id)), 1)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_ne!(rest.items[0].id, last.id);
    let cancelled = store
        .list_schedules(project, None, Some(ScheduleStatus::Cancelled), None, 10)
        .await
        .unwrap();
    assert_eq!(
        cancelled.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![b.id]
    );
    let of_a = store
        .list_schedules(project, Some(a.model_id), None, None, 10)
        .await
        .unwrap();
    assert_eq!(
        of_a.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![a.id]
    );
}
