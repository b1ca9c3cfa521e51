//! Every repository function against a temp-file SQLite database and, when
//! `MODELSHARE_TEST_POSTGRES_URL` is set, against a fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "test code: a bad index or cast fails the test, which is what it is for"
)]

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use domain::{
    AccountId, ApiKeyId, EndpointId, EndpointSlug, Feature, ModelId, ModelStatus, ProjectId,
    ProjectSlug, Role, ShareAction, Timestamp, UserId,
};
use sea_orm::{ConnectionTrait, Database, Statement};
use storage::{
    Backend, DbSettings, NewApiKey, NewModel, NewProject, SqliteSynchronous, StorageError, Store,
    Transition, TransitionOutcome, WriteGuard,
};

fn settings(url: String) -> DbSettings {
    DbSettings {
        url,
        max_connections: 4,
        min_connections: 1,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        sqlite_busy_timeout: Duration::from_secs(5),
        sqlite_synchronous: SqliteSynchronous::Normal,
        writer_stall: Duration::from_secs(10),
    }
}

fn new_model(project: &ProjectId, name: &str, status: ModelStatus) -> NewModel {
    NewModel {
        id: ModelId::new(),
        project_id: project.clone(),
        name: name.to_owned(),
        description: String::new(),
        status,
        architecture: Some("llama".to_owned()),
        parameter_count: Some(7_000_000_000),
        context_length: Some(8192),
        license: Some("apache-2.0".to_owned()),
        tags: vec!["chat".to_owned(), "en".to_owned()],
    }
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_datetime(Utc.timestamp_opt(secs, 0).single().unwrap())
}

/// The whole repository, exercised in order. Panics on the first failure.
async fn scenario(store: Store) {
    store.ping().await.unwrap();

    // --- accounts ---
    let acme = store
        .create_account("Acme", &[Feature::ModelSharing, Feature::ModelSharing])
        .await
        .unwrap();
    assert!(acme.has_feature(Feature::ModelSharing));
    assert_eq!(acme.features.len(), 1);
    let other = store.create_account("Other", &[]).await.unwrap();
    assert!(!other.has_feature(Feature::ModelSharing));
    assert_eq!(
        store.get_account(acme.id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.get_account(AccountId::new()).await.unwrap(), None);
    // Timestamps are whole seconds: make the second "Acme" strictly newer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _second_acme = store.create_account("Acme", &[]).await.unwrap();
    assert_eq!(
        store
            .find_account_by_name("Acme")
            .await
            .unwrap()
            .map(|a| a.id),
        Some(acme.id)
    );
    assert_eq!(store.find_account_by_name("Nobody").await.unwrap(), None);

    let on = store
        .set_account_feature(other.id, Feature::ModelSharing, true)
        .await
        .unwrap();
    assert!(on.has_feature(Feature::ModelSharing));
    let on_again = store
        .set_account_feature(other.id, Feature::ModelSharing, true)
        .await
        .unwrap();
    assert_eq!(on, on_again);
    let off = store
        .set_account_feature(other.id, Feature::ModelSharing, false)
        .await
        .unwrap();
    assert!(!off.has_feature(Feature::ModelSharing));
    assert!(matches!(
        store
            .set_account_feature(AccountId::new(), Feature::ModelSharing, true)
            .await,
        Err(StorageError::NotFound("account"))
    ));

    // --- projects ---
    let pid = ProjectId::parse("proj_ACME01").unwrap();
    let project = store
        .create_project(NewProject {
            id: pid.clone(),
            account_id: acme.id,
            slug: ProjectSlug::parse("acme").unwrap(),
            name: "Acme Models".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(project.id, pid);
    assert_eq!(
        store.get_project(&pid).await.unwrap(),
        Some(project.clone())
    );
    assert_eq!(
        store
            .find_project_by_slug(&ProjectSlug::parse("acme").unwrap())
            .await
            .unwrap(),
        Some(project.clone())
    );
    assert_eq!(
        store
            .find_project_by_slug(&ProjectSlug::parse("nope").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_project(&ProjectId::parse("proj_NOPE00").unwrap())
            .await
            .unwrap(),
        None
    );
    let dup_id = store
        .create_project(NewProject {
            id: pid.clone(),
            account_id: acme.id,
            slug: ProjectSlug::parse("acme-two").unwrap(),
            name: "x".to_owned(),
        })
        .await;
    assert!(
        matches!(dup_id, Err(StorageError::Conflict("project id"))),
        "{dup_id:?}"
    );
    let dup_slug = store
        .create_project(NewProject {
            id: ProjectId::generate(),
            account_id: acme.id,
            slug: ProjectSlug::parse("acme").unwrap(),
            name: "x".to_owned(),
        })
        .await;
    assert!(
        matches!(dup_slug, Err(StorageError::Conflict("project slug"))),
        "{dup_slug:?}"
    );
    let no_account = store
        .create_project(NewProject {
            id: ProjectId::generate(),
            account_id: AccountId::new(),
            slug: ProjectSlug::parse("orphan").unwrap(),
            name: "x".to_owned(),
        })
        .await;
    assert!(
        matches!(no_account, Err(StorageError::NotFound("account"))),
        "{no_account:?}"
    );
    let other_pid = ProjectId::generate();
    store
        .create_project(NewProject {
            id: other_pid.clone(),
            account_id: other.id,
            slug: ProjectSlug::parse("other").unwrap(),
            name: "Other Co".to_owned(),
        })
        .await
        .unwrap();

    // --- users and memberships ---
    let alice = store.create_user(acme.id, "alice@acme.test").await.unwrap();
    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user(UserId::new()).await.unwrap(), None);
    assert_eq!(
        store
            .find_user_by_email(acme.id, "alice@acme.test")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .find_user_by_email(other.id, "alice@acme.test")
            .await
            .unwrap(),
        None
    );
    let dup_user = store.create_user(acme.id, "alice@acme.test").await;
    assert!(
        matches!(dup_user, Err(StorageError::Conflict("user email"))),
        "{dup_user:?}"
    );
    let orphan_user = store.create_user(AccountId::new(), "x@y.test").await;
    assert!(
        matches!(orphan_user, Err(StorageError::NotFound("account"))),
        "{orphan_user:?}"
    );
    // The same email in another account is a different user.
    let bob = store
        .create_user(other.id, "alice@acme.test")
        .await
        .unwrap();

    let m = store
        .set_membership(&pid, alice.id, Role::Member)
        .await
        .unwrap();
    assert_eq!(m.role, Role::Member);
    let m = store
        .set_membership(&pid, alice.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(m.role, Role::Admin);
    assert!(matches!(
        store.set_membership(&pid, bob.id, Role::Admin).await,
        Err(StorageError::Invalid("user belongs to another account"))
    ));
    assert!(matches!(
        store
            .set_membership(&ProjectId::generate(), alice.id, Role::Admin)
            .await,
        Err(StorageError::NotFound("project"))
    ));
    assert!(matches!(
        store.set_membership(&pid, UserId::new(), Role::Admin).await,
        Err(StorageError::NotFound("user"))
    ));

    // --- API keys ---
    let hash = [7u8; 32];
    let key = store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: pid.clone(),
            user_id: alice.id,
            hash,
            display_prefix: "xero_acme_AbCd".to_owned(),
            expires_at: Some(ts(4_000_000_000)),
        })
        .await
        .unwrap();
    assert_eq!(key.hash, hash);
    assert_eq!(key.revoked_at, None);
    let dup_key = store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: pid.clone(),
            user_id: alice.id,
            hash,
            display_prefix: "x".to_owned(),
            expires_at: None,
        })
        .await;
    assert!(
        matches!(dup_key, Err(StorageError::Conflict(_))),
        "{dup_key:?}"
    );
    let bad_project = store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: ProjectId::generate(),
            user_id: alice.id,
            hash: [8u8; 32],
            display_prefix: "x".to_owned(),
            expires_at: None,
        })
        .await;
    assert!(
        matches!(bad_project, Err(StorageError::NotFound("project"))),
        "{bad_project:?}"
    );
    let bad_user = store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: pid.clone(),
            user_id: UserId::new(),
            hash: [9u8; 32],
            display_prefix: "x".to_owned(),
            expires_at: None,
        })
        .await;
    assert!(
        matches!(bad_user, Err(StorageError::NotFound("user"))),
        "{bad_user:?}"
    );

    let lookup = store.find_key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(lookup.key, key);
    assert_eq!(lookup.project, project);
    assert_eq!(lookup.account.id, acme.id);
    assert!(lookup.account.has_feature(Feature::ModelSharing));
    assert_eq!(lookup.role, Some(Role::Admin));
    assert_eq!(store.find_key_by_hash(&[0u8; 32]).await.unwrap(), None);

    // A key whose owner has no membership (any more) still resolves, with no role.
    let carol = store.create_user(acme.id, "carol@acme.test").await.unwrap();
    store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: pid.clone(),
            user_id: carol.id,
            hash: [3u8; 32],
            display_prefix: "xero_acme_Carl".to_owned(),
            expires_at: None,
        })
        .await
        .unwrap();
    let carol_lookup = store.find_key_by_hash(&[3u8; 32]).await.unwrap().unwrap();
    assert_eq!(carol_lookup.role, None);

    store
        .touch_api_key(key.id, ts(1_800_000_000))
        .await
        .unwrap();
    store
        .touch_api_key(key.id, ts(1_700_000_000))
        .await
        .unwrap();
    let touched = store.find_key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(touched.key.last_used_at, Some(ts(1_800_000_000)));
    store.touch_api_key(ApiKeyId::new(), ts(1)).await.unwrap();

    let revoked = store.revoke_api_key(key.id).await.unwrap();
    let first = revoked.revoked_at.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = store.revoke_api_key(key.id).await.unwrap();
    assert_eq!(again.revoked_at, Some(first));
    assert_eq!(
        store
            .find_key_by_hash(&hash)
            .await
            .unwrap()
            .unwrap()
            .key
            .revoked_at,
        Some(first)
    );
    assert!(matches!(
        store.revoke_api_key(ApiKeyId::new()).await,
        Err(StorageError::NotFound("api key"))
    ));

    // --- models ---
    let nm = new_model(&pid, "llama-7b", ModelStatus::Ready);
    let model = store.create_model(nm.clone()).await.unwrap();
    assert_eq!(model.version, 0);
    assert!(!model.shared);
    assert_eq!(model.tags, vec!["chat".to_owned(), "en".to_owned()]);
    assert_eq!(model.parameter_count, Some(7_000_000_000));
    assert_eq!(
        store.get_model(model.id).await.unwrap(),
        Some(model.clone())
    );
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

    let active = store
        .set_model_status(model.id, ModelStatus::Active)
        .await
        .unwrap();
    assert_eq!(active.status, ModelStatus::Active);
    assert_eq!(active.version, 1);
    assert!(active.updated_at >= model.updated_at);
    assert!(matches!(
        store
            .set_model_status(ModelId::new(), ModelStatus::Active)
            .await,
        Err(StorageError::NotFound("model"))
    ));

    // Keyset pagination over 25 models (plus the one above), 10 per page: no repeat, no skip.
    let pag_pid = ProjectId::generate();
    store
        .create_project(NewProject {
            id: pag_pid.clone(),
            account_id: acme.id,
            slug: ProjectSlug::parse("paging").unwrap(),
            name: "Paging".to_owned(),
        })
        .await
        .unwrap();
    let mut created = HashSet::new();
    for i in 0..25 {
        let m = store
            .create_model(new_model(&pag_pid, &format!("m{i}"), ModelStatus::Ready))
            .await
            .unwrap();
        created.insert(m.id);
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
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties broken by id descending");
    let exact = store.list_project_models(&pag_pid, None, 25).await.unwrap();
    assert_eq!(exact.items.len(), 25);
    assert!(!exact.has_more);

    // --- share / unshare ---
    let share = |version: i64, action: ShareAction, at: Timestamp| Transition {
        model_id: model.id,
        expected_version: version,
        action,
        at,
        actor_user_id: Some(alice.id),
        api_key_id: Some(key.id),
        request_id: format!("req-{version}"),
        server_request_id: None,
        guards: Vec::new(),
    };
    let TransitionOutcome::Applied {
        model: shared,
        event: e1,
        endpoint_count: 0,
    } = store
        .apply_transition(share(1, ShareAction::Share, ts(1_900_000_000)))
        .await
        .unwrap()
    else {
        panic!("share should apply");
    };
    assert!(shared.shared);
    assert_eq!(shared.version, 2);
    assert_eq!(shared.shared_at, Some(ts(1_900_000_000)));
    assert_eq!(shared.updated_at, ts(1_900_000_000));
    assert_eq!(shared.unshared_at, None);
    assert_eq!(e1.action, ShareAction::Share);
    assert_eq!(e1.model_id, model.id);
    assert_eq!(e1.project_id, pid);
    assert_eq!(e1.actor_user_id, Some(alice.id));
    assert_eq!(e1.api_key_id, Some(key.id));
    assert_eq!(e1.request_id, "req-1");
    assert_eq!(
        store.get_model(model.id).await.unwrap(),
        Some(shared.clone())
    );

    // An old version is stale; so is sharing an already shared model at the right version.
    assert_eq!(
        store
            .apply_transition(share(1, ShareAction::Unshare, ts(1_900_000_001)))
            .await
            .unwrap(),
        TransitionOutcome::Stale
    );
    assert_eq!(
        store
            .apply_transition(share(2, ShareAction::Share, ts(1_900_000_001)))
            .await
            .unwrap(),
        TransitionOutcome::Stale
    );
    assert_eq!(
        store.get_model(model.id).await.unwrap(),
        Some(shared.clone())
    );

    let TransitionOutcome::Applied {
        model: unshared,
        event: e2,
        endpoint_count: 0,
    } = store
        .apply_transition(share(2, ShareAction::Unshare, ts(1_900_000_002)))
        .await
        .unwrap()
    else {
        panic!("unshare should apply");
    };
    assert!(!unshared.shared);
    assert_eq!(unshared.version, 3);
    assert_eq!(unshared.shared_at, Some(ts(1_900_000_000)));
    assert_eq!(unshared.unshared_at, Some(ts(1_900_000_002)));
    assert!(e2.id > e1.id);
    let TransitionOutcome::Applied { event: e3, .. } = store
        .apply_transition(share(3, ShareAction::Share, ts(1_900_000_003)))
        .await
        .unwrap()
    else {
        panic!("re-share should apply");
    };
    assert_eq!(
        store
            .apply_transition(Transition {
                model_id: ModelId::new(),
                ..share(0, ShareAction::Share, ts(1))
            })
            .await
            .unwrap(),
        TransitionOutcome::Stale
    );

    let events = store.list_share_events(model.id, None, 2).await.unwrap();
    assert_eq!(
        events.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![e3.id, e2.id]
    );
    assert!(events.has_more);
    let rest = store
        .list_share_events(model.id, Some(e2.id), 2)
        .await
        .unwrap();
    assert_eq!(rest.items, vec![e1.clone()]);
    assert!(!rest.has_more);
    assert!(
        store
            .list_share_events(ModelId::new(), None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let tail = store.share_events_after(0, 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![e1.id, e2.id, e3.id]
    );
    assert_eq!(
        store.share_events_after(e1.id, 1).await.unwrap()[0].id,
        e2.id
    );
    assert!(
        store
            .share_events_after(e3.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.max_share_event_id().await.unwrap(), e3.id);

    // --- endpoints ---
    let slug = EndpointSlug::parse("chat").unwrap();
    let ep = store.create_endpoint(&pid, &slug, model.id).await.unwrap();
    assert_eq!(ep.status, "active");
    assert_eq!(ep.model_id, model.id);
    let dup_ep = store.create_endpoint(&pid, &slug, model.id).await;
    assert!(
        matches!(dup_ep, Err(StorageError::Conflict("endpoint slug"))),
        "{dup_ep:?}"
    );
    let no_model = store
        .create_endpoint(&pid, &EndpointSlug::parse("ghost").unwrap(), ModelId::new())
        .await;
    assert!(
        matches!(no_model, Err(StorageError::NotFound("model"))),
        "{no_model:?}"
    );
    // Another project may use the same slug, on the shared model.
    let ep_other = store
        .create_endpoint(&other_pid, &slug, model.id)
        .await
        .unwrap();
    assert_eq!(store.count_endpoints_for_model(model.id).await.unwrap(), 2);
    // A share reports the endpoints the model has (for its catalog entry); an unshare 0.
    let version = store.get_model(model.id).await.unwrap().unwrap().version;
    for (expected_version, action, endpoints) in [
        (version, ShareAction::Unshare, 0),
        (version + 1, ShareAction::Share, 2),
    ] {
        let outcome = store
            .apply_transition(Transition {
                expected_version,
                action,
                ..share(0, action, ts(1_900_000_010))
            })
            .await
            .unwrap();
        let TransitionOutcome::Applied { endpoint_count, .. } = outcome else {
            panic!("{action:?} should apply");
        };
        assert_eq!(endpoint_count, endpoints, "{action:?}");
    }
    assert_eq!(
        store.get_endpoint(&pid, ep.id).await.unwrap(),
        Some(ep.clone())
    );
    assert_eq!(store.get_endpoint(&pid, ep_other.id).await.unwrap(), None);
    assert_eq!(
        store.get_endpoint(&pid, EndpointId::new()).await.unwrap(),
        None
    );

    let mut ep_ids = HashSet::new();
    for i in 0..25 {
        let e = store
            .create_endpoint(
                &pid,
                &EndpointSlug::parse(&format!("ep-{i}")).unwrap(),
                model.id,
            )
            .await
            .unwrap();
        ep_ids.insert(e.id);
    }
    ep_ids.insert(ep.id);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_endpoints(&pid, after, 10).await.unwrap();
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
        ep_ids
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);

    // --- catalog ---
    assert_eq!(
        store.count_shared_models_in_account(acme.id).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .count_shared_models_in_account(other.id)
            .await
            .unwrap(),
        0
    );
    let mut catalog = Vec::new();
    store.load_catalog(|row| catalog.push(row)).await.unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].model.id, model.id);
    assert!(catalog[0].model.shared);
    assert_eq!(catalog[0].owner_name, "Acme Models");
    assert_eq!(catalog[0].endpoint_count, 27);
    let row = store.get_catalog_row(model.id).await.unwrap().unwrap();
    assert_eq!(row, catalog[0]);
    let unshared_row = store
        .get_catalog_row(*created.iter().next().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!unshared_row.model.shared);
    assert_eq!(unshared_row.owner_name, "Paging");
    assert_eq!(unshared_row.endpoint_count, 0);
    assert_eq!(store.get_catalog_row(ModelId::new()).await.unwrap(), None);

    assert!(store.delete_endpoint(&pid, ep.id).await.unwrap());
    assert!(!store.delete_endpoint(&pid, ep.id).await.unwrap());
    assert!(!store.delete_endpoint(&pid, ep_other.id).await.unwrap());
    assert_eq!(store.count_endpoints_for_model(model.id).await.unwrap(), 26);
    assert_eq!(
        store
            .count_endpoints_for_model(ModelId::new())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .get_catalog_row(model.id)
            .await
            .unwrap()
            .unwrap()
            .endpoint_count,
        26
    );

    grouped_transitions(&store, &pid).await;
    guarded_transitions(&store).await;

    // Migrating again is a no-op.
    store.migrate().await.unwrap();
}

/// Concurrent transitions are committed in groups; each keeps its own compare-and-set and
/// event, shares and unshares mix in one group, and a second transition of a model waits for
/// the next group (it applies on top of the first).
async fn grouped_transitions(store: &Store, project: &ProjectId) {
    let mut models = Vec::new();
    for i in 0..40 {
        let model = store
            .create_model(new_model(
                project,
                &format!("group-{i}"),
                ModelStatus::Ready,
            ))
            .await
            .unwrap();
        models.push(model);
    }
    let transition = |model: ModelId, version: i64, action: ShareAction, tag: &str| Transition {
        model_id: model,
        expected_version: version,
        action,
        at: ts(1_950_000_000),
        actor_user_id: None,
        api_key_id: None,
        request_id: format!("group-{tag}"),
        server_request_id: None,
        guards: Vec::new(),
    };
    // Every other share names a version the model is not at: it must write nothing, whatever
    // group it lands in, and the others must all commit.
    let shares = models.iter().enumerate().map(|(i, m)| {
        let store = store.clone();
        let t = transition(
            m.id,
            m.version + i64::from(i % 2 == 1),
            ShareAction::Share,
            &format!("{i}-share"),
        );
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
    // All queued at once, in this order: every model is unshared at the version it had; the
    // shared ones are then shared again at the version the unshare leaves, in the same batch.
    let mut batch = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let shared = i % 2 == 0;
        let version = m.version + i64::from(shared);
        batch.push(store.apply_transition(transition(
            m.id,
            version,
            ShareAction::Unshare,
            &format!("{i}-unshare"),
        )));
        if shared {
            batch.push(store.apply_transition(transition(
                m.id,
                version + 1,
                ShareAction::Share,
                &format!("{i}-again"),
            )));
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
    let group = store.largest_transition_group();
    assert!(
        group > 1,
        "the transitions were never committed together ({group})"
    );
}

/// A fresh account with one project and `n` ready models.
async fn account_with_models(
    store: &Store,
    name: &str,
    n: usize,
) -> (AccountId, Vec<storage::Model>) {
    let account = store.create_account(name, &[]).await.unwrap();
    let project = ProjectId::generate();
    store
        .create_project(NewProject {
            id: project.clone(),
            account_id: account.id,
            slug: ProjectSlug::parse(&name.to_ascii_lowercase()).unwrap(),
            name: name.to_owned(),
        })
        .await
        .unwrap();
    let mut models = Vec::with_capacity(n);
    for i in 0..n {
        let model = new_model(&project, &format!("{name}-{i}"), ModelStatus::Ready);
        models.push(store.create_model(model).await.unwrap());
    }
    (account.id, models)
}

/// A guarded share is written only while the guard holds, checked inside the write's own
/// transaction: of many concurrent shares (committed in groups), exactly `limit` apply; the
/// rest write nothing and say how many were shared. A share whose model changed is stale
/// before it is over the limit; unshares free room; another account's shares do not count.
async fn guarded_transitions(store: &Store) {
    let (account, models) = account_with_models(store, "Quota", 12).await;
    let (elsewhere, other_models) = account_with_models(store, "Elsewhere", 1).await;
    let guard = WriteGuard::MaxSharedInAccount {
        account_id: account,
        limit: 2,
    };
    let transition = |model: &storage::Model, action: ShareAction, guard: WriteGuard| Transition {
        model_id: model.id,
        expected_version: model.version,
        action,
        at: ts(1_960_000_000),
        actor_user_id: None,
        api_key_id: None,
        request_id: format!("guarded-{}", model.name),
        server_request_id: None,
        guards: vec![guard],
    };
    let shares = models[..10].iter().map(|m| {
        let (store, t) = (store.clone(), transition(m, ShareAction::Share, guard));
        tokio::spawn(async move { store.apply_transition(t).await })
    });
    let outcomes = futures_util::future::join_all(shares).await;
    let mut applied = Vec::new();
    for (m, outcome) in models.iter().zip(outcomes) {
        match outcome.unwrap().unwrap() {
            TransitionOutcome::Applied { model, .. } => applied.push(model),
            refused => {
                assert_eq!(
                    refused,
                    TransitionOutcome::LimitReached { guard, shared: 2 },
                    "{}",
                    m.name
                );
                assert_eq!(store.get_model(m.id).await.unwrap().as_ref(), Some(m));
                let events = store.list_share_events(m.id, None, 10).await.unwrap();
                assert!(events.items.is_empty(), "{}", m.name);
            }
        }
    }
    assert_eq!(applied.len(), 2, "10 concurrent shares under a limit of 2");
    assert_eq!(
        store.count_shared_models_in_account(account).await.unwrap(),
        2
    );

    // At the limit, a share of a model that changed meanwhile is stale: the caller re-reads.
    let changed = storage::Model {
        version: models[10].version + 1,
        ..models[10].clone()
    };
    assert_eq!(
        store
            .apply_transition(transition(&changed, ShareAction::Share, guard))
            .await
            .unwrap(),
        TransitionOutcome::Stale
    );
    // An unshare passes the guard and makes room for exactly one more.
    let unshared = store
        .apply_transition(transition(&applied[0], ShareAction::Unshare, guard))
        .await
        .unwrap();
    assert!(
        matches!(unshared, TransitionOutcome::Applied { .. }),
        "{unshared:?}"
    );
    let again = [&models[10], &models[11]].map(|m| {
        let (store, t) = (store.clone(), transition(m, ShareAction::Share, guard));
        tokio::spawn(async move { store.apply_transition(t).await })
    });
    let again: Vec<_> = futures_util::future::join_all(again)
        .await
        .into_iter()
        .map(|o| o.unwrap().unwrap())
        .collect();
    assert_eq!(
        again
            .iter()
            .filter(|o| matches!(o, TransitionOutcome::Applied { .. }))
            .count(),
        1,
        "{again:?}"
    );
    assert!(
        again.contains(&TransitionOutcome::LimitReached { guard, shared: 2 }),
        "{again:?}"
    );
    // The quota is the account's: this one has two shared, the other none.
    let other_guard = WriteGuard::MaxSharedInAccount {
        account_id: elsewhere,
        limit: 1,
    };
    let outcome = store
        .apply_transition(transition(
            &other_models[0],
            ShareAction::Share,
            other_guard,
        ))
        .await
        .unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Applied { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn sqlite_repository() {
    let dir = tempfile::tempdir().unwrap();
    // A missing parent directory is created.
    let path = dir.path().join("data").join("modelshare.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&settings(url.clone())).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    scenario(store.clone()).await;
    store.close().await.unwrap();

    // WAL is a property of the file: a plain connection sees it.
    let plain = Database::connect(url).await.unwrap();
    let row = plain
        .query_one_raw(Statement::from_string(
            plain.get_database_backend(),
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
}

/// Another process holding the SQLite write lock past the busy timeout makes writes
/// `Unavailable` (SQLITE_BUSY), and nothing is half-written.
#[tokio::test]
async fn sqlite_lock_held_elsewhere_is_unavailable() {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
    let mut s = settings(url.clone());
    s.sqlite_busy_timeout = Duration::from_millis(200);
    let store = Store::connect(&s).await.unwrap();
    store.migrate().await.unwrap();
    let account = store.create_account("Busy", &[]).await.unwrap();

    let other = Database::connect(url).await.unwrap();
    let holder = other
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = store
        .set_account_feature(account.id, Feature::ModelSharing, true)
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    // Reads still work while another process writes (WAL).
    assert_eq!(
        store.get_account(account.id).await.unwrap(),
        Some(account.clone())
    );
    holder.rollback().await.unwrap();
    let account = store
        .set_account_feature(account.id, Feature::ModelSharing, true)
        .await
        .unwrap();
    assert!(account.has_feature(Feature::ModelSharing));
    store.close().await.unwrap();
    other.close().await.unwrap();
}

#[tokio::test]
async fn bad_urls_are_refused() {
    let err = Store::connect(&settings("mysql://localhost/x".to_owned()))
        .await
        .err()
        .unwrap();
    assert!(matches!(
        err,
        StorageError::Invalid("database url must start with sqlite: or postgres:")
    ));
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let mut s = settings("postgres://postgres@127.0.0.1:1/postgres".to_owned());
    s.connect_timeout = Duration::from_secs(1);
    s.acquire_timeout = Duration::from_secs(1);
    let err = Store::connect(&s).await.err().unwrap();
    assert!(err.is_unavailable(), "{err:?}");
}

/// `postgres://u@h:p/db?x` with the database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

#[tokio::test]
async fn postgres_repository() {
    let Ok(admin_url) = std::env::var("MODELSHARE_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_none() {
            eprintln!("MODELSHARE_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped");
        }
        return;
    };
    let db = format!("ms_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url.clone()).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();

    let outcome = tokio::spawn({
        let url = with_database(&admin_url, &db);
        async move {
            let store = Store::connect(&settings(url)).await.unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            store.migrate().await.unwrap();
            scenario(store.clone()).await;
            store.close().await.unwrap();
        }
    })
    .await;

    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
