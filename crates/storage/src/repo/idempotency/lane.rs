//! SQLite's lane for idempotency keys: every claim, completion and release waiting at a moment
//! is committed in one transaction on the writer, so a burst of keyed requests costs a few
//! fsyncs rather than two each. Ops run in arrival order inside the transaction, so two claims
//! of one key in one batch see each other as they would one after the other.

use std::error::Error as _;

use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

use super::{Claimed, Op};
use crate::deadline::Bounded;
use crate::error::StorageError;
use crate::repo::{commit, write_tx_on};

/// Most ops in one transaction.
const MAX_BATCH: usize = 256;

type Answer = oneshot::Sender<Result<Option<Claimed>, StorageError>>;

/// The handle: ops go in, each caller hears its own answer.
#[derive(Clone)]
pub(crate) struct IdempotencyLane {
    jobs: mpsc::UnboundedSender<(Op, Answer)>,
}

impl IdempotencyLane {
    /// Starts the lane as a task on `runtime`; it ends when every handle is dropped.
    pub(crate) fn start(runtime: &tokio::runtime::Handle, writer: Bounded) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        runtime.spawn(run(writer, queue));
        Self { jobs }
    }

    /// Runs `op` in the next batch.
    pub(crate) async fn submit(&self, op: Op) -> Result<Option<Claimed>, StorageError> {
        let (answer, heard) = oneshot::channel();
        self.jobs.send((op, answer)).map_err(|_| stopped())?;
        heard.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StorageError {
    StorageError::Unavailable(DbErr::Custom("the idempotency lane stopped".to_owned()))
}

async fn run(writer: Bounded, mut queue: mpsc::UnboundedReceiver<(Op, Answer)>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_and_answer(&writer, batch).await;
    }
}

/// Commits `batch` and answers each caller; when the batch fails, each op alone again (an
/// error reaches only its own caller), except when the database is unavailable, which every
/// caller hears at once.
async fn commit_and_answer(writer: &Bounded, batch: Vec<(Op, Answer)>) {
    let ops: Vec<&Op> = batch.iter().map(|(op, _)| op).collect();
    match commit_batch(writer, &ops).await {
        Ok(results) => {
            for ((_, answer), result) in batch.into_iter().zip(results) {
                // A caller that went away has nothing to hear; the write stands.
                let _ = answer.send(Ok(result));
            }
        }
        Err(err) if err.is_unavailable() || batch.len() == 1 => {
            let source = err
                .source()
                .map_or_else(|| err.to_string(), ToString::to_string);
            let mut err = Some(err);
            for (_, answer) in batch {
                let err = err
                    .take()
                    .unwrap_or_else(|| StorageError::Unavailable(DbErr::Custom(source.clone())));
                let _ = answer.send(Err(err));
            }
        }
        Err(err) => {
            tracing::debug!(error = %err, size = batch.len(), "idempotency batch failed; one by one");
            for (op, answer) in batch {
                let result = commit_batch(writer, &[&op]).await;
                let _ = answer.send(result.map(|mut r| r.pop().flatten()));
            }
        }
    }
}

/// Runs `ops` in order in one write transaction and commits it.
async fn commit_batch(writer: &Bounded, ops: &[&Op]) -> Result<Vec<Option<Claimed>>, StorageError> {
    let tx = write_tx_on(writer).await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match op.apply(&tx).await {
            Ok(result) => results.push(result),
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::debug!(error = %rollback, "rollback after a failed idempotency op");
                }
                return Err(err);
            }
        }
    }
    commit(tx).await?;
    Ok(results)
}
