//! The modelshare database schema as sea-orm migrations. One schema for SQLite and PostgreSQL,
//! written with sea-query builders only.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261201_000001_writer_heartbeat;
mod m20261201_000002_outbox_tx;
mod m20261202_000001_idempotency_keys;
mod m20261202_000002_schedules;
mod m20261202_000003_webhooks;
mod m20261202_000004_standing_events;
mod m20261205_000001_database_identity;

/// Every migration of the service, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261201_000001_writer_heartbeat::Migration),
            Box::new(m20261201_000002_outbox_tx::Migration),
            Box::new(m20261202_000001_idempotency_keys::Migration),
            Box::new(m20261202_000002_schedules::Migration),
            Box::new(m20261202_000003_webhooks::Migration),
            Box::new(m20261202_000004_standing_events::Migration),
            Box::new(m20261205_000001_database_identity::Migration),
        ]
    }
}
