//! The public catalog: shared models with their owner's name and endpoint count.

use std::sync::LazyLock;

use domain::ModelId;
use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, JoinType, Query, SelectStatement,
};
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, RuntimeErr};

use super::select_prefixed;
use crate::Store;
use crate::entities::{endpoints, models, projects};
use crate::error::{StorageError, classify, corrupt};
use crate::records::CatalogRow;

/// SQLite: chunks of up to `?2` shared models after rowid `?1`, each chunk one row: the last
/// rowid, the count, and the models as one JSON array of `[row, owner name, endpoint count]`
/// (the row a JSON array in the entity's column order, see [`models::sqlite_json_array`]). The driver hands
/// every row and every value from its worker thread to ours separately; one value per chunk
/// makes loading a million models several times faster than one row per model. The chunk's
/// array is the rows' arrays joined by commas: `json_group_array(json(j))` parsed each row's
/// array again (into SQLite's binary JSON and back to text), a quarter of the driver's work.
static LOAD_SQLITE_CHUNK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT max(rid), count(*), '[' || coalesce(group_concat(j, ','), '') || ']' FROM ( \
         SELECT m.rowid AS rid, json_array({row}, p.name, \
         (SELECT COUNT(*) FROM endpoints e WHERE e.model_id = m.id)) AS j \
         FROM models m JOIN projects p ON p.id = m.project_id \
         WHERE m.shared AND m.rowid > ?1 ORDER BY m.rowid LIMIT ?2)",
        row = models::sqlite_json_array("m"),
    )
});

const LOAD_SQLITE_CHUNK_SIZE: i64 = 4096;

/// Rows per `FETCH` when loading the whole catalog on PostgreSQL: every statement stays short
/// (well under PostgreSQL's `statement_timeout` with a million shared models, however slowly the
/// rows are consumed).
const LOAD_POSTGRES_BATCH: i64 = 20_000;

/// One model of a [`LOAD_SQLITE_CHUNK`] chunk.
#[derive(serde::Deserialize)]
struct SqliteLoaded(models::Model, String, i64);

/// PostgreSQL: every shared model in one read-only snapshot, through a cursor fetched
/// [`LOAD_POSTGRES_BATCH`] rows at a time. The models are scanned in the table's own order and the
/// endpoints counted once for all of them (hash joins). Keyset pages by id did the same work
/// as 50 statements at a million models, but each page read its rows in id order, one heap
/// page per row, and counted each row's endpoints with an index scan of its own: 65–95 ms of
/// the server's time per page of 20,000, against 0.4 s for the whole scan (1 s with 600,000
/// endpoints, counted in the first `FETCH`).
/// `cursor_tuple_fraction = 1` has the planner pick the plan that reads every row soonest (a
/// cursor is planned by default for its first tenth).
static LOAD_POSTGRES_CURSOR: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
         SET LOCAL cursor_tuple_fraction = 1; \
         DECLARE catalog_load NO SCROLL CURSOR FOR \
         SELECT {columns}, p.name AS owner_name, COALESCE(ec.n, 0) AS endpoint_count \
         FROM models m JOIN projects p ON p.id = m.project_id \
         LEFT JOIN (SELECT model_id, COUNT(*) AS n FROM endpoints GROUP BY model_id) ec \
         ON ec.model_id = m.id \
         WHERE m.shared",
        columns = models::select_list("m"),
    )
});

/// `models ⋈ projects` with the endpoint count of one model (`id` = the model's id).
fn one_model_query(id: ModelId) -> SelectStatement {
    let mut counts = Query::select();
    counts
        .column(endpoints::Column::ModelId)
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(endpoints::Entity)
        .and_where(Expr::col(endpoints::Column::ModelId).eq(id.as_uuid()))
        .group_by_col(endpoints::Column::ModelId);

    let mut select = Query::select();
    select_prefixed::<models::Entity>(&mut select, "models", "m_");
    select
        .expr_as(
            Expr::col((projects::Entity, projects::Column::Name)),
            Alias::new("owner_name"),
        )
        .expr_as(
            Func::coalesce([
                Expr::col((Alias::new("ec"), Alias::new("n"))),
                Expr::val(0i64),
            ]),
            Alias::new("endpoint_count"),
        )
        .from(models::Entity)
        .join(
            JoinType::InnerJoin,
            projects::Entity,
            Expr::col((projects::Entity, projects::Column::Id))
                .equals((models::Entity, models::Column::ProjectId)),
        )
        .join_subquery(
            JoinType::LeftJoin,
            counts,
            Alias::new("ec"),
            Expr::col((Alias::new("ec"), endpoints::Column::ModelId))
                .equals((models::Entity, models::Column::Id)),
        );
    select.and_where(Expr::col((models::Entity, models::Column::Id)).eq(id.as_uuid()));
    select
}

/// A catalog row by column name: the model's columns after `prefix`, then `owner_name` and
/// `endpoint_count`.
fn catalog_row(row: &QueryResult, prefix: &str) -> Result<CatalogRow, StorageError> {
    let model = models::Model::from_query_result(row, prefix).map_err(classify)?;
    Ok(CatalogRow {
        model: model.into_record()?,
        owner_name: row.try_get("", "owner_name").map_err(classify)?,
        endpoint_count: row.try_get("", "endpoint_count").map_err(classify)?,
    })
}

/// The catalog row of one element of a [`LOAD_SQLITE_CHUNK`] chunk; one that does not decode
/// is an `Err` with its model id as stored (for the log).
fn sqlite_loaded(raw: &serde_json::value::RawValue) -> Result<CatalogRow, (String, StorageError)> {
    let SqliteLoaded(model, owner_name, endpoint_count) =
        serde_json::from_str(raw.get()).map_err(|e| {
            (
                stored_id(raw.get()),
                corrupt(format!("stored model row: {e}")),
            )
        })?;
    let id = model.id;
    let model = model
        .into_record()
        .map_err(|err| (id.simple().to_string(), err))?;
    Ok(CatalogRow {
        model,
        owner_name,
        endpoint_count,
    })
}

/// What the log says for a row that does not decode and whose id cannot be read either.
const UNREADABLE_ID: &str = "(unreadable)";

/// The `id` of a chunk element that did not decode, as stored (for the log).
fn stored_id(raw: &str) -> String {
    let element: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    // The id is the row's first column.
    match element.get(0).and_then(|row| row.get(0)) {
        Some(serde_json::Value::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => UNREADABLE_ID.to_owned(),
    }
}

/// One [`LOAD_SQLITE_CHUNK`] row: the last rowid (none when empty), the count, the JSON.
async fn sqlite_chunk(
    conn: &mut sqlx::SqliteConnection,
    after: i64,
    chunk: i64,
) -> Result<(Option<i64>, i64, String), StorageError> {
    sqlx::query_as(LOAD_SQLITE_CHUNK.as_str())
        .bind(after)
        .bind(chunk)
        .fetch_one(conn)
        .await
        .map_err(sqlx_error)
}

fn sqlx_error(err: sqlx::Error) -> StorageError {
    classify(DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(
        err,
    ))))
}

/// What a catalog load read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Rows handed to the caller.
    pub rows: u64,
    /// Rows passed over because they do not decode.
    pub undecodable: u64,
}

impl Loaded {
    fn skip(&mut self, model_id: &str, err: &StorageError) {
        self.undecodable += 1;
        tracing::warn!(model_id, reason = ?err, "a shared model's row does not decode; left out of the catalog");
    }
}

impl Store {
    /// Every shared model, in no particular order (tests compare catalogs with it).
    #[cfg(feature = "test-support")]
    pub async fn list_catalog(&self) -> Result<Vec<CatalogRow>, StorageError> {
        let mut rows = Vec::new();
        self.load_catalog(|row| rows.push(row)).await?;
        Ok(rows)
    }

    /// [`Store::list_catalog`] read `chunk` models per statement (tests of chunk boundaries).
    #[cfg(feature = "test-support")]
    pub async fn list_catalog_in_chunks(
        &self,
        chunk: i64,
    ) -> Result<(Vec<CatalogRow>, Loaded), StorageError> {
        let mut rows = Vec::new();
        let loaded = self
            .load_catalog_in_chunks(chunk, |row| rows.push(row))
            .await?;
        Ok((rows, loaded))
    }

    /// Streams every shared model into `each`, in no particular order, without holding more
    /// than a row at a time: a catalog of a million models loads in seconds and in the memory
    /// of the index alone. A row that does not decode is passed over, logged with its model id
    /// and counted: one bad row never stops a start-up.
    pub async fn load_catalog(&self, each: impl FnMut(CatalogRow)) -> Result<Loaded, StorageError> {
        let chunk = match self.backend {
            crate::Backend::Sqlite => LOAD_SQLITE_CHUNK_SIZE,
            crate::Backend::Postgres => LOAD_POSTGRES_BATCH,
        };
        self.load_catalog_in_chunks(chunk, each).await
    }

    /// [`Store::load_catalog`] with `chunk` models per statement.
    async fn load_catalog_in_chunks(
        &self,
        chunk: i64,
        each: impl FnMut(CatalogRow),
    ) -> Result<Loaded, StorageError> {
        match self.backend {
            crate::Backend::Sqlite => self.load_sqlite(chunk, each).await,
            crate::Backend::Postgres => self.load_postgres(chunk, each).await,
        }
    }

    /// SQLite: [`LOAD_SQLITE_CHUNK`] after [`LOAD_SQLITE_CHUNK`], two chunks in flight: the
    /// driver's thread runs the next chunk's statement while this task decodes this one and
    /// hands it to `each`, a row at a time. Each row is handed over before the next is decoded,
    /// so what the handing over frees (texts the catalog keeps one shared copy of, a description
    /// it copies) is what the next row's decoding allocates again, from the thread's own cache
    /// of freed blocks. Decoding a whole chunk first (on another thread or this one) freed
    /// thousands of blocks at once, and glibc's `malloc` then spent more time sorting them than
    /// the decoding took (see `docs/performance.md`, "Each row decoded and handed over in turn").
    async fn load_sqlite(
        &self,
        chunk: i64,
        mut each: impl FnMut(CatalogRow),
    ) -> Result<Loaded, StorageError> {
        let mut loaded = Loaded::default();
        let mut conn = self
            .reader
            .pool()
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(sqlx_error)?;
        let mut hand_over = |json: String, loaded: &mut Loaded| {
            // Each element as its raw text first, so that one that does not decode is passed
            // over and the rest still load.
            let rows: Vec<&serde_json::value::RawValue> =
                serde_json::from_str(&json).map_err(|e| corrupt(format!("catalog chunk: {e}")))?;
            for raw in rows {
                match sqlite_loaded(raw) {
                    Ok(row) => {
                        each(row);
                        loaded.rows += 1;
                    }
                    Err((id, err)) => loaded.skip(&id, &err),
                }
            }
            Ok::<(), StorageError>(())
        };
        let mut current = sqlite_chunk(&mut conn, i64::MIN, chunk).await?;
        loop {
            let (last, count, json) = current;
            let next = last.filter(|_| count == chunk);
            // The next chunk's statement is sent first: it runs on the driver's thread while
            // this chunk is handed over here.
            let (next, handed) = futures_util::future::join(
                async {
                    match next {
                        Some(last) => sqlite_chunk(&mut conn, last, chunk).await.map(Some),
                        None => Ok(None),
                    }
                },
                async { hand_over(json, &mut loaded) },
            )
            .await;
            handed?;
            match next? {
                Some(next) => current = next,
                None => break,
            }
        }
        Ok(loaded)
    }

    /// PostgreSQL: [`LOAD_POSTGRES_CURSOR`] fetched `chunk` rows at a time on one kept
    /// connection, each row decoded and handed over as it streams in (decoding on another
    /// thread cost a third more CPU and was slower: the server's backend works on the same
    /// cores). The connection goes back for reuse only once the transaction is over;
    /// on any error it is closed, which ends the transaction.
    async fn load_postgres(
        &self,
        chunk: i64,
        mut each: impl FnMut(CatalogRow),
    ) -> Result<Loaded, StorageError> {
        let mut loaded = Loaded::default();
        let kept = self.reader.connections().ok_or(StorageError::Invalid(
            "a PostgreSQL store keeps its connections",
        ))?;
        let mut lease = kept.lease().await.map_err(classify)?;
        let conn = lease.raw().map_err(classify)?;
        sqlx::raw_sql(LOAD_POSTGRES_CURSOR.as_str())
            .execute(&mut *conn)
            .await
            .map_err(sqlx_error)?;
        // A number of this process's own making: nothing from outside goes into the statement.
        let fetch = format!("FETCH FORWARD {chunk} FROM catalog_load");
        loop {
            let mut in_batch = 0;
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(fetch.as_str()))
                .persistent(false)
                .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await.map_err(sqlx_error)? {
                in_batch += 1;
                // The id first, so that a row that does not decode is still named.
                let id: Result<uuid::Uuid, _> = row.try_get("id");
                match catalog_row(&QueryResult::from(row), "") {
                    Ok(row) => {
                        each(row);
                        loaded.rows += 1;
                    }
                    Err(err) => {
                        let id = id.map_or_else(|_| UNREADABLE_ID.to_owned(), |id| id.to_string());
                        loaded.skip(&id, &err);
                    }
                }
            }
            drop(rows);
            if in_batch < chunk.unsigned_abs() {
                break;
            }
        }
        sqlx::raw_sql("COMMIT")
            .execute(&mut *conn)
            .await
            .map_err(sqlx_error)?;
        lease.keep();
        Ok(loaded)
    }

    /// One model, shared or not, as the catalog would show it.
    pub async fn get_catalog_row(&self, id: ModelId) -> Result<Option<CatalogRow>, StorageError> {
        self.reader
            .query_one(&one_model_query(id))
            .await
            .map_err(classify)?
            .as_ref()
            .map(|row| catalog_row(row, "m_"))
            .transpose()
    }
}
