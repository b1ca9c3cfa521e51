//! The group-commit engine: lanes, grouping, answering. What one group writes is
//! [`commit_group`](super::sharing::commit_group).

use std::collections::{HashSet, VecDeque};
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use domain::ModelId;
use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

use super::sharing::{Written, answer, commit_group};
use crate::Backend;
use crate::connect::Deadlines;
use crate::deadline::Bounded;
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
/// spends a round trip, a commit and a flush per transition (on PostgreSQL). Instead a lane (a
/// task of its own) takes every transition queued while the previous commit was in flight and
/// writes them in one transaction: one flush for the lot. Each keeps its own compare-and-set (one that
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
///
/// No group waits forever: each is written under the store's deadlines, and one that misses
/// them is answered [`StorageError::Unavailable`] (its outcome unknown to the callers), its
/// connection discarded, so the lane goes on with new connections. A lane that is nevertheless
/// stuck on a group longer than `database.writer_stall_ms` makes the store unready
/// ([`crate::Store::check_ready`]).
#[derive(Clone)]
pub(crate) struct GroupCommit {
    lanes: Arc<[mpsc::UnboundedSender<Job>]>,
    /// The most transitions committed together so far.
    largest: Arc<AtomicUsize>,
    /// When each lane's group in flight started.
    in_flight: Arc<InFlight>,
}

/// Groups a PostgreSQL store commits at once.
const POSTGRES_LANES: usize = 2;

/// When each lane's group in flight started, for readiness: a lane stuck on a group is a
/// writer that answers nobody.
struct InFlight {
    epoch: Instant,
    /// Per lane, milliseconds from `epoch` to the start of its group in flight, plus one; 0
    /// when the lane is idle.
    started: Box<[AtomicU64]>,
    /// Milliseconds from `epoch` to the latest write that failed because the database was
    /// unavailable, plus one; 0 once a write has succeeded since.
    failed: AtomicU64,
}

impl InFlight {
    fn new(lanes: usize) -> Self {
        Self {
            epoch: Instant::now(),
            started: (0..lanes).map(|_| AtomicU64::new(0)).collect(),
            failed: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Marks `lane` busy until the guard is dropped.
    fn busy(&self, lane: usize) -> Busy<'_> {
        if let Some(started) = self.started.get(lane) {
            started.store(self.now(), Ordering::Relaxed);
        }
        Busy { clock: self, lane }
    }

    /// Records how a write ended: a success clears the failure an unavailable database left.
    fn record<T>(&self, result: &Result<T, StorageError>) {
        match result {
            Ok(_) => self.failed.store(0, Ordering::Relaxed),
            Err(err) if err.is_unavailable() => self.failed.store(self.now(), Ordering::Relaxed),
            Err(_) => {}
        }
    }

    /// How long ago the latest write failed for an unavailable database, if none succeeded since.
    fn failed_ago(&self) -> Option<Duration> {
        match self.failed.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(self.now().saturating_sub(at))),
        }
    }

    /// How long the oldest group in flight has been, if any is.
    fn oldest(&self) -> Option<Duration> {
        let now = self.now();
        self.started
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|s| *s != 0)
            .min()
            .map(|s| Duration::from_millis(now.saturating_sub(s)))
    }
}

struct Busy<'a> {
    clock: &'a InFlight,
    lane: usize,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Some(started) = self.clock.started.get(self.lane) {
            started.store(0, Ordering::Relaxed);
        }
    }
}

/// What one lane commits with.
struct Lane {
    index: usize,
    writer: Bounded,
    backend: Backend,
    deadlines: Deadlines,
    largest: Arc<AtomicUsize>,
    in_flight: Arc<InFlight>,
}

impl Lane {
    /// [`commit_group`], marked in flight while it runs.
    async fn commit(&self, group: &[&Transition]) -> Result<Vec<Option<Written>>, StorageError> {
        let busy = self.in_flight.busy(self.index);
        let result = commit_group(&self.writer, self.backend, self.deadlines, group).await;
        drop(busy);
        self.in_flight.record(&result);
        result
    }
}

impl GroupCommit {
    /// Starts the lanes on `writer`, each a task on the runtime that opens the store; a lane
    /// ends when every handle is dropped. Every group is written under `deadlines` (see
    /// [`commit_group`]).
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        writer: Bounded,
        backend: Backend,
        deadlines: Deadlines,
    ) -> Self {
        let lanes = lane_count(backend);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..lanes).map(|_| mpsc::unbounded_channel()).unzip();
        let largest = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(InFlight::new(lanes));
        for (index, jobs) in receivers.into_iter().enumerate() {
            let lane = Lane {
                index,
                writer: writer.clone(),
                backend,
                deadlines,
                largest: Arc::clone(&largest),
                in_flight: Arc::clone(&in_flight),
            };
            runtime.spawn(run_groups(lane, jobs));
        }
        Self {
            lanes: senders.into(),
            largest,
            in_flight,
        }
    }

    pub(crate) fn largest(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }

    /// How long the oldest group now in flight has been, if any is.
    pub(crate) fn oldest_in_flight(&self) -> Option<Duration> {
        self.in_flight.oldest()
    }

    /// How long ago the latest group failed because the database was unavailable (full disk,
    /// read-only, I/O error, no answer in time), if no group has succeeded since.
    pub(crate) fn failed_ago(&self) -> Option<Duration> {
        self.in_flight.failed_ago()
    }

    pub(crate) async fn submit(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        let stopped = || StorageError::Unavailable(DbErr::Custom("the writer has stopped".into()));
        let lane = lane_of(t.model_id, self.lanes.len());
        let (reply, answer) = oneshot::channel();
        let sender = self.lanes.get(lane).ok_or_else(stopped)?;
        sender.send((t, reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// How many lanes a store on `backend` commits through.
pub(crate) fn lane_count(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => POSTGRES_LANES,
    }
}

/// The lane of `model`'s transitions among `lanes`.
pub(crate) fn lane_of(model: ModelId, lanes: usize) -> usize {
    // The low bits of a model id are random (UUID v4 and v7 alike).
    let lanes = u128::try_from(lanes.max(1)).unwrap_or(1);
    usize::try_from(model.as_uuid().as_u128() % lanes).unwrap_or(0)
}

async fn run_groups(lane: Lane, mut jobs: mpsc::UnboundedReceiver<Job>) {
    // Transitions of a model already in the group, for the next one (oldest first).
    let mut held: VecDeque<Job> = VecDeque::new();
    while let Some(group) = next_group(&mut held, &mut jobs).await {
        commit_and_answer(&lane, group).await;
    }
}

/// The next group: the held transitions first, then whatever is queued, up to [`MAX_GROUP`],
/// at most one per model (a second one of a model is held for a later group). Waits for a
/// first transition; `None` once every handle is dropped and nothing is held.
async fn next_group(
    held: &mut VecDeque<Job>,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
) -> Option<Vec<Job>> {
    let mut waiting = std::mem::take(held);
    let first = match waiting.pop_front() {
        Some(job) => job,
        None => jobs.recv().await?,
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
    Some(group)
}

/// Commits `group` and answers each of its callers: what it wrote; or, when the group failed,
/// each alone again (an error reaches only its own transition), except when the database is
/// unavailable, which every caller hears at once.
async fn commit_and_answer(lane: &Lane, mut group: Vec<Job>) {
    let transitions: Vec<&Transition> = group.iter().map(|(t, _)| t).collect();
    let result = lane.commit(&transitions).await;
    drop(transitions);
    match result {
        Ok(written) => {
            lane.largest.fetch_max(written.len(), Ordering::Relaxed);
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
                let written = lane.commit(&[&t]).await;
                let _ = reply.send(written.and_then(|mut w| answer(t, w.pop().flatten())));
            }
        }
    }
}

impl crate::Store {
    /// How many group-commit lanes this store writes through.
    pub fn write_lanes(&self) -> usize {
        lane_count(self.backend)
    }

    /// The lane (below [`Self::write_lanes`]) that commits `model`'s transitions.
    pub fn write_lane(&self, model: ModelId) -> usize {
        lane_of(model, self.write_lanes())
    }
}
