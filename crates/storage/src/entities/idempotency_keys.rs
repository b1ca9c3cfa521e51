use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub api_key_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Hex SHA-256 of the request's method, path and body.
    pub fingerprint: String,
    /// Until when the request that claimed the key may still be running.
    pub locked_until: DateTimeUtc,
    /// Null while the request runs.
    pub response_status: Option<i32>,
    /// The response's headers, a JSON array of `[name, value]` pairs.
    pub response_headers: Option<String>,
    #[sea_orm(column_type = "Blob")]
    pub response_body: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
