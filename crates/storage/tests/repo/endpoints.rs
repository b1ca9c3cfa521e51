//! Endpoints: creation (a slug is unique within its project), reading one back in its own
//! project only, the count a share reports, keyset pagination, and deletion.

use std::collections::HashSet;

use domain::{EndpointId, EndpointSlug, ModelId, ShareAction};
use storage::{Model, StorageError, Store, TransitionOutcome};

use crate::fixtures::{Tenant, acme, endpoints_of, model, other, share, transition, ts};

both!(
    endpoints,
    endpoint_count_in_transitions,
    endpoint_pagination,
    endpoint_deletion,
);

/// Both tenants and a shared model of Acme's.
async fn shared_model(store: &Store) -> (Tenant, Tenant, Model) {
    let (acme, other) = (acme(store).await, other(store).await);
    let model = model(store, &acme.project.id, "llama-7b").await;
    let model = share(store, &model, ts(1_900_000_000)).await;
    (acme, other, model)
}

/// A new endpoint is active on its model; a taken slug is a conflict and an unknown model is
/// not found; another project may use the same slug on the same model; an endpoint is read
/// back in its own project only.
async fn endpoints(store: Store) {
    let (acme, other, model) = shared_model(&store).await;
    let (pid, other_pid) = (&acme.project.id, &other.project.id);
    let slug = EndpointSlug::parse("chat").unwrap();
    let ep = store.create_endpoint(pid, &slug, model.id).await.unwrap();
    assert_eq!(ep.status, "active");
    assert_eq!(ep.model_id, model.id);
    let dup_ep = store.create_endpoint(pid, &slug, model.id).await;
    assert!(
        matches!(dup_ep, Err(StorageError::Conflict("endpoint slug"))),
        "{dup_ep:?}"
    );
    let ghost = EndpointSlug::parse("ghost").unwrap();
    let no_model = store.create_endpoint(pid, &ghost, ModelId::new()).await;
    assert!(
        matches!(no_model, Err(StorageError::NotFound("model"))),
        "{no_model:?}"
    );
    let ep_other = store.create_endpoint(other_pid, &slug, model.id).await;
    let ep_other = ep_other.unwrap();
    assert_eq!(store.count_endpoints_for_model(model.id).await.unwrap(), 2);
    assert_eq!(store.get_endpoint(pid, ep.id).await.unwrap(), Some(ep));
    assert_eq!(store.get_endpoint(pid, ep_other.id).await.unwrap(), None);
    let unknown = store.get_endpoint(pid, EndpointId::new()).await;
    assert_eq!(unknown.unwrap(), None);
}

/// A share reports the endpoints the model has (for its catalog entry); an unshare 0.
async fn endpoint_count_in_transitions(store: Store) {
    let (acme, other, model) = shared_model(&store).await;
    let slug = EndpointSlug::parse("chat").unwrap();
    for project in [&acme.project.id, &other.project.id] {
        store
            .create_endpoint(project, &slug, model.id)
            .await
            .unwrap();
    }
    let version = store.get_model(model.id).await.unwrap().unwrap().version;
    for (expected_version, action, endpoints) in [
        (version, ShareAction::Unshare, 0),
        (version + 1, ShareAction::Share, 2),
    ] {
        let outcome = store
            .apply_transition(transition(
                model.id,
                expected_version,
                action,
                ts(1_900_000_010),
            ))
            .await
            .unwrap();
        let TransitionOutcome::Applied { endpoint_count, .. } = outcome else {
            panic!("{action:?} should apply");
        };
        assert_eq!(endpoint_count, endpoints, "{action:?}");
    }
}

/// Keyset pagination over a project's 26 endpoints, 10 per page: no repeat, no skip, newest
/// first; another project's endpoint is not listed.
async fn endpoint_pagination(store: Store) {
    let (acme, other, model) = shared_model(&store).await;
    let created = endpoints_of(&store, &acme, &other, model.id).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_endpoints(&acme.project.id, after, 10)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|e| (e.created_at, e.id)));
        if !page.has_more {
            break;
        }
        let last = page.items.last().unwrap();
        after = Some((last.created_at, last.id));
    }
    assert_eq!(seen.len(), 26);
    assert_eq!(
        seen.iter().map(|(_, id)| *id).collect::<HashSet<_>>(),
        created.in_acme
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
}

/// An endpoint is deleted once, and only through its own project; the model's count follows.
async fn endpoint_deletion(store: Store) {
    let (acme, other, model) = shared_model(&store).await;
    let created = endpoints_of(&store, &acme, &other, model.id).await;
    let pid = &acme.project.id;
    assert_eq!(store.count_endpoints_for_model(model.id).await.unwrap(), 27);
    assert!(store.delete_endpoint(pid, created.chat.id).await.unwrap());
    assert!(!store.delete_endpoint(pid, created.chat.id).await.unwrap());
    assert!(
        !store
            .delete_endpoint(pid, created.other_chat.id)
            .await
            .unwrap()
    );
    assert_eq!(store.count_endpoints_for_model(model.id).await.unwrap(), 26);
    let unknown = store.count_endpoints_for_model(ModelId::new()).await;
    assert_eq!(unknown.unwrap(), 0);
    assert_eq!(
        store.get_endpoint(pid, created.chat.id).await.unwrap(),
        None
    );
}
