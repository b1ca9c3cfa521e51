//! The one build path for `main` and the tests: [`Application::build`] binds the listener (port
//! 0 works) and answers on it while it connects the database, migrates it and loads the
//! catalog (`crate::starting`), then assembles the actix-web server.
//!
//! Shutdown is ours, not actix-web's: actix treats SIGINT as a forced stop (in-flight requests
//! dropped), so its signal handling is off and [`Application::run_until_stopped`] turns SIGINT
//! and SIGTERM alike (or a [`Stopper`]) into a graceful stop bounded by
//! `server.shutdown_grace_secs`, after which the schedule runner stops and the database closes.
//! SIGHUP reloads the configuration's policies ([`crate::reload`]).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::KeepAlive;
use actix_web::middleware::Next;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, error, web};
use auth::{Authenticator, PolicyConfigError, PolicyRegistry};
use catalog::Catalog;
use storage::Store;

use crate::error::{ApiError, RetryAfter};
use crate::ratelimit::RateLimits;
use crate::reload::Reloader;
use crate::routes;
use crate::scheduler::Scheduler;
use crate::settings::{ApiSettings, Settings, SettingsError};
use crate::starting::Starting;
use crate::telemetry::request_context;
use crate::webhooks::{SecretBox, SecretKeyError, UrlGuard, WebhookEngine};

/// What handlers share. Cheap to clone; passed by value, never global.
pub struct AppState {
    pub store: Store,
    pub authenticator: Authenticator,
    pub catalog: Catalog,
    pub api: ApiSettings,
    /// Whether catalog reads need no key.
    pub public_browse: bool,
    pub rate_limits: RateLimits,
    /// Catalog pages as served, until the catalog changes.
    pub pages: crate::page_cache::PageCache,
    /// Seals webhook signing secrets for the store.
    pub secrets: SecretBox,
    /// Which webhook URLs are allowed.
    pub url_guard: UrlGuard,
    /// `webhooks.max_per_project`.
    pub webhooks_per_project: u64,
    /// Wakes the webhook engine (a ping or a redelivery is due now).
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Tells the webhook engine that a webhook was made or turned on here.
    pub webhooks_changed: Arc<std::sync::atomic::AtomicBool>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    WebhookKey(#[from] SecretKeyError),
    #[error("webhooks: the delivery client: {0}")]
    WebhookClient(#[from] reqwest::Error),
    #[error("database: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("configuration: {0}")]
    Policy(#[from] PolicyConfigError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    catalog: Catalog,
    authenticator: Authenticator,
    /// Deletes expired idempotency keys while the service runs.
    sweeper: AbortOnDrop,
    /// Reads the standing outbox for the key cache.
    key_follower: AbortOnDrop,
    /// Runs scheduled shares and unshares when they come due.
    scheduler: Scheduler,
    /// Fans share events out to webhooks and delivers them.
    webhooks: WebhookEngine,
    stopper: Stopper,
    /// What SIGHUP runs.
    reloader: Reloader,
}

/// A task stopped when its owner is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Stops a running [`Application`] as SIGTERM would (gracefully), without a signal: for a
/// process that runs several (tests stop one instance of two).
#[derive(Debug, Clone, Default)]
pub struct Stopper(Arc<tokio::sync::Notify>);

impl Stopper {
    /// Asks the application to stop; [`Application::run_until_stopped`] then returns.
    pub fn stop(&self) {
        self.0.notify_one();
    }

    async fn requested(&self) {
        self.0.notified().await;
    }
}

impl AppState {
    /// A webhook was made, turned on, pinged or redelivered here: the engine looks at once.
    pub(crate) fn webhook_changed(&self) {
        self.webhooks_changed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.webhook_wake.notify_one();
    }

    fn new(settings: &Settings, store: &Store, catalog: &Catalog, secrets: SecretBox) -> Self {
        Self {
            authenticator: Authenticator::new(
                store.clone(),
                settings.auth.key_prefix.clone(),
                settings.key_cache_settings(),
            ),
            store: store.clone(),
            catalog: catalog.clone(),
            api: settings.api.clone(),
            public_browse: settings.catalog.public_browse,
            rate_limits: RateLimits::new(&settings.rate_limit),
            pages: crate::page_cache::PageCache::new(settings.catalog.page_cache_bytes),
            secrets,
            url_guard: settings.url_guard(),
            webhooks_per_project: settings.webhooks.max_per_project.get(),
            webhook_wake: catalog.commits(),
            webhooks_changed: Arc::default(),
        }
    }
}

impl Application {
    /// Builds the service with the built-in policies.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, PolicyRegistry::with_builtins()).await
    }

    /// Builds the service with a policy registry of your own (built-ins plus yours).
    pub async fn build_with(
        settings: Settings,
        policies: PolicyRegistry,
    ) -> Result<Self, StartupError> {
        let chains = policies.build(&settings.policy_config()?)?;
        let secrets = SecretBox::load(
            settings.webhooks.secret_key.expose(),
            &settings.webhooks.secret_key_file,
        )?;
        let policies = Arc::new(policies);
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                address: address.clone(),
                source,
            })?
            .port();
        // The port answers while the database opens and the catalog loads (see `starting`).
        let starting = Starting::serve(&listener, settings.database.retry_after_secs.get())
            .map_err(|source| StartupError::Bind { address, source })?;
        tracing::info!(
            port,
            "answering while starting: /healthz 200, the rest 503 until the catalog is loaded"
        );
        let opened = async {
            let store = Store::connect(&settings.db_settings()).await?;
            store.migrate().await?;
            let catalog =
                Catalog::start(store.clone(), chains, settings.catalog_settings()).await?;
            Ok::<_, StartupError>((store, catalog))
        }
        .await;
        starting.stop().await;
        let (store, catalog) = opened?;
        let state = web::Data::new(AppState::new(&settings, &store, &catalog, secrets.clone()));
        let webhooks_changed = Arc::clone(&state.webhooks_changed);
        let key_follower = AbortOnDrop(tokio::spawn(state.authenticator.follow()));
        let authenticator = state.authenticator.clone();
        crate::metrics::handle();
        let timeout = web::Data::new(RequestTimeout(Duration::from_millis(
            settings.server.request_timeout_ms.get(),
        )));
        let retry_after = web::Data::new(RetryAfter(settings.database.retry_after_secs.get()));
        let body_limit = settings.server.body_limit_bytes.get();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(retry_after.clone())
                .app_data(timeout.clone())
                .configure(|cfg| configure_extractors(cfg, body_limit))
                .wrap(from_fn(request_context))
                .configure(routes::configure)
                .default_service(web::to(route_not_found))
        })
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_grace_secs)
        .keep_alive(match settings.server.keep_alive_secs {
            0 => KeepAlive::Disabled,
            secs => KeepAlive::Timeout(Duration::from_secs(secs)),
        })
        .client_request_timeout(Duration::from_millis(
            settings.server.client_header_timeout_ms.get(),
        ));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                address: format!("port {port}"),
                source,
            })?
            .run();
        let sweeper = AbortOnDrop(store.spawn_idempotency_sweeper(
            Duration::from_secs(settings.api.idempotency_ttl_secs.get()),
            Duration::from_secs(settings.api.idempotency_sweep_interval_secs.get()),
        ));
        tracing::info!(port, backend = ?store.backend(), "listening");
        // Its first tick runs now: schedules that came due while no instance ran run at once.
        let scheduler = Scheduler::start(
            store.clone(),
            catalog.clone(),
            settings.scheduler_settings(),
        );
        let webhooks = WebhookEngine::start(
            store.clone(),
            catalog.commits(),
            webhooks_changed,
            secrets,
            settings.webhook_engine_settings(),
        )?;
        let reloader = Reloader::new(policies, catalog.clone(), settings);
        Ok(Self {
            port,
            server,
            store,
            catalog,
            authenticator,
            sweeper,
            key_follower,
            scheduler,
            webhooks,
            stopper: Stopper::default(),
            reloader,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database the service uses (tests seed through it).
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The catalog handle (tests inspect the actor registry and the in-memory catalog).
    pub fn catalog(&self) -> Catalog {
        self.catalog.clone()
    }

    /// How this application authenticates keys (tests inspect its key cache).
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator.clone()
    }

    /// What reloads this application's policies, as SIGHUP does.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Reloads (on SIGHUP) from the config folder `dir`, the `--config` the service started
    /// with (`None`: `./config`).
    pub fn reload_from(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.reloader = self.reloader.with_config_dir(dir);
        self
    }

    /// What stops this application once it runs, as a signal would.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until SIGINT or SIGTERM (or its [`Stopper`]), then stops accepting connections,
    /// lets in-flight requests finish (for up to `server.shutdown_grace_secs`), stops the
    /// schedule runner (after the runs in flight are recorded), writes the catalog's start-up
    /// checkpoint and closes the database.
    ///
    /// Meanwhile each SIGHUP, and each change of the config files, reloads the configuration
    /// ([`Reloader::reload_files`], [`Reloader::spawn_watch`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signals = ShutdownSignals::listen()?;
        let reloads = AbortOnDrop(spawn_reloads(self.reloader.clone())?);
        let watch = self.reloader.spawn_watch().map(AbortOnDrop);
        let handle = self.server.handle();
        let stopper = self.stopper.clone();
        actix_rt::spawn(async move {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                () = stopper.requested() => "stop requested",
            };
            tracing::info!(signal, "stopping: draining in-flight requests");
            handle.stop(true).await;
        });
        let result = self.server.await;
        drop(reloads);
        drop(watch);
        drop(self.sweeper);
        drop(self.key_follower);
        self.scheduler.stop().await;
        self.webhooks.stop().await;
        // Every transition is in by now: the next start loads this instead of the database.
        self.catalog.save_checkpoint().await;
        if let Err(err) = self.store.close().await {
            tracing::warn!(error = %err, "closing the database failed");
        }
        result
    }
}

/// SIGINT and SIGTERM, registered before the server runs so that neither is missed.
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the first of the two signals to arrive.
    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Listens for SIGHUP (registered now, so none is missed) and reloads on each.
fn spawn_reloads(reloader: Reloader) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "reloading the configuration");
            // The outcome is logged and counted by the reloader.
            let _ = reloader.reload_files();
        }
    }))
}

/// Routes actix's extractor errors (bad JSON, bad query, bad path, body too large) into the
/// envelope.
fn configure_extractors(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(web::PayloadConfig::new(body_limit))
        .app_data(
            web::JsonConfig::default()
                .limit(body_limit)
                .error_handler(|err, _req| json_error(&err).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _req| ApiError::invalid("query", err.to_string()).into()),
        )
        .app_data(web::PathConfig::default().error_handler(|_err, _req| {
            ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND).into()
        }));
}

fn json_error(err: &error::JsonPayloadError) -> ApiError {
    use error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => {
            ApiError::from_status(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE)
        }
        E::ContentType => {
            ApiError::from_status(actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        E::Deserialize(de) => {
            let message = if de.is_data() {
                format!("The JSON body has a bad field: {de}.")
            } else {
                format!("The body is not valid JSON: {de}.")
            };
            ApiError::invalid("body", message)
        }
        _ => ApiError::invalid("body", "The request body could not be read."),
    }
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    tracing::debug!(path = req.path(), "no route");
    Err(ApiError::from_status(
        actix_web::http::StatusCode::NOT_FOUND,
    ))
}

/// The longest a request may run, in app data.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Middleware: a request still running after [`RequestTimeout`] is answered 408
/// `request_timeout`, a server error (the client's part, its headers, had already arrived).
/// Wraps each resource (after routing; the request may be cloned only once its path is matched).
pub(crate) async fn request_timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<RequestTimeout>>()
        .map_or(Duration::from_secs(30), |t| t.0);
    let http_req = req.request().clone();
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis(), "request timed out");
            let error = ApiError::from_status(actix_web::http::StatusCode::REQUEST_TIMEOUT);
            Ok(ServiceResponse::new(http_req, error.error_response()))
        }
    }
}
