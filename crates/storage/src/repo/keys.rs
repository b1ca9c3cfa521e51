//! API keys and the per-request key lookup.

use domain::{ApiKeyId, Timestamp, UserId, now};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
};

use super::accounts::role_of;
use super::standing::{StandingChange, record_standing};
use super::{account_record, commit, project_id, project_record, select_prefixed, to_dt, to_ts};
use crate::Store;
use crate::entities::{account_features, accounts, api_keys, memberships, projects};
use crate::error::{StorageError, Violation, classify, corrupt, violation};
use crate::records::{ApiKeyRecord, KeyLookup, NewApiKey};

fn key_record(row: api_keys::Model) -> Result<ApiKeyRecord, StorageError> {
    let hash: [u8; 32] = row
        .key_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt(format!("stored hash of api key {} is not 32 bytes", row.id)))?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_uuid(row.id),
        project_id: project_id(&row.project_id)?,
        user_id: UserId::from_uuid(row.user_id),
        hash,
        display_prefix: row.display_prefix,
        created_at: to_ts(row.created_at),
        expires_at: row.expires_at.map(to_ts),
        revoked_at: row.revoked_at.map(to_ts),
        last_used_at: row.last_used_at.map(to_ts),
    })
}

impl Store {
    pub async fn insert_api_key(&self, new: NewApiKey) -> Result<ApiKeyRecord, StorageError> {
        let row = api_keys::Model {
            id: new.id.as_uuid(),
            project_id: new.project_id.as_str().to_owned(),
            user_id: new.user_id.as_uuid(),
            key_hash: new.hash.to_vec(),
            display_prefix: new.display_prefix,
            created_at: to_dt(now()),
            expires_at: new.expires_at.map(to_dt),
            revoked_at: None,
            last_used_at: None,
        };
        let result = api_keys::Entity::insert(api_keys::ActiveModel {
            id: Set(row.id),
            project_id: Set(row.project_id.clone()),
            user_id: Set(row.user_id),
            key_hash: Set(row.key_hash.clone()),
            display_prefix: Set(row.display_prefix.clone()),
            created_at: Set(row.created_at),
            expires_at: Set(row.expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
        })
        .exec_without_returning(&self.writer)
        .await;
        if let Err(e) = result {
            return Err(match violation(&e) {
                Some(Violation::Unique(_)) => StorageError::Conflict("api key"),
                Some(Violation::ForeignKey(_)) => {
                    // SQLite does not say which reference failed: look.
                    let project = projects::Entity::find_by_id(row.project_id.clone())
                        .one(&self.reader)
                        .await
                        .map_err(classify)?;
                    if project.is_none() {
                        StorageError::NotFound("project")
                    } else {
                        StorageError::NotFound("user")
                    }
                }
                None => classify(e),
            });
        }
        key_record(row)
    }

    /// Marks the key revoked now; revoking again keeps the first time. Key caches are told
    /// (see `standing`): here before this returns, elsewhere through the standing outbox.
    pub async fn revoke_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StorageError> {
        let tx = self.write_tx().await?;
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::RevokedAt, Expr::value(to_dt(now())))
            .filter(api_keys::Column::Id.eq(id.as_uuid()))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(&tx)
            .await
            .map_err(classify)?;
        let row = api_keys::Entity::find_by_id(id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("api key"))?;
        let change = StandingChange::Key(id);
        record_standing(&tx, &change).await?;
        commit(tx).await?;
        self.standing_changed(&change);
        key_record(row)
    }

    /// Everything authentication needs about the key with this hash, in one query: the key
    /// joined with its project, account, the owner's membership and the account's features (one
    /// row per feature; one row with no feature when the account has none).
    /// Revoked and expired keys are returned too; the caller decides.
    pub async fn find_key_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<KeyLookup>, StorageError> {
        let select = key_lookup_query(hash);
        // The hash is unique: every row is the same key, one per feature of its account.
        let rows = self.reader.query_all(&select).await.map_err(classify)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let key = api_keys::Model::from_query_result(row, "k_").map_err(classify)?;
        let project = projects::Model::from_query_result(row, "p_").map_err(classify)?;
        let account = accounts::Model::from_query_result(row, "a_").map_err(classify)?;
        let role: Option<String> = row.try_get("", "m_role").map_err(classify)?;
        let mut features = Vec::with_capacity(rows.len());
        for r in &rows {
            let feature: Option<String> = r.try_get("", "f_feature").map_err(classify)?;
            if let Some(feature) = feature {
                features.push(account_features::Model {
                    account_id: account.id,
                    feature,
                });
            }
        }
        Ok(Some(KeyLookup {
            key: key_record(key)?,
            project: project_record(project)?,
            account: account_record(account, features),
            role: role.as_deref().map(role_of).transpose()?,
        }))
    }

    /// Records that the key was used at `at` (never moves `last_used_at` backwards).
    pub async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StorageError> {
        let touch = api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(to_dt(at)))
            .filter(api_keys::Column::Id.eq(id.as_uuid()))
            .filter(
                Condition::any()
                    .add(api_keys::Column::LastUsedAt.is_null())
                    .add(api_keys::Column::LastUsedAt.lt(to_dt(at))),
            )
            .exec(&self.writer);
        touch.await.map_err(classify)?;
        Ok(())
    }
}

/// The key with this hash joined with its project, its account, the owner's membership (left)
/// and the account's features (left: one row per feature), each table's columns prefixed
/// (`k_`, `p_`, `a_`, `m_role`, `f_feature`).
fn key_lookup_query(hash: &[u8; 32]) -> SelectStatement {
    let mut select = Query::select();
    select_prefixed::<api_keys::Entity>(&mut select, "api_keys", "k_");
    select_prefixed::<projects::Entity>(&mut select, "projects", "p_");
    select_prefixed::<accounts::Entity>(&mut select, "accounts", "a_");
    select
        .expr_as(
            Expr::col((memberships::Entity, memberships::Column::Role)),
            Alias::new("m_role"),
        )
        .from(api_keys::Entity)
        .join(
            JoinType::InnerJoin,
            projects::Entity,
            Expr::col((projects::Entity, projects::Column::Id))
                .equals((api_keys::Entity, api_keys::Column::ProjectId)),
        )
        .join(
            JoinType::InnerJoin,
            accounts::Entity,
            Expr::col((accounts::Entity, accounts::Column::Id))
                .equals((projects::Entity, projects::Column::AccountId)),
        )
        .join(
            JoinType::LeftJoin,
            memberships::Entity,
            Condition::all()
                .add(
                    Expr::col((memberships::Entity, memberships::Column::ProjectId))
                        .equals((api_keys::Entity, api_keys::Column::ProjectId)),
                )
                .add(
                    Expr::col((memberships::Entity, memberships::Column::UserId))
                        .equals((api_keys::Entity, api_keys::Column::UserId)),
                ),
        )
        .expr_as(
            Expr::col((account_features::Entity, account_features::Column::Feature)),
            Alias::new("f_feature"),
        )
        .join(
            JoinType::LeftJoin,
            account_features::Entity,
            Expr::col((
                account_features::Entity,
                account_features::Column::AccountId,
            ))
            .equals((accounts::Entity, accounts::Column::Id)),
        )
        .and_where(Expr::col((api_keys::Entity, api_keys::Column::KeyHash)).eq(hash.to_vec()));
    select
}
