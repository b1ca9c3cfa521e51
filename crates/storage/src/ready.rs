//! Readiness: whether this instance can take requests now, reads and writes alike.

use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::Store;
use crate::error::{StorageError, classify};

/// The readiness write: one row, bumped on every check (written whether or not it exists yet).
const HEARTBEAT: &str = "INSERT INTO writer_heartbeat (id, beats) VALUES (1, 1) \
ON CONFLICT (id) DO UPDATE SET beats = writer_heartbeat.beats + 1";

impl Store {
    /// `Ok` when this instance can serve: no group commit has been in flight longer than
    /// [`DbSettings::writer_stall`](crate::DbSettings::writer_stall), nor failed for an
    /// unavailable database within that time with no success since, a reader answers, and a
    /// real write commits through the writer (the `writer_heartbeat` row). So a writer that is
    /// stuck, out of disk space, on a read-only database or failing I/O makes the instance
    /// unready. (The last-failure rule is needed because a small write can still fit where a
    /// larger one failed: SQLite reuses the log space a failed transaction took.) Every
    /// statement runs under the store's deadlines; anything else is
    /// [`StorageError::Unavailable`].
    pub async fn check_ready(&self) -> Result<(), StorageError> {
        let stall = self.deadlines.writer_stall;
        if let Some(age) = self.group_commit.oldest_in_flight()
            && age > stall
        {
            return Err(StorageError::Unavailable(DbErr::Custom(format!(
                "a group commit has been in flight for {} ms",
                age.as_millis()
            ))));
        }
        if let Some(ago) = self.group_commit.failed_ago()
            && ago < stall
        {
            return Err(StorageError::Unavailable(DbErr::Custom(format!(
                "the latest group commit failed {} ms ago",
                ago.as_millis()
            ))));
        }
        // Through the store's own handles, each statement under their deadline (on PostgreSQL,
        // on the connections every request uses).
        let backend = self.writer.get_database_backend();
        for (db, sql) in [(&self.reader, "SELECT 1"), (&self.writer, HEARTBEAT)] {
            db.query_all_raw(Statement::from_string(backend, sql))
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use domain::ShareAction;
    use sea_orm::ConnectionTrait;

    use crate::records::{Transition, TransitionOutcome};
    use crate::repo::testing::{model, store_with_project};

    fn share(m: &crate::Model, request_id: &str) -> Transition {
        Transition {
            model_id: m.id,
            expected_version: m.version,
            action: ShareAction::Share,
            at: domain::now(),
            actor_user_id: None,
            api_key_id: None,
            request_id: request_id.into(),
            server_request_id: None,
            schedule_id: None,
            guards: Vec::new(),
        }
    }

    /// A writer that may not write (`PRAGMA query_only`: SQLite answers `SQLITE_READONLY`, as for
    /// a read-only file) makes transitions unavailable, not failed, and the store unready; the
    /// failed writer connection is replaced, so the next transition commits and the store is
    /// ready again.
    #[tokio::test]
    async fn a_read_only_writer_is_unavailable_and_unready_until_a_write_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (store, project) = store_with_project(&dir).await;
        let m = model(&store, &project, 1).await;
        store.check_ready().await.unwrap();
        store
            .writer
            .execute_unprepared("PRAGMA query_only = 1")
            .await
            .unwrap();
        let err = store.apply_transition(share(&m, "read-only")).await;
        assert!(err.as_ref().is_err_and(|e| e.is_unavailable()), "{err:?}");
        let err = store.check_ready().await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(!store.get_model(m.id).await.unwrap().unwrap().shared);

        let applied = store.apply_transition(share(&m, "again")).await.unwrap();
        assert!(matches!(applied, TransitionOutcome::Applied { .. }));
        store.check_ready().await.unwrap();
    }
}
