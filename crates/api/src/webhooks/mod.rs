//! Webhooks: events out of the share-events outbox, signed, to the URLs tenants subscribe.
//!
//! * [`events`]: what a committed share event becomes (event ids, bodies, recipients).
//! * [`engine`]: the per-instance task that fans the outbox out into deliveries and sends them.
//! * [`guard`]: which target URLs are allowed (scheme, and no private network, checked on the
//!   address actually connected to).
//! * [`secrets`]: signing secrets, their sealing at rest, and the signature.

pub mod engine;
pub mod events;
pub mod guard;
pub mod secrets;

pub use engine::{EngineSettings, WebhookEngine};
pub use guard::UrlGuard;
pub use secrets::{SecretBox, SecretKeyError};
