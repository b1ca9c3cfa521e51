//! Connection pool use, for metrics.

use crate::{Backend, Store};

/// One pool's connections right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `reader`, `writer` (SQLite) or `shared` (PostgreSQL).
    pub name: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl Store {
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        match self.backend {
            Backend::Sqlite => {
                let stats = |name, db: &sea_orm::DatabaseConnection| {
                    let pool = db.get_sqlite_connection_pool();
                    PoolStats {
                        name,
                        open: pool.size(),
                        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                        max: pool.options().get_max_connections(),
                    }
                };
                vec![
                    stats("reader", self.reader.pool()),
                    stats("writer", self.writer.pool()),
                ]
            }
            Backend::Postgres => self
                .reader
                .connections()
                .map(|kept| {
                    let (open, idle, max) = kept.counts();
                    PoolStats {
                        name: "shared",
                        open,
                        idle,
                        max,
                    }
                })
                .into_iter()
                .collect(),
        }
    }
}
