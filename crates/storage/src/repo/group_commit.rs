//! The group-commit engine: lanes, grouping, answering. What one group writes is
//! [`commit_group`](super::sharing::commit_group).

use std::collections::{HashSet, VecDeque};
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};

use super::sharing::{answer, commit_group};
use crate::Backend;
use crate::error::StorageError;
use crate::records::{Transition, TransitionOutcome};

/// Most transitions one group commit takes.
const MAX_GROUP: usize = 256;

type Job = (
    Transition,
    oneshot::Sender<Result<TransitionOutcome, StorageError>>,
);

/// Group commit of transitions. Every transition must be durable before it is answered, and
/// each commit waits for a disk flush, so one transaction per transition makes each wait for
/// the flushes of all queued before it (on SQLite, where one writer commits at a time) or
/// spends a round trip, a commit and a flush per transition (on PostgreSQL). Instead a thread
/// of its own takes every transition queued while the previous commit was in flight and writes
/// them in one transaction: one flush for the lot. Each keeps its own compare-and-set (one that
/// finds its model changed writes nothing and is answered [`TransitionOutcome::Stale`]); if
/// anything else fails, the group is rolled back and each transition is retried alone, so an
/// error reaches only the transition it belongs to; only when the database is unavailable does
/// the whole group get that answer at once. Nothing is answered before its commit.
///
/// The transitions are split over lanes by model, each lane committing one group at a time, so
/// a model's transitions are committed in the order they were submitted: a group names a
/// model at most once, and a second transition of the same model waits for the lane's next
/// group. SQLite has one lane (its one writer connection commits one transaction at a time);
/// PostgreSQL has [`POSTGRES_LANES`], so that a commit waiting on a slow disk flush does not
/// hold up every other transition.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    lanes: Arc<[mpsc::UnboundedSender<Job>]>,
    /// The most transitions committed together so far.
    largest: Arc<AtomicUsize>,
}

/// Groups a PostgreSQL store commits at once.
const POSTGRES_LANES: usize = 2;

impl GroupCommit {
    /// Starts the committing thread on `writer`; it ends when every handle is dropped.
    pub(crate) fn start(
        writer: DatabaseConnection,
        backend: Backend,
    ) -> Result<Self, StorageError> {
        let lanes = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_LANES,
        };
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..lanes).map(|_| mpsc::unbounded_channel()).unzip();
        let largest = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&largest);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StorageError::Unavailable(DbErr::Custom(e.to_string())))?;
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut lanes = tokio::task::JoinSet::new();
                    for jobs in receivers {
                        lanes.spawn(run_groups(writer.clone(), backend, jobs, Arc::clone(&seen)));
                    }
                    while lanes.join_next().await.is_some() {}
                });
            })
            .map_err(|e| StorageError::Unavailable(DbErr::Custom(e.to_string())))?;
        Ok(Self {
            lanes: senders.into(),
            largest,
        })
    }

    pub(crate) fn largest(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }

    pub(crate) async fn submit(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        let stopped = || StorageError::Unavailable(DbErr::Custom("the writer has stopped".into()));
        // The low bits of a model id are random (UUID v4 and v7 alike).
        let lane = (t.model_id.as_uuid().as_u128() % self.lanes.len() as u128) as usize;
        let (reply, answer) = oneshot::channel();
        self.lanes[lane].send((t, reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run_groups(
    writer: DatabaseConnection,
    backend: Backend,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    largest: Arc<AtomicUsize>,
) {
    // Transitions of a model already in the group, for the next one (oldest first).
    let mut held: VecDeque<Job> = VecDeque::new();
    loop {
        let mut waiting = std::mem::take(&mut held);
        let first = match waiting.pop_front() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut in_group = HashSet::from([first.0.model_id]);
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            let job = match waiting.pop_front() {
                Some(job) => job,
                None => match jobs.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            if in_group.insert(job.0.model_id) {
                group.push(job);
            } else {
                held.push_back(job);
            }
        }
        held.extend(waiting);
        let transitions: Vec<&Transition> = group.iter().map(|(t, _)| t).collect();
        let result = commit_group(&writer, backend, &transitions).await;
        drop(transitions);
        match result {
            Ok(written) => {
                largest.fetch_max(written.len(), Ordering::Relaxed);
                for ((t, reply), written) in group.into_iter().zip(written) {
                    // A caller that went away has nothing to hear; its write stands.
                    let _ = reply.send(answer(t, written));
                }
            }
            Err(err) if group.len() == 1 => {
                if let Some((_, reply)) = group.pop() {
                    let _ = reply.send(Err(err));
                }
            }
            Err(err) if err.is_unavailable() => {
                // The database is out of reach: alone, each would wait for it again in turn.
                let source = err
                    .source()
                    .map_or_else(|| err.to_string(), ToString::to_string);
                for (_, reply) in group {
                    let err = StorageError::Unavailable(DbErr::Custom(source.clone()));
                    let _ = reply.send(Err(err));
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, size = group.len(), "group commit failed; one by one");
                for (t, reply) in group {
                    let written = commit_group(&writer, backend, &[&t]).await;
                    let _ = reply.send(written.and_then(|mut w| answer(t, w.pop().flatten())));
                }
            }
        }
    }
}
