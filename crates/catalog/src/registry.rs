//! Lazily created model actors, handed out as leases, dropped when idle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::Addr;
use domain::ModelId;

use crate::model_actor::ModelActor;

struct Entry {
    addr: Addr<ModelActor>,
    leases: usize,
    last_used: Instant,
}

/// Model id → that model's one actor.
pub(crate) struct Registry {
    entries: Mutex<HashMap<ModelId, Entry>>,
    idle_timeout: Duration,
}

/// The right to send to a model's actor; while any lease is out the actor stays registered.
pub(crate) struct Lease {
    registry: Arc<Registry>,
    id: ModelId,
    pub(crate) addr: Addr<ModelActor>,
}

impl Registry {
    pub(crate) fn new(idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::new(HashMap::new()),
            idle_timeout,
        })
    }

    /// The model's actor, started by `start` if there is none (or the old one has stopped).
    pub(crate) fn lease(
        self: &Arc<Self>,
        id: ModelId,
        start: impl Fn() -> Addr<ModelActor>,
    ) -> Lease {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(id).or_insert_with(|| Entry {
            addr: start(),
            leases: 0,
            last_used: Instant::now(),
        });
        // An actor whose arbiter has stopped cannot answer; replace it.
        if !entry.addr.connected() && entry.leases == 0 {
            entry.addr = start();
        }
        entry.leases += 1;
        entry.last_used = Instant::now();
        Lease {
            registry: Arc::clone(self),
            id,
            addr: entry.addr.clone(),
        }
    }

    /// Forgets actors with no lease out and no use for `idle_timeout`; actix then stops them.
    /// Returns how many were live before the sweep and how many are left.
    pub(crate) fn sweep(&self) -> (usize, usize) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let before = entries.len();
        let idle = self.idle_timeout;
        entries.retain(|_, e| e.leases > 0 || e.last_used.elapsed() < idle);
        // A burst over many models leaves a table sized for the burst; give it back once most
        // of it is empty, so memory returns to what the live actors need.
        if entries.capacity() > 4 * entries.len().max(256) {
            entries.shrink_to_fit();
        }
        (before, entries.len())
    }

    #[cfg(feature = "test-support")]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut entries = self
            .registry
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&self.id) {
            entry.leases = entry.leases.saturating_sub(1);
            entry.last_used = Instant::now();
        }
    }
}
