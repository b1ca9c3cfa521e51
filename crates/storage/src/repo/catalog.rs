//! The public catalog: shared models with their owner's name and endpoint count.

use chrono::DateTime;
use domain::ModelId;
use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, JoinType, Query, SelectStatement,
};
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, RuntimeErr};

use super::{model_record, select_prefixed};
use crate::Store;
use crate::entities::{endpoints, models, projects};
use crate::error::{StorageError, classify, corrupt};
use crate::records::CatalogRow;

/// The columns of a catalog row, in the order [`decode_pg_row`] reads them (a macro, so that
/// the statement stays a literal).
macro_rules! load_columns {
    () => {
        "m.id, m.project_id, m.name, m.description, m.status, m.architecture, \
         m.parameter_count, m.context_length, m.license, m.tags, m.shared, m.shared_at, \
         m.unshared_at, m.version, m.created_at, m.updated_at, p.name"
    };
}

/// SQLite: chunks of up to `?2` shared models after rowid `?1`, each chunk one row: the last
/// rowid, the count, and the models as one JSON array of arrays ([`SqliteLoadRow`], the
/// columns of `load_columns!` with times in Unix seconds, then the endpoint count). The driver
/// hands every row and every value from its worker thread to ours separately; one value per
/// chunk makes loading a million models several times faster than one row per model.
const LOAD_SQLITE_CHUNK: &str = "SELECT max(rid), count(*), json_group_array(json(j)) FROM ( \
     SELECT m.rowid AS rid, json_array(lower(hex(m.id)), m.project_id, m.name, m.description, \
     m.status, m.architecture, m.parameter_count, m.context_length, m.license, m.tags, \
     m.shared, unixepoch(m.shared_at), unixepoch(m.unshared_at), m.version, \
     unixepoch(m.created_at), unixepoch(m.updated_at), p.name, \
     (SELECT COUNT(*) FROM endpoints e WHERE e.model_id = m.id)) AS j \
     FROM models m JOIN projects p ON p.id = m.project_id \
     WHERE m.shared AND m.rowid > ?1 ORDER BY m.rowid LIMIT ?2)";

const LOAD_SQLITE_CHUNK_SIZE: i64 = 4096;

/// Rows per statement when loading the whole catalog on PostgreSQL: keyset pages by id keep
/// every statement short (well under PostgreSQL's `statement_timeout` with a million shared
/// models, however slowly the rows are consumed).
const LOAD_POSTGRES_PAGE_SIZE: i64 = 20_000;

/// One model of a [`LOAD_SQLITE_CHUNK`] chunk, in its column order.
#[derive(serde::Deserialize)]
struct SqliteLoadRow(
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    i64,
    String,
    i64,
);

impl SqliteLoadRow {
    fn into_row(self) -> Result<CatalogRow, StorageError> {
        let Self(
            id,
            project_id,
            name,
            description,
            status,
            architecture,
            parameter_count,
            context_length,
            license,
            tags,
            shared,
            shared_at,
            unshared_at,
            version,
            created_at,
            updated_at,
            owner_name,
            endpoint_count,
        ) = self;
        let id = uuid::Uuid::try_parse(&id)
            .map_err(|e| corrupt(format!("stored model id {id:?}: {e}")))?;
        let time = |secs: i64| {
            DateTime::from_timestamp(secs, 0)
                .ok_or_else(|| corrupt(format!("stored time of model {id}: {secs}")))
        };
        let row = models::Model {
            id,
            project_id,
            name,
            description,
            status,
            architecture,
            parameter_count,
            context_length,
            license,
            tags,
            shared: shared != 0,
            shared_at: shared_at.map(time).transpose()?,
            unshared_at: unshared_at.map(time).transpose()?,
            version,
            created_at: time(created_at)?,
            updated_at: time(updated_at)?,
        };
        Ok(CatalogRow {
            model: model_record(row)?,
            owner_name,
            endpoint_count,
        })
    }
}

/// PostgreSQL: keyset pages by id; each page counts its models' endpoints through the
/// `endpoints.model_id` index.
const LOAD_POSTGRES_PAGE: &str = concat!(
    "SELECT ",
    load_columns!(),
    ", (SELECT COUNT(*) FROM endpoints e WHERE e.model_id = m.id) \
     FROM models m JOIN projects p ON p.id = m.project_id \
     WHERE m.shared AND m.id > $1 ORDER BY m.id LIMIT $2"
);

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

fn catalog_row(row: &QueryResult) -> Result<CatalogRow, StorageError> {
    let model = models::Model::from_query_result(row, "m_").map_err(classify)?;
    Ok(CatalogRow {
        model: model_record(model)?,
        owner_name: row.try_get("", "owner_name").map_err(classify)?,
        endpoint_count: row.try_get("", "endpoint_count").map_err(classify)?,
    })
}

/// A catalog row from the columns of `load_columns!` and the endpoint count, by position (the
/// start-up load decodes every shared model; looking columns up by name was most of its time).
fn decode_pg_row(row: &PgRow) -> Result<CatalogRow, StorageError> {
    let columns = || -> Result<(models::Model, String, i64), sqlx::Error> {
        let model = models::Model {
            id: row.try_get(0)?,
            project_id: row.try_get(1)?,
            name: row.try_get(2)?,
            description: row.try_get(3)?,
            status: row.try_get(4)?,
            architecture: row.try_get(5)?,
            parameter_count: row.try_get(6)?,
            context_length: row.try_get(7)?,
            license: row.try_get(8)?,
            tags: row.try_get(9)?,
            shared: row.try_get(10)?,
            shared_at: row.try_get(11)?,
            unshared_at: row.try_get(12)?,
            version: row.try_get(13)?,
            created_at: row.try_get(14)?,
            updated_at: row.try_get(15)?,
        };
        Ok((model, row.try_get(16)?, row.try_get(17)?))
    };
    let (model, owner_name, endpoint_count) = columns().map_err(sqlx_error)?;
    Ok(CatalogRow {
        model: model_record(model)?,
        owner_name,
        endpoint_count,
    })
}

/// One [`LOAD_SQLITE_CHUNK`] row: the last rowid (none when empty), the count, the JSON.
async fn sqlite_chunk(
    conn: &mut sqlx::SqliteConnection,
    after: i64,
    chunk: i64,
) -> Result<(Option<i64>, i64, String), StorageError> {
    sqlx::query_as(LOAD_SQLITE_CHUNK)
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

    /// Streams every shared model into `each`, in no particular order, without holding more
    /// than a row at a time: a catalog of a million models loads in seconds and in the memory
    /// of the index alone. A row that does not decode is passed over, logged with its model id
    /// and counted: one bad row never stops a start-up.
    pub async fn load_catalog(&self, each: impl FnMut(CatalogRow)) -> Result<Loaded, StorageError> {
        let chunk = match self.backend {
            crate::Backend::Sqlite => LOAD_SQLITE_CHUNK_SIZE,
            crate::Backend::Postgres => LOAD_POSTGRES_PAGE_SIZE,
        };
        self.load_catalog_in_chunks(chunk, each).await
    }

    /// [`Store::load_catalog`] with `chunk` models per statement.
    async fn load_catalog_in_chunks(
        &self,
        chunk: i64,
        mut each: impl FnMut(CatalogRow),
    ) -> Result<Loaded, StorageError> {
        let mut loaded = Loaded::default();
        match self.backend {
            crate::Backend::Sqlite => {
                let mut conn = self
                    .reader
                    .pool()
                    .get_sqlite_connection_pool()
                    .acquire()
                    .await
                    .map_err(sqlx_error)?;
                let mut current = sqlite_chunk(&mut conn, i64::MIN, chunk).await?;
                loop {
                    let (last, count, json) = current;
                    let mut decode = || -> Result<(), StorageError> {
                        let rows: Vec<SqliteLoadRow> = serde_json::from_str(&json)
                            .map_err(|e| corrupt(format!("catalog chunk: {e}")))?;
                        for row in rows {
                            let id = row.0.clone();
                            match row.into_row() {
                                Ok(row) => {
                                    each(row);
                                    loaded.rows += 1;
                                }
                                Err(err) => loaded.skip(&id, &err),
                            }
                        }
                        Ok(())
                    };
                    let Some(last) = last.filter(|_| count == chunk) else {
                        decode()?;
                        return Ok(loaded);
                    };
                    // The next chunk's statement is sent first and runs on the driver's
                    // thread while this one is decoded here.
                    let (next, decoded) =
                        futures_util::future::join(sqlite_chunk(&mut conn, last, chunk), async {
                            decode()
                        })
                        .await;
                    decoded?;
                    current = next?;
                }
            }
            crate::Backend::Postgres => {
                let kept = self.reader.connections().ok_or(StorageError::Invalid(
                    "a PostgreSQL store keeps its connections",
                ))?;
                let mut lease = kept.lease().await.map_err(classify)?;
                let mut after = uuid::Uuid::nil();
                loop {
                    let mut in_page = 0;
                    let mut rows = sqlx::query(LOAD_POSTGRES_PAGE)
                        .bind(after)
                        .bind(chunk)
                        .fetch(lease.raw().map_err(classify)?);
                    while let Some(row) = rows.try_next().await.map_err(sqlx_error)? {
                        in_page += 1;
                        // The id is the page's key: read it first, so that a row that does
                        // not decode is still passed over (and named).
                        after = row.try_get(0).map_err(sqlx_error)?;
                        match decode_pg_row(&row) {
                            Ok(row) => {
                                each(row);
                                loaded.rows += 1;
                            }
                            Err(err) => loaded.skip(&after.to_string(), &err),
                        }
                    }
                    drop(rows);
                    if in_page < chunk.unsigned_abs() {
                        lease.keep();
                        return Ok(loaded);
                    }
                }
            }
        }
    }

    /// One model, shared or not, as the catalog would show it.
    pub async fn get_catalog_row(&self, id: ModelId) -> Result<Option<CatalogRow>, StorageError> {
        self.reader
            .query_one(&one_model_query(id))
            .await
            .map_err(classify)?
            .as_ref()
            .map(catalog_row)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use domain::ShareAction;

    use super::*;
    use crate::Transition;
    use crate::repo::testing::{model, store_with_project};

    /// Chunk boundaries: every shared model once, none of the others, whatever the chunk size.
    #[tokio::test]
    async fn loads_every_shared_model_once_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let (store, project) = store_with_project(&dir).await;
        let mut shared = BTreeSet::new();
        for i in 0..7 {
            let model = model(&store, &project, i).await;
            if i % 3 != 1 {
                store
                    .apply_transition(Transition {
                        model_id: model.id,
                        expected_version: model.version,
                        action: ShareAction::Share,
                        at: domain::now(),
                        actor_user_id: None,
                        api_key_id: None,
                        request_id: format!("r{i}"),
                        server_request_id: None,
                        guards: Vec::new(),
                    })
                    .await
                    .unwrap();
                shared.insert(model.id);
            }
        }
        assert_eq!(shared.len(), 5);
        for chunk in [1, 2, 4, 5, 100] {
            let mut rows = Vec::new();
            let loaded = store
                .load_catalog_in_chunks(chunk, |row| rows.push(row))
                .await
                .unwrap();
            assert_eq!(loaded.rows, 5, "chunk {chunk}");
            let ids: BTreeSet<ModelId> = rows.iter().map(|r| r.model.id).collect();
            assert_eq!(ids, shared, "chunk {chunk}");
            for row in rows {
                // Decoded exactly as the one-model query decodes it.
                let one = store.get_catalog_row(row.model.id).await.unwrap().unwrap();
                assert_eq!(row, one);
            }
        }
    }
}
