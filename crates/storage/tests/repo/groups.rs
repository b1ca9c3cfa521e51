//! Transitions committed in groups: each keeps its own compare-and-set and event, and a guarded
//! share checks its guard inside the group's transaction.

use domain::{AccountId, ModelId, ProjectId, ShareAction};
use storage::{Model, Store, Transition, TransitionOutcome, WriteGuard};

use crate::fixtures::{acme, model, project, ts};

both!(grouped_transitions, guarded_transitions);

/// Concurrent transitions are committed in groups; each keeps its own compare-and-set and
/// event, shares and unshares mix in one group, and a second transition of a model waits for
/// the next group (it applies on top of the first).
async fn grouped_transitions(store: Store) {
    let project = acme(&store).await.project.id;
    let mut models = Vec::new();
    for i in 0..40 {
        models.push(model(&store, &project, &format!("group-{i}")).await);
    }
    concurrent_shares(&store, &models).await;
    unshares_then_shares_at_once(&store, &models).await;
    let group = store.largest_transition_group();
    assert!(
        group > 1,
        "the transitions were never committed together ({group})"
    );
}

/// An unguarded transition of the grouped tests, with the request id `group-{tag}`.
fn grouped(model: ModelId, version: i64, action: ShareAction, tag: &str) -> Transition {
    Transition {
        model_id: model,
        expected_version: version,
        action,
        at: ts(1_950_000_000),
        actor_user_id: None,
        api_key_id: None,
        request_id: format!("group-{tag}"),
        server_request_id: None,
        schedule_id: None,
        guards: Vec::new(),
    }
}

/// Shares every model at once. Every other share names a version the model is not at: it must
/// write nothing, whatever group it lands in, and the others must all commit.
async fn concurrent_shares(store: &Store, models: &[Model]) {
    let shares = models.iter().enumerate().map(|(i, m)| {
        let store = store.clone();
        let version = m.version + i64::from(i % 2 == 1);
        let t = grouped(m.id, version, ShareAction::Share, &format!("{i}-share"));
        tokio::spawn(async move { store.apply_transition(t).await })
    });
    let outcomes = futures_util::future::join_all(shares).await;
    for (i, (m, outcome)) in models.iter().zip(outcomes).enumerate() {
        let outcome = outcome.unwrap().unwrap();
        let events = store.list_share_events(m.id, None, 10).await.unwrap();
        let now = store.get_model(m.id).await.unwrap().unwrap();
        if i % 2 == 1 {
            assert_eq!(outcome, TransitionOutcome::Stale, "model {i}");
            assert!(events.items.is_empty(), "model {i}");
            assert!(!now.shared && now.version == m.version, "model {i}");
            continue;
        }
        let TransitionOutcome::Applied {
            model: after,
            event,
            endpoint_count: 0,
        } = outcome
        else {
            panic!("model {i}: {outcome:?}");
        };
        assert!(after.shared, "model {i}");
        assert_eq!(after.version, m.version + 1);
        assert_eq!(after.shared_at, Some(ts(1_950_000_000)));
        assert_eq!(Some(after), Some(now));
        assert_eq!(events.items.len(), 1, "model {i}");
        assert_eq!(events.items[0], event);
        assert_eq!(event.action, ShareAction::Share);
        assert_eq!(event.request_id, format!("group-{i}-share"));
    }
}

/// After [`concurrent_shares`], all queued at once, in this order: every model is unshared at
/// the version it had; the shared ones are then shared again at the version the unshare
/// leaves, in the same batch.
async fn unshares_then_shares_at_once(store: &Store, models: &[Model]) {
    let mut batch = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let shared = i % 2 == 0;
        let version = m.version + i64::from(shared);
        let unshare = grouped(m.id, version, ShareAction::Unshare, &format!("{i}-unshare"));
        batch.push(store.apply_transition(unshare));
        if shared {
            let again = grouped(m.id, version + 1, ShareAction::Share, &format!("{i}-again"));
            batch.push(store.apply_transition(again));
        }
    }
    let mut outcomes = futures_util::future::join_all(batch).await.into_iter();
    for (i, m) in models.iter().enumerate() {
        let unshare = outcomes.next().unwrap().unwrap();
        let events = store.list_share_events(m.id, None, 10).await.unwrap().items;
        if i % 2 == 1 {
            // Not shared: nothing to unshare.
            assert_eq!(unshare, TransitionOutcome::Stale, "model {i}");
            assert!(events.is_empty(), "model {i}");
            continue;
        }
        let again = outcomes.next().unwrap().unwrap();
        let TransitionOutcome::Applied {
            model: unshared, ..
        } = unshare
        else {
            panic!("model {i}: {unshare:?}");
        };
        let TransitionOutcome::Applied { model: shared, .. } = again else {
            panic!("model {i}: {again:?}");
        };
        assert!(!unshared.shared && shared.shared, "model {i}");
        assert_eq!(unshared.version, m.version + 2);
        assert_eq!(shared.version, m.version + 3);
        assert_eq!(unshared.unshared_at, Some(ts(1_950_000_000)));
        assert_eq!(shared.unshared_at, Some(ts(1_950_000_000)));
        assert_eq!(
            events.iter().map(|e| e.action).collect::<Vec<_>>(),
            [ShareAction::Share, ShareAction::Unshare, ShareAction::Share],
            "model {i}: newest first"
        );
        assert_eq!(events[0].request_id, format!("group-{i}-again"));
    }
}

/// A fresh account with one project and `n` ready models.
async fn account_with_models(store: &Store, name: &str, n: usize) -> (AccountId, Vec<Model>) {
    let account = store.create_account(name, &[]).await.unwrap();
    let id = ProjectId::generate();
    project(
        store,
        account.id,
        id.clone(),
        &name.to_ascii_lowercase(),
        name,
    )
    .await;
    let mut models = Vec::with_capacity(n);
    for i in 0..n {
        models.push(model(store, &id, &format!("{name}-{i}")).await);
    }
    (account.id, models)
}

/// `action` of `model` at the version it has, under `guard`.
fn guarded(model: &Model, action: ShareAction, guard: WriteGuard) -> Transition {
    Transition {
        model_id: model.id,
        expected_version: model.version,
        action,
        at: ts(1_960_000_000),
        actor_user_id: None,
        api_key_id: None,
        request_id: format!("guarded-{}", model.name),
        server_request_id: None,
        schedule_id: None,
        guards: vec![guard],
    }
}

/// The outcomes of `models`' guarded `action`s, applied concurrently.
async fn all_at_once(
    store: &Store,
    models: &[&Model],
    action: ShareAction,
    guard: WriteGuard,
) -> Vec<TransitionOutcome> {
    let tasks = models.iter().map(|m| {
        let (store, t) = (store.clone(), guarded(m, action, guard));
        tokio::spawn(async move { store.apply_transition(t).await })
    });
    let outcomes = futures_util::future::join_all(tasks).await.into_iter();
    outcomes.map(|o| o.unwrap().unwrap()).collect()
}

/// A guarded share is written only while the guard holds, checked inside the write's own
/// transaction: of many concurrent shares (committed in groups), exactly `limit` apply; the
/// rest write nothing and say how many were shared. A share whose model changed is stale
/// before it is over the limit; unshares free room; another account's shares do not count.
async fn guarded_transitions(store: Store) {
    let (account, models) = account_with_models(&store, "Quota", 12).await;
    let (elsewhere, other_models) = account_with_models(&store, "Elsewhere", 1).await;
    let guard = WriteGuard::MaxSharedInAccount {
        account_id: account,
        limit: 2,
    };
    let applied = shares_up_to_the_limit(&store, &models, guard).await;
    at_the_limit(&store, &models, &applied, guard).await;
    // The quota is the account's: this one has two shared, the other none.
    let other_guard = WriteGuard::MaxSharedInAccount {
        account_id: elsewhere,
        limit: 1,
    };
    let t = guarded(&other_models[0], ShareAction::Share, other_guard);
    let outcome = store.apply_transition(t).await.unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Applied { .. }),
        "{outcome:?}"
    );
}

/// Ten concurrent guarded shares of the first ten `models` under a limit of 2: the two that
/// applied; the others wrote nothing.
async fn shares_up_to_the_limit(store: &Store, models: &[Model], guard: WriteGuard) -> Vec<Model> {
    let first_ten: Vec<&Model> = models[..10].iter().collect();
    let outcomes = all_at_once(store, &first_ten, ShareAction::Share, guard).await;
    let mut applied = Vec::new();
    for (m, outcome) in first_ten.into_iter().zip(outcomes) {
        if let TransitionOutcome::Applied { model, .. } = outcome {
            applied.push(model);
            continue;
        }
        let limit_reached = TransitionOutcome::LimitReached { guard, shared: 2 };
        assert_eq!(outcome, limit_reached, "{}", m.name);
        assert_eq!(store.get_model(m.id).await.unwrap().as_ref(), Some(m));
        let events = store.list_share_events(m.id, None, 10).await.unwrap();
        assert!(events.items.is_empty(), "{}", m.name);
    }
    assert_eq!(applied.len(), 2, "10 concurrent shares under a limit of 2");
    let shared = store
        .count_shared_models_in_account(guard.account_id())
        .await;
    assert_eq!(shared.unwrap(), 2);
    applied
}

/// With two of `models` `applied` (shared) under `guard`: a share of a model that changed is
/// stale, not over the limit; an unshare passes and makes room for exactly one more share.
async fn at_the_limit(store: &Store, models: &[Model], applied: &[Model], guard: WriteGuard) {
    // At the limit, a share of a model that changed meanwhile is stale: the caller re-reads.
    let changed = Model {
        version: models[10].version + 1,
        ..models[10].clone()
    };
    let t = guarded(&changed, ShareAction::Share, guard);
    let stale = store.apply_transition(t).await.unwrap();
    assert_eq!(stale, TransitionOutcome::Stale);
    // An unshare passes the guard and makes room for exactly one more.
    let t = guarded(&applied[0], ShareAction::Unshare, guard);
    let unshared = store.apply_transition(t).await.unwrap();
    assert!(
        matches!(unshared, TransitionOutcome::Applied { .. }),
        "{unshared:?}"
    );
    let again = all_at_once(
        store,
        &[&models[10], &models[11]],
        ShareAction::Share,
        guard,
    )
    .await;
    let applied_again = again
        .iter()
        .filter(|o| matches!(o, TransitionOutcome::Applied { .. }))
        .count();
    assert_eq!(applied_again, 1, "{again:?}");
    assert!(
        again.contains(&TransitionOutcome::LimitReached { guard, shared: 2 }),
        "{again:?}"
    );
}
