//! The small pieces tests build their state from: the two tenants "Acme" and "Other", members,
//! keys, models, a share, and Acme's endpoints. Each helper asserts nothing but that its writes
//! succeed; what a test checks is in the test.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use domain::{
    AccountId, ApiKeyId, EndpointId, EndpointSlug, Feature, ModelId, ModelStatus, ProjectId,
    ProjectSlug, Role, ShareAction, Timestamp,
};
use storage::{
    Account, ApiKeyRecord, Endpoint, Model, NewApiKey, NewModel, NewProject, Project, Store,
    Transition, TransitionOutcome, User,
};

/// The Unix time `secs` as a timestamp.
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_datetime(Utc.timestamp_opt(secs, 0).single().unwrap())
}

/// A model named `name` in `project`, with every optional field set.
pub fn new_model(project: &ProjectId, name: &str, status: ModelStatus) -> NewModel {
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

/// An account and its project.
pub struct Tenant {
    pub account: Account,
    pub project: Project,
}

/// "Acme", with model sharing, and its project `proj_ACME01` (slug `acme`, "Acme Models").
pub async fn acme(store: &Store) -> Tenant {
    let account = store
        .create_account("Acme", &[Feature::ModelSharing])
        .await
        .unwrap();
    let id = ProjectId::parse("proj_ACME01").unwrap();
    let project = project(store, account.id, id, "acme", "Acme Models").await;
    Tenant { account, project }
}

/// "Other", with no feature, and its project (slug `other`, "Other Co").
pub async fn other(store: &Store) -> Tenant {
    let account = store.create_account("Other", &[]).await.unwrap();
    let project = project(
        store,
        account.id,
        ProjectId::generate(),
        "other",
        "Other Co",
    )
    .await;
    Tenant { account, project }
}

/// A project of `account`.
pub async fn project(
    store: &Store,
    account: AccountId,
    id: ProjectId,
    slug: &str,
    name: &str,
) -> Project {
    store
        .create_project(NewProject {
            id,
            account_id: account,
            slug: ProjectSlug::parse(slug).unwrap(),
            name: name.to_owned(),
        })
        .await
        .unwrap()
}

/// A user of the tenant's account with `role` in its project.
pub async fn member(store: &Store, tenant: &Tenant, email: &str, role: Role) -> User {
    let user = store.create_user(tenant.account.id, email).await.unwrap();
    store
        .set_membership(&tenant.project.id, user.id, role)
        .await
        .unwrap();
    user
}

/// A key of `user` in the tenant's project whose hash is `hash`, expiring in 2096.
pub async fn key(store: &Store, tenant: &Tenant, user: &User, hash: [u8; 32]) -> ApiKeyRecord {
    store
        .insert_api_key(NewApiKey {
            id: ApiKeyId::new(),
            project_id: tenant.project.id.clone(),
            user_id: user.id,
            hash,
            display_prefix: "xero_acme_AbCd".to_owned(),
            expires_at: Some(ts(4_000_000_000)),
        })
        .await
        .unwrap()
}

/// A ready model named `name` in `project`.
pub async fn model(store: &Store, project: &ProjectId, name: &str) -> Model {
    store
        .create_model(new_model(project, name, ModelStatus::Ready))
        .await
        .unwrap()
}

/// `action` on `model_id` at `expected_version`, at `at`, by no one in particular, unguarded.
pub fn transition(
    model_id: ModelId,
    expected_version: i64,
    action: ShareAction,
    at: Timestamp,
) -> Transition {
    Transition {
        model_id,
        expected_version,
        action,
        at,
        actor_user_id: None,
        api_key_id: None,
        request_id: format!("fixture-{action:?}-{expected_version}"),
        server_request_id: None,
        schedule_id: None,
        guards: Vec::new(),
    }
}

/// [`transition`] of `model` at its current version, applied: the row it wrote.
pub async fn apply(store: &Store, model: &Model, action: ShareAction, at: Timestamp) -> Model {
    let outcome = store
        .apply_transition(transition(model.id, model.version, action, at))
        .await
        .unwrap();
    let TransitionOutcome::Applied { model, .. } = outcome else {
        panic!("the fixture's {action:?} should apply: {outcome:?}");
    };
    model
}

/// `model`, shared at its current version at `at`.
pub async fn share(store: &Store, model: &Model, at: Timestamp) -> Model {
    apply(store, model, ShareAction::Share, at).await
}

/// What [`endpoints_of`] created.
pub struct Endpoints {
    /// `chat` in Acme's project.
    pub chat: Endpoint,
    /// `chat` in Other's project, on the same model.
    pub other_chat: Endpoint,
    /// Every endpoint in Acme's project: `chat` and `ep-0` to `ep-24`.
    pub in_acme: HashSet<EndpointId>,
}

/// 27 endpoints on `model`: `chat` in both tenants' projects, then `ep-0` to `ep-24` in Acme's.
pub async fn endpoints_of(
    store: &Store,
    acme: &Tenant,
    other: &Tenant,
    model: ModelId,
) -> Endpoints {
    let chat = EndpointSlug::parse("chat").unwrap();
    let (acme, other) = (&acme.project.id, &other.project.id);
    let chat_in_acme = store.create_endpoint(acme, &chat, model).await.unwrap();
    let other_chat = store.create_endpoint(other, &chat, model).await.unwrap();
    let mut in_acme = HashSet::from([chat_in_acme.id]);
    for i in 0..25 {
        let slug = EndpointSlug::parse(&format!("ep-{i}")).unwrap();
        in_acme.insert(store.create_endpoint(acme, &slug, model).await.unwrap().id);
    }
    Endpoints {
        chat: chat_in_acme,
        other_chat,
        in_acme,
    }
}
