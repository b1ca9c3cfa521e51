//! Reloading the configuration without a restart: on SIGHUP (see
//! [`Application::run_until_stopped`](crate::Application::run_until_stopped)), and when the
//! config files change ([`Reloader::spawn_watch`], every `reload.watch_interval_ms`), the service
//! reads its config files again, with the same layering and `--config` folder it started with.
//!
//! What changes live is the policy chains and rules: the new ones are built (every rule
//! compiled) next to the old, then put in force in one step ([`catalog::Catalog::replace_chains`]);
//! a transition loads the chains once, so it is decided wholly by the old or wholly by the new.
//! A configuration that does not load, or whose policies do not build, is refused and the old
//! chains stay. Every other setting is read at start-up only: a reload that changes one logs that
//! it needs a restart. Each reload is counted in `modelshare_config_reloads_total{outcome}`.

use std::path::PathBuf;
use std::sync::Arc;

use auth::{PolicyConfigError, PolicyRegistry};
use catalog::Catalog;

use crate::settings::{Settings, SettingsError};

/// Re-reads the configuration and puts its policies in force. Cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

struct Inner {
    /// The `--config` folder the service started with (`None`: `./config`).
    config_dir: Option<PathBuf>,
    registry: Arc<PolicyRegistry>,
    catalog: Catalog,
    /// The settings the service started with: what a reload cannot change.
    started: Settings,
}

/// Why a reload was refused (the old configuration stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("configuration: {0}")]
    Policy(#[from] PolicyConfigError),
}

/// What a reload that was applied did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The chains now in force.
    pub share: Vec<String>,
    pub unshare: Vec<String>,
    /// Sections whose new values take effect only on restart (e.g. `server`, `database`).
    pub need_restart: Vec<&'static str>,
}

impl Reloader {
    pub(crate) fn new(registry: Arc<PolicyRegistry>, catalog: Catalog, started: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                config_dir: None,
                registry,
                catalog,
                started,
            }),
        }
    }

    /// The same reloader, reading the files from `dir` (the `--config` the service got).
    pub fn with_config_dir(&self, dir: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config_dir: dir,
                registry: Arc::clone(&self.inner.registry),
                catalog: self.inner.catalog.clone(),
                started: self.inner.started.clone(),
            }),
        }
    }

    /// What SIGHUP does: reads the config files again and applies them ([`Reloader::apply`]).
    pub fn reload_files(&self) -> Result<Reloaded, ReloadError> {
        let loaded = Settings::load(self.inner.config_dir.as_deref());
        self.counted(
            loaded
                .map_err(ReloadError::from)
                .and_then(|next| self.build(&next)),
        )
    }

    /// Watches the config files (every `reload.watch_interval_ms` of the settings the service
    /// started with; `None` when that is 0) and reloads them ([`Reloader::reload_files`]) each
    /// time what they hold changes, until the task is aborted. A file that changes back and
    /// forth between two looks is not seen; SIGHUP remains the way to force a reload.
    pub fn spawn_watch(&self) -> Option<tokio::task::JoinHandle<()>> {
        let every = std::time::Duration::from_millis(self.inner.started.reload.watch_interval_ms);
        if every.is_zero() {
            return None;
        }
        let reloader = self.clone();
        Some(actix_rt::spawn(async move {
            let files = Settings::files(reloader.inner.config_dir.as_deref());
            let mut seen = files.contents();
            loop {
                tokio::time::sleep(every).await;
                let now = files.contents();
                if now != seen {
                    seen = now;
                    tracing::info!("the config files changed; reloading the configuration");
                    // Logged and counted by `counted`; a refused one keeps the old chains.
                    let _ = reloader.reload_files();
                }
            }
        }))
    }

    /// Puts `next`'s policies in force, or refuses it and keeps the chains in force; logs and
    /// counts the outcome either way.
    pub fn apply(&self, next: &Settings) -> Result<Reloaded, ReloadError> {
        self.counted(self.build(next))
    }

    /// Builds `next`'s chains (compiling every rule) and swaps them in.
    fn build(&self, next: &Settings) -> Result<Reloaded, ReloadError> {
        let chains = self.inner.registry.build(&next.policy_config()?)?;
        let reloaded = Reloaded {
            share: chains
                .names(domain::ShareAction::Share)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            unshare: chains
                .names(domain::ShareAction::Unshare)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            need_restart: need_restart(&self.inner.started, next),
        };
        self.inner.catalog.replace_chains(chains);
        Ok(reloaded)
    }

    fn counted(&self, result: Result<Reloaded, ReloadError>) -> Result<Reloaded, ReloadError> {
        let outcome = match &result {
            Ok(reloaded) => {
                tracing::info!(share = ?reloaded.share, unshare = ?reloaded.unshare, "configuration reloaded; policies swapped");
                if !reloaded.need_restart.is_empty() {
                    tracing::warn!(
                        sections = %reloaded.need_restart.join(", "),
                        "these settings changed in the files but take effect only on restart"
                    );
                }
                "applied"
            }
            Err(err) => {
                tracing::error!(error = %err, "configuration reload refused; the old configuration stays in force");
                "refused"
            }
        };
        metrics::counter!("modelshare_config_reloads_total", "outcome" => outcome).increment(1);
        result
    }
}

/// The sections of `next`, other than `policies`, that differ from those the service started
/// with.
fn need_restart(started: &Settings, next: &Settings) -> Vec<&'static str> {
    let differs =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let sections: [(&'static str, bool); 10] = [
        ("server", differs(&started.server, &next.server)),
        (
            "database",
            differs(&started.database, &next.database)
                || started.database.url.expose() != next.database.url.expose(),
        ),
        ("auth", differs(&started.auth, &next.auth)),
        ("api", differs(&started.api, &next.api)),
        ("log", differs(&started.log, &next.log)),
        ("rate_limit", differs(&started.rate_limit, &next.rate_limit)),
        ("actors", differs(&started.actors, &next.actors)),
        ("catalog", differs(&started.catalog, &next.catalog)),
        ("schedules", differs(&started.schedules, &next.schedules)),
        ("reload", differs(&started.reload, &next.reload)),
    ];
    sections
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
}
