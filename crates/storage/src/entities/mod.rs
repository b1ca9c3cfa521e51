//! sea-orm entities, one per table. Private to the crate: repositories turn them into records.

pub(crate) mod account_features;
pub(crate) mod accounts;
pub(crate) mod api_keys;
pub(crate) mod endpoints;
pub(crate) mod idempotency_keys;
pub(crate) mod memberships;
pub(crate) mod models;
pub(crate) mod projects;
pub(crate) mod schedules;
pub(crate) mod share_events;
pub(crate) mod users;
pub(crate) mod webhook_deliveries;
pub(crate) mod webhooks;
