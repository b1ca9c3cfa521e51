//! What every scenario starts from: a fresh database (its own temp directory, or a new
//! PostgreSQL database) migrated by the release server's CLI, the demo tenant that
//! `modelshare --json demo` seeds, and a one-connection pool on it for bulk seeding and checks.

use std::path::Path;

use anyhow::{Context, Result};
use uuid::Uuid;

use super::Env;
use crate::db::{Db, FreshDb, Pool};
use crate::server::ServerSpec;

/// What `modelshare --json demo` prints (the seeded admin and its project).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Demo {
    pub(crate) project_id: String,
    api_key: String,
    pub(crate) api_key_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) model_id: Uuid,
}

/// A fresh database with the schema and the demo tenant, plus a pool on it for seeding.
pub(crate) struct Prepared {
    fresh: FreshDb,
    pub(crate) spec: ServerSpec,
    pub(crate) pool: Pool,
    pub(crate) demo: Demo,
    dir: TempDir,
}

/// A temp directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("modelshare-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates the database of one scenario on `db` and the server spec that serves it (with the
/// actors' idle timeout `idle_timeout_ms`, when set), migrates it and seeds the demo tenant.
pub(crate) async fn prepare(env: &Env, db: Db, idle_timeout_ms: Option<u64>) -> Result<Prepared> {
    let dir = TempDir::new()?;
    let fresh = FreshDb::create(db, &dir.0, &env.pg_url).await?;
    let spec = ServerSpec {
        bin: env.bin.clone(),
        workdir: dir.0.clone(),
        database_url: fresh.url.clone(),
        idle_timeout_ms,
        page_cache_bytes: None,
    };
    spec.cli(&["migrate"]).await?;
    let demo: Demo = serde_json::from_str(&spec.cli(&["--json", "demo"]).await?)
        .context("reading `modelshare --json demo`")?;
    let pool = Pool::open(db, &fresh.url, 1).await?;
    Ok(Prepared {
        fresh,
        spec,
        pool,
        demo,
        dir,
    })
}

impl Prepared {
    /// Closes the pool and drops the database (the temp directory goes with `self`).
    pub(crate) async fn finish(self) -> Result<()> {
        self.pool.close().await;
        self.fresh.drop_db().await
    }

    /// The `Authorization` header of the demo admin's key.
    pub(crate) fn auth(&self) -> String {
        format!("Bearer {}", self.demo.api_key)
    }

    /// The demo tenant's API key.
    pub(crate) fn api_key(&self) -> &str {
        &self.demo.api_key
    }

    /// The scenario's temp directory (the server's working directory).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// The database's url.
    pub(crate) fn url(&self) -> &str {
        &self.fresh.url
    }
}
