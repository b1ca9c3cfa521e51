//! Share and unshare: the compare-and-set on the model's version, what a transition writes to
//! the model and to its share history, and the reads of that history.

use domain::{ApiKeyId, ModelId, ModelStatus, ProjectId, Role, ShareAction, Timestamp, UserId};
use storage::{Model, ShareEvent, Store, Transition, TransitionOutcome};

use crate::fixtures::{acme, key, member, model, ts};

both!(share_and_unshare, stale_transitions, share_events);

/// An active model of Acme (at version 1) and who shares it.
struct Sharing {
    store: Store,
    model: Model,
    project: ProjectId,
    alice: UserId,
    key: ApiKeyId,
}

impl Sharing {
    /// Acme, Alice (an admin) with a key, and a model of Acme's made active.
    async fn new(store: Store) -> Self {
        let acme = acme(&store).await;
        let alice = member(&store, &acme, "alice@acme.test", Role::Admin).await;
        let key = key(&store, &acme, &alice, [7u8; 32]).await.id;
        let ready = model(&store, &acme.project.id, "llama-7b").await;
        let model = store
            .set_model_status(ready.id, ModelStatus::Active)
            .await
            .unwrap();
        assert_eq!(model.version, 1);
        let (project, alice) = (acme.project.id, alice.id);
        Self {
            store,
            model,
            project,
            alice,
            key,
        }
    }

    /// `action` by Alice with her key, expecting `version`; its request id is `req-{version}`.
    fn transition(&self, version: i64, action: ShareAction, at: Timestamp) -> Transition {
        Transition {
            model_id: self.model.id,
            expected_version: version,
            action,
            at,
            actor_user_id: Some(self.alice),
            api_key_id: Some(self.key),
            request_id: format!("req-{version}"),
            server_request_id: None,
            schedule_id: None,
            guards: Vec::new(),
        }
    }

    /// Applies `action` by Alice (see [`Sharing::transition`]).
    async fn apply(&self, version: i64, action: ShareAction, at: Timestamp) -> TransitionOutcome {
        let t = self.transition(version, action, at);
        self.store.apply_transition(t).await.unwrap()
    }

    /// Applies a transition that must apply (the model has no endpoints).
    async fn applied(
        &self,
        version: i64,
        action: ShareAction,
        at: Timestamp,
    ) -> (Model, ShareEvent) {
        let outcome = self.apply(version, action, at).await;
        let TransitionOutcome::Applied {
            model,
            event,
            endpoint_count: 0,
        } = outcome
        else {
            panic!("{action:?} at version {version} should apply: {outcome:?}");
        };
        (model, event)
    }

    /// Share, unshare, share again: the three events, oldest first.
    async fn history(&self) -> [ShareEvent; 3] {
        let (_, e1) = self.applied(1, ShareAction::Share, ts(1_900_000_000)).await;
        let (_, e2) = self
            .applied(2, ShareAction::Unshare, ts(1_900_000_002))
            .await;
        let (_, e3) = self.applied(3, ShareAction::Share, ts(1_900_000_003)).await;
        [e1, e2, e3]
    }
}

/// A share sets the flag and its time and bumps the version, with an event that says who and
/// which request; an unshare keeps the share time and sets its own; events grow.
async fn share_and_unshare(store: Store) {
    let s = Sharing::new(store.clone()).await;
    let (shared, e1) = s.applied(1, ShareAction::Share, ts(1_900_000_000)).await;
    assert!(shared.shared);
    assert_eq!(shared.version, 2);
    assert_eq!(shared.shared_at, Some(ts(1_900_000_000)));
    assert_eq!(shared.updated_at, ts(1_900_000_000));
    assert_eq!(shared.unshared_at, None);
    assert_eq!(e1.action, ShareAction::Share);
    assert_eq!(e1.model_id, s.model.id);
    assert_eq!(e1.project_id, s.project);
    assert_eq!(e1.actor_user_id, Some(s.alice));
    assert_eq!(e1.api_key_id, Some(s.key));
    assert_eq!(e1.request_id, "req-1");
    assert_eq!(store.get_model(s.model.id).await.unwrap(), Some(shared));

    let (unshared, e2) = s.applied(2, ShareAction::Unshare, ts(1_900_000_002)).await;
    assert!(!unshared.shared);
    assert_eq!(unshared.version, 3);
    assert_eq!(unshared.shared_at, Some(ts(1_900_000_000)));
    assert_eq!(unshared.unshared_at, Some(ts(1_900_000_002)));
    assert!(e2.id > e1.id);
    let (again, e3) = s.applied(3, ShareAction::Share, ts(1_900_000_003)).await;
    assert!(again.shared);
    assert!(e3.id > e2.id);
}

/// An old version is stale; so is sharing an already shared model at the right version, and any
/// transition of an unknown model. A stale transition writes nothing.
async fn stale_transitions(store: Store) {
    let s = Sharing::new(store.clone()).await;
    let (shared, _) = s.applied(1, ShareAction::Share, ts(1_900_000_000)).await;
    let old = s.apply(1, ShareAction::Unshare, ts(1_900_000_001)).await;
    assert_eq!(old, TransitionOutcome::Stale);
    let twice = s.apply(2, ShareAction::Share, ts(1_900_000_001)).await;
    assert_eq!(twice, TransitionOutcome::Stale);
    assert_eq!(store.get_model(s.model.id).await.unwrap(), Some(shared));
    let unknown = store
        .apply_transition(Transition {
            model_id: ModelId::new(),
            ..s.transition(0, ShareAction::Share, ts(1))
        })
        .await
        .unwrap();
    assert_eq!(unknown, TransitionOutcome::Stale);
    assert_eq!(
        store
            .list_share_events(s.model.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

/// A model's history pages newest first; the whole log reads oldest first after an id, and its
/// newest id is known.
async fn share_events(store: Store) {
    let s = Sharing::new(store.clone()).await;
    let [e1, e2, e3] = s.history().await;
    let events = store.list_share_events(s.model.id, None, 2).await.unwrap();
    assert_eq!(
        events.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![e3.id, e2.id]
    );
    assert!(events.has_more);
    let rest = store
        .list_share_events(s.model.id, Some(e2.id), 2)
        .await
        .unwrap();
    assert_eq!(rest.items, vec![e1.clone()]);
    assert!(!rest.has_more);
    let unknown = store.list_share_events(ModelId::new(), None, 10).await;
    assert!(unknown.unwrap().items.is_empty());
    let tail = store.share_events_after(0, 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![e1.id, e2.id, e3.id]
    );
    let next = store.share_events_after(e1.id, 1).await.unwrap();
    assert_eq!(next[0].id, e2.id);
    assert!(
        store
            .share_events_after(e3.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.max_share_event_id().await.unwrap(), e3.id);
}
