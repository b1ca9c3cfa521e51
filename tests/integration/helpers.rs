//! Typed helpers so a test reads like the user story it checks.

use std::num::NonZeroU64;
use std::time::Duration;

use crate::db::TestDb;
use api::Application;
use api::settings::{DEFAULT_TOML, Settings};
use auth::PolicyRegistry;
use domain::{
    AccountId, ApiKeyId, Feature, ModelId, ModelStatus, ProjectId, ProjectSlug, Role, ShareAction,
    UserId,
};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use storage::{NewApiKey, NewModel, NewProject, Store};

/// A running service on its own database.
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub catalog: catalog::Catalog,
    pub client: reqwest::Client,
    pub settings: Settings,
    _data: Option<TestDb>,
}

/// Settings for a test: the shipped defaults, the given database, port 0.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings::from_toml_str(DEFAULT_TOML).expect("default settings");
    settings.server.port = 0;
    settings.server.workers = 2;
    // Load tests fire thousands of calls with one key; the rate-limit tests turn it back on.
    settings.rate_limit.enabled = false;
    // On a loaded 2-core machine a debug build is slow: wait for the database rather than
    // answer 503. The outage tests set their own short timeouts.
    settings.database.acquire_timeout_ms = NonZeroU64::new(30_000).unwrap();
    settings.database.sqlite_busy_timeout_ms = 30_000;
    settings.database.url = api::settings::Secret::new(db.url.clone());
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_policies(adjust, PolicyRegistry::with_builtins()).await
}

pub async fn spawn_app_with_policies(
    adjust: impl FnOnce(&mut Settings),
    policies: PolicyRegistry,
) -> TestApp {
    let data = TestDb::new();
    let mut app = spawn_on(&data, adjust, policies).await;
    app._data = Some(data);
    app
}

/// Another instance on an existing database (the caller keeps the database alive).
pub async fn spawn_on(
    db: &TestDb,
    adjust: impl FnOnce(&mut Settings),
    policies: PolicyRegistry,
) -> TestApp {
    let mut settings = test_settings(db);
    adjust(&mut settings);
    let app = Application::build_with(settings.clone(), policies)
        .await
        .expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let catalog = app.catalog();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        store,
        catalog,
        client: client_for(&settings),
        settings,
        _data: None,
    }
}

/// A client whose pool drops an idle connection well before the server closes it. A request
/// sent on a connection the server is closing at that moment fails with `IncompleteMessage`;
/// under load that happened to one of ten thousand calls.
fn client_for(settings: &Settings) -> reqwest::Client {
    let builder = match settings.server.keep_alive_secs {
        0 => reqwest::Client::builder().pool_max_idle_per_host(0),
        secs => reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(secs) / 2),
    };
    builder.build().expect("http client")
}

/// A store on the test database, outside any app.
pub async fn connect_store(db: &TestDb) -> Store {
    let settings = test_settings(db).db_settings();
    Store::connect(&settings).await.expect("connect")
}

impl TestApp {
    /// The same app's handles, without ownership of its database.
    pub fn detached(&self) -> TestApp {
        TestApp {
            base: self.base.clone(),
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            _data: None,
        }
    }

    /// The same handles, talking HTTP to another base URL (another instance).
    pub fn at(mut self, base: String) -> TestApp {
        self.base = base;
        self
    }
}

/// An account, a project in it, a user with a role there, that user's key and one model.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account: AccountId,
    pub project: ProjectId,
    pub slug: ProjectSlug,
    pub user: UserId,
    pub key: String,
    pub key_id: ApiKeyId,
    pub model: ModelId,
}

pub struct TenantSpec {
    pub features: Vec<Feature>,
    pub role: Role,
    pub model_status: ModelStatus,
}

impl Default for TenantSpec {
    fn default() -> Self {
        Self {
            features: vec![Feature::ModelSharing],
            role: Role::Admin,
            model_status: ModelStatus::Ready,
        }
    }
}

impl TestApp {
    pub async fn tenant(&self) -> Tenant {
        self.tenant_with(TenantSpec::default()).await
    }

    pub async fn tenant_with(&self, spec: TenantSpec) -> Tenant {
        let account = self
            .store
            .create_account("Test Account", &spec.features)
            .await
            .expect("account");
        let project = ProjectId::generate();
        let slug = ProjectSlug::parse(&format!(
            "p{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ))
        .expect("slug");
        self.store
            .create_project(NewProject {
                id: project.clone(),
                account_id: account.id,
                slug: slug.clone(),
                name: format!("Project {slug}"),
            })
            .await
            .expect("project");
        let user = self
            .store
            .create_user(account.id, &format!("{slug}@example.com"))
            .await
            .expect("user");
        self.store
            .set_membership(&project, user.id, spec.role)
            .await
            .expect("membership");
        let (key_id, key) = self.key_for(&project, &slug, user.id).await;
        let model = self
            .model_in(&project, "test-model", spec.model_status)
            .await;
        Tenant {
            account: account.id,
            project,
            slug,
            user: user.id,
            key,
            key_id,
            model,
        }
    }

    /// Mints a key for a member.
    pub async fn key_for(
        &self,
        project: &ProjectId,
        slug: &ProjectSlug,
        user: UserId,
    ) -> (ApiKeyId, String) {
        let minted = auth::mint_key(&self.settings.auth.key_prefix, slug).expect("mint");
        let id = ApiKeyId::new();
        self.store
            .insert_api_key(NewApiKey {
                id,
                project_id: project.clone(),
                user_id: user,
                hash: minted.hash,
                display_prefix: minted.display_prefix.clone(),
                expires_at: None,
            })
            .await
            .expect("key");
        (id, minted.key)
    }

    pub async fn model_in(&self, project: &ProjectId, name: &str, status: ModelStatus) -> ModelId {
        let id = ModelId::new();
        self.store
            .create_model(NewModel {
                id,
                project_id: project.clone(),
                name: name.to_owned(),
                description: format!("{name} for tests"),
                status,
                architecture: Some("llama".into()),
                parameter_count: Some(7_000_000_000),
                context_length: Some(4096),
                license: Some("apache-2.0".into()),
                tags: vec!["chat".into()],
            })
            .await
            .expect("model");
        id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("request")
    }

    pub async fn get_model(&self, project: &ProjectId, model: &str, key: &str) -> Response {
        self.get(&format!("/{project}/v1/models/{model}"), Some(key))
            .await
    }

    pub async fn list_models(&self, project: &ProjectId, query: &str, key: &str) -> Response {
        self.get(&format!("/{project}/v1/models{query}"), Some(key))
            .await
    }

    pub async fn post(&self, path: &str, key: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("request")
    }

    pub async fn share(&self, project: &ProjectId, model: &str, key: &str) -> Response {
        self.post(&format!("/{project}/v1/models/{model}/share"), Some(key))
            .await
    }

    pub async fn unshare(&self, project: &ProjectId, model: &str, key: &str) -> Response {
        self.post(&format!("/{project}/v1/models/{model}/unshare"), Some(key))
            .await
    }

    /// Shares and asserts 200.
    pub async fn shared(&self, t: &Tenant, model: ModelId) -> Value {
        let response = self.share(&t.project, &model.to_string(), &t.key).await;
        assert_eq!(response.status(), StatusCode::OK, "share failed");
        response.json().await.expect("json")
    }

    pub async fn share_events(
        &self,
        project: &ProjectId,
        model: &str,
        query: &str,
        key: &str,
    ) -> Response {
        self.get(
            &format!("/{project}/v1/models/{model}/share-events{query}"),
            Some(key),
        )
        .await
    }

    /// `GET /v1/catalog/models{query}` without a key.
    pub async fn catalog(&self, query: &str) -> Response {
        self.get(&format!("/v1/catalog/models{query}"), None).await
    }

    /// Every catalog item id over all pages of `query` (which must not hold `after`).
    pub async fn catalog_ids(&self, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let sep = if query.is_empty() { "?" } else { "&" };
        let mut next: Option<String> = None;
        loop {
            let q = match &next {
                None => query.to_owned(),
                Some(cursor) => format!("{query}{sep}after={cursor}"),
            };
            let q = if q.is_empty() || q.starts_with('?') {
                q
            } else {
                format!("?{q}")
            };
            let response = self.catalog(&q).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.expect("json");
            ids.extend(
                body["data"]
                    .as_array()
                    .expect("data")
                    .iter()
                    .map(|i| i["modelId"].as_str().expect("id").to_owned()),
            );
            match body["nextCursor"].as_str() {
                Some(cursor) => next = Some(cursor.to_owned()),
                None => return ids,
            }
        }
    }

    pub async fn create_endpoint(
        &self,
        project: &ProjectId,
        slug: &str,
        model: &str,
        key: &str,
    ) -> Response {
        self.client
            .post(self.url(&format!("/{project}/v1/endpoints")))
            .bearer_auth(key)
            .json(&serde_json::json!({"slug": slug, "modelId": model}))
            .send()
            .await
            .expect("request")
    }

    /// A second user of the tenant's account and project with `role`, and their key.
    pub async fn member(&self, t: &Tenant, role: Role) -> String {
        let user = self
            .store
            .create_user(
                t.account,
                &format!("{}-{role}@example.com", uuid::Uuid::new_v4().simple()),
            )
            .await
            .expect("user");
        self.store
            .set_membership(&t.project, user.id, role)
            .await
            .expect("membership");
        self.key_for(&t.project, &t.slug, user.id).await.1
    }
}

/// Asserts status and the envelope's code, and returns the envelope's `error` object.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "x-request-id missing"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let body: Value = response.json().await.expect("json body");
    let error = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no envelope: {body}"));
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].as_str().is_some(), "{body}");
    assert!(
        error.as_object().is_some_and(|o| o.contains_key("param")),
        "{body}"
    );
    error
}

/// A `modelshare serve` process (the real binary) with its stderr in a file.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

/// Starts `modelshare serve` on `db` with extra environment, and waits until it is ready.
pub async fn serve_binary(db: &TestDb, env: &[(&str, &str)]) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address")
        .port();
    let log = db.dir().join(format!("serve-{port}.log"));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"));
    command
        .current_dir(db.dir())
        .env("MODELSHARE__DATABASE__URL", &db.url)
        .env("MODELSHARE__SERVER__PORT", port.to_string())
        .env("MODELSHARE__RATE_LIMIT__ENABLED", "false")
        .args([
            "--config",
            crate::cli::config_dir().to_str().expect("utf-8 path"),
            "serve",
        ])
        .stderr(std::fs::File::create(&log).expect("log file"));
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("modelshare starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            return Served { child, base, log };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("modelshare serve never became ready");
}

/// A model's share events (newest first), after checking the history is consistent: events
/// alternate share, unshare, share, … from the first, and the model's state is the last one.
pub async fn consistent_history(store: &Store, model: ModelId) -> Vec<storage::ShareEvent> {
    let events = store
        .list_share_events(model, None, 1_000_000)
        .await
        .expect("events")
        .items;
    for (i, event) in events.iter().rev().enumerate() {
        let expected = if i % 2 == 0 {
            ShareAction::Share
        } else {
            ShareAction::Unshare
        };
        assert_eq!(
            event.action, expected,
            "model {model}: event {i} breaks the alternation"
        );
    }
    let state = store
        .get_model(model)
        .await
        .expect("model")
        .expect("model exists");
    let last_is_share = events
        .first()
        .is_some_and(|e| e.action == ShareAction::Share);
    assert_eq!(
        state.shared, last_is_share,
        "model {model}: state and last event disagree"
    );
    events
}

/// Tests that load the machine (hundreds of concurrent calls) or measure time run one at a
/// time, so that one's load does not distort another's measurement.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// The ids the database says are shared.
pub async fn shared_in_db(app: &TestApp) -> std::collections::BTreeSet<ModelId> {
    app.store
        .list_catalog()
        .await
        .expect("catalog rows")
        .into_iter()
        .map(|r| r.model.id)
        .collect()
}

/// The ids an instance's in-memory catalog holds.
pub fn in_catalog(app: &TestApp) -> std::collections::BTreeSet<ModelId> {
    app.catalog.shared_ids().into_iter().collect()
}

/// Waits until every app's catalog equals the database; returns how long that took, and
/// panics after `within`.
pub async fn converged(apps: &[&TestApp], within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let truth = shared_in_db(apps[0]).await;
        if apps.iter().all(|a| in_catalog(a) == truth) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "catalogs did not equal the database within {within:?}: db {truth:?}, catalogs {:?}",
            apps.iter().map(|a| in_catalog(a)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
