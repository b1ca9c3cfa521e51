//! Typed helpers so a test reads like the user story it checks: a running service here, tenants
//! and requests in [`tenants`], checks and other processes in [`checks`].

mod checks;
mod tenants;

pub use checks::*;
pub use tenants::{Tenant, TenantSpec};

use std::num::NonZeroU64;
use std::time::Duration;

use crate::db::TestDb;
use api::Application;
use api::settings::{DEFAULT_TOML, Settings};
use auth::PolicyRegistry;
use storage::Store;

/// A running service on its own database.
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub catalog: catalog::Catalog,
    /// The app's authenticator (its key cache).
    pub keys: auth::Authenticator,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// Reloads the app's policies as SIGHUP does.
    pub reloader: api::Reloader,
    _data: Option<TestDb>,
    /// How to stop the app and wait for it, for the handle that started it.
    running: Option<Running>,
}

/// A running app's stopper and task.
struct Running {
    stopper: api::Stopper,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
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
    // A key of the test's own, so no key file is made in the working folder.
    settings.webhooks.secret_key = api::settings::Secret::new("5e".repeat(32));
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
    let keys = app.authenticator();
    let stopper = app.stopper();
    let reloader = app.reloader();
    let task = actix_rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        store,
        catalog,
        keys,
        client: client_for(&settings),
        settings,
        reloader,
        _data: None,
        running: Some(Running { stopper, task }),
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
            keys: self.keys.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            reloader: self.reloader.clone(),
            _data: None,
            running: None,
        }
    }

    /// Stops the app as SIGTERM would and waits until it has stopped (requests drained, its
    /// schedule runner stopped, its database closed). Only the handle that started it can.
    pub async fn stop(self) {
        let running = self.running.expect("stop the handle that started the app");
        running.stopper.stop();
        running
            .task
            .await
            .expect("the app's task")
            .expect("the app stopped cleanly");
    }

    /// The same handles, talking HTTP to another base URL (another instance).
    pub fn at(mut self, base: String) -> TestApp {
        self.base = base;
        self
    }
}

/// The text column `column` of every row `sql` selects, read on a connection of the test's own
/// to the app's database (what a dump of it would hold).
pub async fn raw_texts(app: &TestApp, sql: &str, column: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(app.settings.database.url.expose())
        .await
        .expect("connect");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query");
    rows.iter()
        .map(|row| row.try_get::<String>("", column).expect("text column"))
        .collect()
}
