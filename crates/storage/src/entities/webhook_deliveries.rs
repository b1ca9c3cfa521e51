use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub project_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The body sent, the same bytes on every attempt.
    pub payload: String,
    pub fanout_key: String,
    pub attempt: i32,
    pub status: String,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: Option<DateTimeUtc>,
    pub next_attempt_at: DateTimeUtc,
    pub claim_token: Option<Uuid>,
    pub claimed_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
