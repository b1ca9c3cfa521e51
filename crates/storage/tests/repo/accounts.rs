//! Accounts and their features, projects, users and memberships: creation, look-ups, and the
//! conflicts and missing parents each write reports.

use std::time::Duration;

use domain::{AccountId, Feature, ProjectId, ProjectSlug, Role, UserId};
use storage::{NewProject, StorageError, Store};

use crate::fixtures::{acme, other};

both!(
    accounts_and_features,
    projects,
    project_conflicts,
    users,
    memberships,
);

/// Features are a set; a look-up by name finds the oldest account of that name; a feature is
/// switched idempotently, on an existing account only.
async fn accounts_and_features(store: Store) {
    let acme = store
        .create_account("Acme", &[Feature::ModelSharing, Feature::ModelSharing])
        .await
        .unwrap();
    assert!(acme.has_feature(Feature::ModelSharing));
    assert_eq!(acme.features.len(), 1);
    let other = store.create_account("Other", &[]).await.unwrap();
    assert!(!other.has_feature(Feature::ModelSharing));
    let found = store.get_account(acme.id).await.unwrap();
    assert_eq!(found, Some(acme.clone()));
    assert_eq!(store.get_account(AccountId::new()).await.unwrap(), None);
    // Timestamps are whole seconds: make the second "Acme" strictly newer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _second_acme = store.create_account("Acme", &[]).await.unwrap();
    let found = store.find_account_by_name("Acme").await.unwrap();
    assert_eq!(found.map(|a| a.id), Some(acme.id));
    assert_eq!(store.find_account_by_name("Nobody").await.unwrap(), None);

    let set = |account, on| store.set_account_feature(account, Feature::ModelSharing, on);
    let on = set(other.id, true).await.unwrap();
    assert!(on.has_feature(Feature::ModelSharing));
    assert_eq!(set(other.id, true).await.unwrap(), on);
    let off = set(other.id, false).await.unwrap();
    assert!(!off.has_feature(Feature::ModelSharing));
    assert!(matches!(
        set(AccountId::new(), true).await,
        Err(StorageError::NotFound("account"))
    ));
}

/// A project is found by id and by slug; unknown ones are `None`.
async fn projects(store: Store) {
    let acme = store
        .create_account("Acme", &[Feature::ModelSharing])
        .await
        .unwrap();
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
    let by_id = store.get_project(&pid).await.unwrap();
    assert_eq!(by_id, Some(project.clone()));
    let slug = |s: &str| ProjectSlug::parse(s).unwrap();
    let by_slug = store.find_project_by_slug(&slug("acme")).await.unwrap();
    assert_eq!(by_slug, Some(project.clone()));
    let unknown_slug = store.find_project_by_slug(&slug("nope")).await.unwrap();
    assert_eq!(unknown_slug, None);
    let unknown_id = ProjectId::parse("proj_NOPE00").unwrap();
    assert_eq!(store.get_project(&unknown_id).await.unwrap(), None);
}

/// A project id or slug that is taken is a conflict; a project of an unknown account is refused.
async fn project_conflicts(store: Store) {
    let acme = acme(&store).await;
    let pid = acme.project.id.clone();
    let new = |id: ProjectId, account_id: AccountId, slug: &str| NewProject {
        id,
        account_id,
        slug: ProjectSlug::parse(slug).unwrap(),
        name: "x".to_owned(),
    };
    let dup_id = store
        .create_project(new(pid.clone(), acme.account.id, "acme-two"))
        .await;
    assert!(
        matches!(dup_id, Err(StorageError::Conflict("project id"))),
        "{dup_id:?}"
    );
    let dup_slug = store
        .create_project(new(ProjectId::generate(), acme.account.id, "acme"))
        .await;
    assert!(
        matches!(dup_slug, Err(StorageError::Conflict("project slug"))),
        "{dup_slug:?}"
    );
    let no_account = store
        .create_project(new(ProjectId::generate(), AccountId::new(), "orphan"))
        .await;
    assert!(
        matches!(no_account, Err(StorageError::NotFound("account"))),
        "{no_account:?}"
    );
    // A valid project of another account still goes in.
    let other = other(&store).await;
    assert_eq!(
        store.get_project(&other.project.id).await.unwrap(),
        Some(other.project)
    );
}

/// A user's email is unique within its account only; a user of an unknown account is refused.
async fn users(store: Store) {
    let (acme, other) = (acme(&store).await.account, other(&store).await.account);
    let alice = store.create_user(acme.id, "alice@acme.test").await.unwrap();
    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user(UserId::new()).await.unwrap(), None);
    let in_acme = store.find_user_by_email(acme.id, "alice@acme.test").await;
    assert_eq!(in_acme.unwrap(), Some(alice.clone()));
    let in_other = store.find_user_by_email(other.id, "alice@acme.test").await;
    assert_eq!(in_other.unwrap(), None);
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
    assert_ne!(bob.id, alice.id);
}

/// A membership is set and reset; only a user of the project's own account may have one, and
/// both must exist.
async fn memberships(store: Store) {
    let (acme, other) = (acme(&store).await, other(&store).await);
    let pid = &acme.project.id;
    let alice = store
        .create_user(acme.account.id, "alice@acme.test")
        .await
        .unwrap();
    let bob = store
        .create_user(other.account.id, "alice@acme.test")
        .await
        .unwrap();
    let m = store.set_membership(pid, alice.id, Role::Member).await;
    assert_eq!(m.unwrap().role, Role::Member);
    let m = store.set_membership(pid, alice.id, Role::Admin).await;
    assert_eq!(m.unwrap().role, Role::Admin);
    assert!(matches!(
        store.set_membership(pid, bob.id, Role::Admin).await,
        Err(StorageError::Invalid("user belongs to another account"))
    ));
    assert!(matches!(
        store
            .set_membership(&ProjectId::generate(), alice.id, Role::Admin)
            .await,
        Err(StorageError::NotFound("project"))
    ));
    assert!(matches!(
        store.set_membership(pid, UserId::new(), Role::Admin).await,
        Err(StorageError::NotFound("user"))
    ));
}
