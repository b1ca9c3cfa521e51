//! The modelshare HTTP service: routes, DTOs, the error envelope, configuration, telemetry and
//! the operator CLI. `main` and the integration tests build the service the same way, through
//! [`Application::build`].

pub mod app;
pub mod cli;
pub mod dto;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod page_cache;
pub mod pagination;
pub mod ratelimit;
pub mod reload;
pub mod routes;
pub mod scheduler;
pub mod settings;
mod starting;
pub mod telemetry;
pub mod webhooks;

pub use app::{Application, StartupError, Stopper};
pub use reload::{ReloadError, Reloaded, Reloader};
pub use settings::Settings;
