//! Models as the platform's upload pipeline registers them.

use domain::{ModelId, ModelStatus, ModelText, ProjectId, Timestamp, now};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{commit, model_record, newest_first, to_dt};
use crate::Store;
use crate::entities::models;
use crate::error::{StorageError, Violation, classify, corrupt, violation};
use crate::records::{Model, NewModel, Page};

impl Store {
    /// Registers a model: version 0, not shared. Text over the caps ([`ModelText`]) is refused
    /// (`Invalid`), whatever path the model comes by.
    pub async fn create_model(&self, new: NewModel) -> Result<Model, StorageError> {
        ModelText {
            name: &new.name,
            description: &new.description,
            architecture: new.architecture.as_deref(),
            license: new.license.as_deref(),
            tags: &new.tags,
        }
        .check()
        .map_err(|err| StorageError::Invalid(err.rule()))?;
        let at = to_dt(now());
        let tags = serde_json::to_string(&new.tags).map_err(corrupt)?;
        let row = models::Model {
            id: new.id.as_uuid(),
            project_id: new.project_id.as_str().to_owned(),
            name: new.name,
            description: new.description,
            status: new.status.as_str().to_owned(),
            architecture: new.architecture,
            parameter_count: new.parameter_count,
            context_length: new.context_length,
            license: new.license,
            tags,
            shared: false,
            shared_at: None,
            unshared_at: None,
            version: 0,
            created_at: at,
            updated_at: at,
        };
        models::Entity::insert(models::ActiveModel {
            id: Set(row.id),
            project_id: Set(row.project_id.clone()),
            name: Set(row.name.clone()),
            description: Set(row.description.clone()),
            status: Set(row.status.clone()),
            architecture: Set(row.architecture.clone()),
            parameter_count: Set(row.parameter_count),
            context_length: Set(row.context_length),
            license: Set(row.license.clone()),
            tags: Set(row.tags.clone()),
            shared: Set(false),
            shared_at: Set(None),
            unshared_at: Set(None),
            version: Set(0),
            created_at: Set(at),
            updated_at: Set(at),
        })
        .exec_without_returning(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::Unique(_)) => StorageError::Conflict("model id"),
            Some(Violation::ForeignKey(_)) => StorageError::NotFound("project"),
            None => classify(e),
        })?;
        model_record(row)
    }

    /// Sets the pipeline status; bumps `version` and `updated_at`.
    pub async fn set_model_status(
        &self,
        id: ModelId,
        status: ModelStatus,
    ) -> Result<Model, StorageError> {
        let tx = self.write_tx().await?;
        let result = models::Entity::update_many()
            .col_expr(models::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                models::Column::Version,
                Expr::col(models::Column::Version).add(1),
            )
            .col_expr(models::Column::UpdatedAt, Expr::value(to_dt(now())))
            .filter(models::Column::Id.eq(id.as_uuid()))
            .exec(&tx)
            .await
            .map_err(classify)?;
        if result.rows_affected == 0 {
            return Err(StorageError::NotFound("model"));
        }
        let row = models::Entity::find_by_id(id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("model"))?;
        commit(tx).await?;
        model_record(row)
    }

    pub async fn get_model(&self, id: ModelId) -> Result<Option<Model>, StorageError> {
        models::Entity::find_by_id(id.as_uuid())
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(model_record)
            .transpose()
    }

    /// The project's models, newest first (`created_at DESC, id DESC`), after the keyset cursor.
    pub async fn list_project_models(
        &self,
        project_id: &ProjectId,
        after: Option<(Timestamp, ModelId)>,
        limit: u64,
    ) -> Result<Page<Model>, StorageError> {
        let query =
            models::Entity::find().filter(models::Column::ProjectId.eq(project_id.as_str()));
        let query = newest_first(
            query,
            models::Column::CreatedAt,
            models::Column::Id,
            after.map(|(at, id)| (at, id.as_uuid())),
        );
        self.read_page(query, limit, model_record).await
    }
}
