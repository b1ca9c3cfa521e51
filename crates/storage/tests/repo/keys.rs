//! API keys: creation (a hash is unique, its project and user must exist), the one-round-trip
//! look-up authentication uses, last use and revocation.

use std::time::Duration;

use domain::{ApiKeyId, Feature, ProjectId, Role, UserId};
use storage::{NewApiKey, StorageError, Store};

use crate::fixtures::{acme, key, member, ts};

both!(api_keys, key_lookup, key_use_and_revocation);

/// A key is stored as given, unrevoked; a taken hash is a conflict; an unknown project or user
/// is refused.
async fn api_keys(store: Store) {
    let acme = acme(&store).await;
    let alice = member(&store, &acme, "alice@acme.test", Role::Admin).await;
    let pid = acme.project.id.clone();
    let hash = [7u8; 32];
    let key = key(&store, &acme, &alice, hash).await;
    assert_eq!(key.hash, hash);
    assert_eq!(key.revoked_at, None);
    let new = |project_id: ProjectId, user_id: UserId, hash: [u8; 32]| NewApiKey {
        id: ApiKeyId::new(),
        project_id,
        user_id,
        hash,
        display_prefix: "x".to_owned(),
        expires_at: None,
    };
    let dup_key = store.insert_api_key(new(pid.clone(), alice.id, hash)).await;
    assert!(
        matches!(dup_key, Err(StorageError::Conflict(_))),
        "{dup_key:?}"
    );
    let bad_project = store
        .insert_api_key(new(ProjectId::generate(), alice.id, [8u8; 32]))
        .await;
    assert!(
        matches!(bad_project, Err(StorageError::NotFound("project"))),
        "{bad_project:?}"
    );
    let bad_user = store
        .insert_api_key(new(pid.clone(), UserId::new(), [9u8; 32]))
        .await;
    assert!(
        matches!(bad_user, Err(StorageError::NotFound("user"))),
        "{bad_user:?}"
    );
}

/// A key is found by its hash with its project, account and owner's role; a key whose owner
/// has no membership (any more) still resolves, with no role.
async fn key_lookup(store: Store) {
    let acme = acme(&store).await;
    let alice = member(&store, &acme, "alice@acme.test", Role::Admin).await;
    let hash = [7u8; 32];
    let key = key(&store, &acme, &alice, hash).await;

    let lookup = store.find_key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(lookup.key, key);
    assert_eq!(lookup.project, acme.project);
    assert_eq!(lookup.account.id, acme.account.id);
    assert!(lookup.account.has_feature(Feature::ModelSharing));
    assert_eq!(lookup.role, Some(Role::Admin));
    assert_eq!(store.find_key_by_hash(&[0u8; 32]).await.unwrap(), None);

    let carol = store
        .create_user(acme.account.id, "carol@acme.test")
        .await
        .unwrap();
    store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: acme.project.id.clone(),
            user_id: carol.id,
            hash: [3u8; 32],
            display_prefix: "xero_acme_Carl".to_owned(),
            expires_at: None,
        })
        .await
        .unwrap();
    let carol_lookup = store.find_key_by_hash(&[3u8; 32]).await.unwrap().unwrap();
    assert_eq!(carol_lookup.role, None);
}

/// The last use only moves forward, and touching an unknown key is not an error; revoking is
/// idempotent (the first time is kept) and shows in the look-up; an unknown key is not found.
async fn key_use_and_revocation(store: Store) {
    let acme = acme(&store).await;
    let alice = member(&store, &acme, "alice@acme.test", Role::Admin).await;
    let hash = [7u8; 32];
    let key = key(&store, &acme, &alice, hash).await;

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
    let lookup = store.find_key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(lookup.key.revoked_at, Some(first));
    assert!(matches!(
        store.revoke_api_key(ApiKeyId::new()).await,
        Err(StorageError::NotFound("api key"))
    ));
}
