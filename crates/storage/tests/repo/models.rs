//! Models: creation and reading back, status changes (each bumps the version), and keyset
//! pagination of a project's models.

use std::collections::HashSet;

use domain::{ModelId, ModelStatus, ProjectId};
use storage::{StorageError, Store};

use crate::fixtures::{acme, model, new_model, project};

both!(models, model_status, model_pagination);

/// A new model is at version 0, not shared, and reads back whole; a taken id is a conflict and
/// an unknown project is refused.
async fn models(store: Store) {
    let pid = acme(&store).await.project.id;
    let nm = new_model(&pid, "llama-7b", ModelStatus::Ready);
    let model = store.create_model(nm.clone()).await.unwrap();
    assert_eq!(model.version, 0);
    assert!(!model.shared);
    assert_eq!(model.tags, vec!["chat".to_owned(), "en".to_owned()]);
    assert_eq!(model.parameter_count, Some(7_000_000_000));
    let read = store.get_model(model.id).await.unwrap();
    assert_eq!(read, Some(model.clone()));
    assert_eq!(store.get_model(ModelId::new()).await.unwrap(), None);
    let dup_model = store.create_model(nm).await;
    assert!(
        matches!(dup_model, Err(StorageError::Conflict("model id"))),
        "{dup_model:?}"
    );
    let orphan_model = store
        .create_model(new_model(&ProjectId::generate(), "x", ModelStatus::Ready))
        .await;
    assert!(
        matches!(orphan_model, Err(StorageError::NotFound("project"))),
        "{orphan_model:?}"
    );
}

/// A status change is a write: it bumps the version and the update time; an unknown model is
/// not found.
async fn model_status(store: Store) {
    let pid = acme(&store).await.project.id;
    let model = model(&store, &pid, "llama-7b").await;
    let active = store
        .set_model_status(model.id, ModelStatus::Active)
        .await
        .unwrap();
    assert_eq!(active.status, ModelStatus::Active);
    assert_eq!(active.version, 1);
    assert!(active.updated_at >= model.updated_at);
    assert_eq!(store.get_model(model.id).await.unwrap(), Some(active));
    assert!(matches!(
        store
            .set_model_status(ModelId::new(), ModelStatus::Active)
            .await,
        Err(StorageError::NotFound("model"))
    ));
}

/// Keyset pagination over 25 models, 10 per page: no repeat, no skip, newest first; a page as
/// large as the list says there is no more. Another project's model is not listed.
async fn model_pagination(store: Store) {
    let acme = acme(&store).await;
    let elsewhere = model(&store, &acme.project.id, "llama-7b").await;
    let pag_pid = ProjectId::generate();
    project(&store, acme.account.id, pag_pid.clone(), "paging", "Paging").await;
    let mut created = HashSet::new();
    for i in 0..25 {
        created.insert(model(&store, &pag_pid, &format!("m{i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_project_models(&pag_pid, after, 10)
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|m| (m.created_at, m.id)));
        if !page.has_more {
            break;
        }
        let last = page.items.last().unwrap();
        after = Some((last.created_at, last.id));
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let ids: HashSet<ModelId> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, created);
    assert!(!ids.contains(&elsewhere.id));
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties broken by id descending");
    let exact = store.list_project_models(&pag_pid, None, 25).await.unwrap();
    assert_eq!(exact.items.len(), 25);
    assert!(!exact.has_more);
}
