//! The public catalog: shared models with their owner's name and endpoint count.

use domain::ModelId;
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, FromQueryResult, QueryResult};

use super::{model_record, select_prefixed};
use crate::Store;
use crate::entities::{endpoints, models, projects};
use crate::error::{StorageError, classify};
use crate::records::CatalogRow;

enum Scope {
    AllShared,
    /// Shared models with an id above the given one (all when `None`), by id, at most `LOAD_PAGE`.
    SharedAfter(Option<uuid::Uuid>),
    One(ModelId),
}

/// Rows per statement when loading the whole catalog on PostgreSQL: keyset pages by id keep every statement
/// short (well under PostgreSQL's `statement_timeout` with a million shared models) and the
/// decoded rows of one page at a time in memory.
const LOAD_PAGE: u64 = 20_000;

/// `models ⋈ projects ⟕ (endpoint counts per model)`: one query, no N+1. The counts are
/// aggregated once in a derived table (restricted to the one model for a single row).
fn catalog_query(scope: &Scope) -> SelectStatement {
    let mut counts = Query::select();
    counts
        .column(endpoints::Column::ModelId)
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(endpoints::Entity)
        .group_by_col(endpoints::Column::ModelId);
    if let Scope::One(id) = scope {
        counts.and_where(Expr::col(endpoints::Column::ModelId).eq(id.as_uuid()));
    }

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
    match scope {
        Scope::AllShared => {
            select.and_where(Expr::col((models::Entity, models::Column::Shared)).eq(true));
        }
        Scope::SharedAfter(after) => {
            select.and_where(Expr::col((models::Entity, models::Column::Shared)).eq(true));
            if let Some(after) = after {
                select.and_where(Expr::col((models::Entity, models::Column::Id)).gt(*after));
            }
            select
                .order_by((models::Entity, models::Column::Id), Order::Asc)
                .limit(LOAD_PAGE);
        }
        Scope::One(id) => {
            select.and_where(Expr::col((models::Entity, models::Column::Id)).eq(id.as_uuid()));
        }
    }
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

impl Store {
    /// Every shared model, in no particular order.
    pub async fn list_catalog(&self) -> Result<Vec<CatalogRow>, StorageError> {
        if self.backend == crate::Backend::Sqlite {
            // No statement timeout on SQLite, and keyset pages there would each scan and sort
            // the shared models (the planner picks the `shared` index): one statement.
            return self
                .reader
                .query_all(&catalog_query(&Scope::AllShared))
                .await
                .map_err(classify)?
                .iter()
                .map(catalog_row)
                .collect();
        }
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .reader
                .query_all(&catalog_query(&Scope::SharedAfter(after)))
                .await
                .map_err(classify)?;
            for row in &page {
                rows.push(catalog_row(row)?);
            }
            match rows.last() {
                Some(last) if page.len() as u64 == LOAD_PAGE => {
                    after = Some(last.model.id.as_uuid());
                }
                _ => return Ok(rows),
            }
        }
    }

    /// One model, shared or not, as the catalog would show it.
    pub async fn get_catalog_row(&self, id: ModelId) -> Result<Option<CatalogRow>, StorageError> {
        self.reader
            .query_one(&catalog_query(&Scope::One(id)))
            .await
            .map_err(classify)?
            .as_ref()
            .map(catalog_row)
            .transpose()
    }
}
