//! The database's identity: one row holding a random token, made when the schema is. A saved
//! catalog index (the start-up checkpoint) names the database it was taken from by it, so a
//! restart never trusts one taken from another database, or from one made anew at the same
//! path. A copy of the database (a backup) keeps the token: the checkpoint's outbox position
//! then tells it apart.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE database_identity (id integer PRIMARY KEY, token text NOT NULL)",
        )
        .await?;
        let token = match manager.get_database_backend() {
            DbBackend::Postgres => "md5(random()::text || clock_timestamp()::text)",
            _ => "lower(hex(randomblob(16)))",
        };
        db.execute_unprepared(&format!(
            "INSERT INTO database_identity (id, token) VALUES (1, {token})"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("database_identity"))
                    .to_owned(),
            )
            .await
    }
}
