//! Keys already looked up, so that a request costs no database read; and how every instance's
//! cache learns that what it holds changed.
//!
//! An entry is what one key lookup read (key, project, account and its features, the owner's
//! role). It is forgotten:
//!
//! * when a standing change concerns it (the key revoked, its owner's membership of its project
//!   given, changed or taken away, its account's features switched). In the process that made
//!   the change, before the call that made it returns ([`storage::Store::on_standing_change`]);
//!   in every other instance, when its [`follow`] task reads the change from the standing
//!   outbox: at once on a `NOTIFY` (PostgreSQL) or a change of the file (SQLite), at the latest
//!   after [`POLL`];
//! * after `ttl`, whatever happens (belt and braces);
//! * at `capacity`, some other entry makes room;
//! * all of them, while the follower cannot read the outbox: nothing is kept until it can.
//!   A cache with no follower keeps nothing.
//!
//! A lookup that began before a change and ends after it must not put the old state back: each
//! forgetting moves an epoch on, and a lookup only fills the cache if the epoch it started in is
//! still current. Expiry is checked at every use, so an expired key is refused even when cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use domain::Timestamp;
use storage::{KeyLookup, OutboxCursor, StandingChange, StandingEvent, StorageError, Store};

/// How often a follower reads the outbox when nothing woke it.
const POLL: Duration = Duration::from_secs(1);
/// Standing events read per query.
const BATCH: u64 = 1000;

/// The cache's limits (`[auth]`).
#[derive(Debug, Clone, Copy)]
pub struct KeyCacheSettings {
    /// Most keys held; 0 turns the cache off (every request reads the database).
    pub capacity: usize,
    /// How long an entry is used before it is read again.
    pub ttl: Duration,
}

struct Entry {
    lookup: Arc<KeyLookup>,
    fetched: Instant,
    /// When this instance last recorded the key's use (or the stored time when read).
    last_used: Option<Timestamp>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<[u8; 32], Entry>,
    /// Moves on each time anything is forgotten for a standing change.
    epoch: u64,
    /// Whether a follower is reading the standing outbox now; until then (and while it cannot
    /// read) nothing is kept, since a change made elsewhere would go unnoticed.
    following: bool,
}

/// What a lookup found in the cache.
pub(crate) struct Cached {
    pub(crate) lookup: Arc<KeyLookup>,
    pub(crate) last_used: Option<Timestamp>,
}

/// The cache of looked-up keys, shared by every worker of an instance.
pub struct KeyCache {
    inner: Mutex<Inner>,
    settings: KeyCacheSettings,
}

impl KeyCache {
    pub fn new(settings: KeyCacheSettings) -> Self {
        Self {
            inner: Mutex::default(),
            settings,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `hash`, unless there is none or it is older than the TTL.
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<Cached> {
        if self.settings.capacity == 0 {
            return None;
        }
        let mut inner = self.lock();
        let entry = inner.entries.get(hash)?;
        if entry.fetched.elapsed() >= self.settings.ttl {
            inner.entries.remove(hash);
            return None;
        }
        Some(Cached {
            lookup: Arc::clone(&entry.lookup),
            last_used: entry.last_used,
        })
    }

    /// The epoch a lookup starts in; pass it to [`KeyCache::insert`].
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps what a lookup that started in `epoch` read, unless something was forgotten since.
    pub(crate) fn insert(&self, hash: [u8; 32], lookup: Arc<KeyLookup>, epoch: u64) {
        if self.settings.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.epoch != epoch || !inner.following {
            return;
        }
        if inner.entries.len() >= self.settings.capacity
            && !inner.entries.contains_key(&hash)
            && let Some(other) = inner.entries.keys().next().copied()
        {
            inner.entries.remove(&other);
        }
        let last_used = lookup.key.last_used_at;
        inner.entries.insert(
            hash,
            Entry {
                lookup,
                fetched: Instant::now(),
                last_used,
            },
        );
    }

    /// This instance recorded the key's use at `at`.
    pub(crate) fn touched(&self, hash: &[u8; 32], at: Timestamp) {
        if let Some(entry) = self.lock().entries.get_mut(hash) {
            entry.last_used = Some(at);
        }
    }

    /// Forgets every entry `change` may concern.
    pub fn forget(&self, change: &StandingChange) {
        self.forget_all(std::slice::from_ref(change));
    }

    /// Forgets every entry any of `changes` may concern, in one pass over the entries.
    fn forget_all(&self, changes: &[StandingChange]) {
        if changes.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner
            .entries
            .retain(|_, entry| !changes.iter().any(|c| concerns(c, &entry.lookup)));
    }

    /// Forgets everything and starts keeping entries.
    fn follow_from_scratch(&self) {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.entries.clear();
        inner.following = true;
    }

    /// Keeps entries again, or forgets everything and keeps none.
    fn set_following(&self, following: bool) {
        let mut inner = self.lock();
        if inner.following == following {
            return;
        }
        inner.following = following;
        if !following {
            inner.epoch = inner.epoch.wrapping_add(1);
            inner.entries.clear();
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `change` may alter what `lookup` says.
fn concerns(change: &StandingChange, lookup: &KeyLookup) -> bool {
    match change {
        StandingChange::Key(id) => lookup.key.id == *id,
        StandingChange::Membership {
            project_id,
            user_id,
        } => lookup.key.project_id == *project_id && lookup.key.user_id == *user_id,
        StandingChange::Account(id) => lookup.project.account_id == *id,
    }
}

/// Where a follower stands in the standing outbox (the catalog tail's scheme, see `catalog`'s
/// `tail` module): the newest id read, and on PostgreSQL the last final event read.
struct Position {
    newest: i64,
    final_cursor: Option<OutboxCursor>,
}

/// Reads the standing outbox and forgets what each change concerns, until the task is dropped.
/// Starts at the newest event: the cache is empty, so nothing earlier concerns it (events of
/// transactions still running are read by the final read once they end).
pub async fn follow(store: Store, cache: Arc<KeyCache>) {
    let mut wake_ups = Some(store.standing_wake_ups());
    let mut position = loop {
        match start(&store).await {
            Ok(position) => break position,
            Err(err) => {
                tracing::debug!(error = %err, "standing outbox not readable now; retrying");
                tokio::time::sleep(POLL).await;
            }
        }
    };
    // Whatever a request read before the position was taken may predate a change the reads
    // will not meet: start from nothing.
    cache.follow_from_scratch();
    loop {
        tokio::select! {
            woken = async {
                match wake_ups.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if woken.is_none() {
                    // Nothing wakes this follower any more (its store's runtime stopped): poll.
                    wake_ups = None;
                }
            }
            () = tokio::time::sleep(POLL) => {}
        }
        match catch_up(&store, &cache, &mut position).await {
            Ok(()) => cache.set_following(true),
            Err(err) => {
                // A change may be committed and not read: keep nothing until reads work again.
                tracing::debug!(error = %err, "standing outbox not readable now; not caching keys");
                cache.set_following(false);
            }
        }
    }
}

async fn start(store: &Store) -> Result<Position, StorageError> {
    // The horizon first: a transaction that commits between the two reads is below `newest` but
    // not below the horizon, so the final read meets it.
    let horizon = store.outbox_horizon().await?;
    let newest = store.standing_newest_id().await?;
    Ok(Position {
        newest,
        final_cursor: horizon.map(OutboxCursor::before_tx),
    })
}

/// Applies every standing event not read yet. Forgetting twice is harmless, so an event read
/// by both reads needs no bookkeeping.
async fn catch_up(
    store: &Store,
    cache: &KeyCache,
    position: &mut Position,
) -> Result<(), StorageError> {
    let horizon = store.outbox_horizon().await?;
    loop {
        let events = store.standing_after_id(position.newest, BATCH).await?;
        forget(cache, &events);
        if let Some(last) = events.last() {
            position.newest = position.newest.max(last.id);
        }
        if u64::try_from(events.len()).unwrap_or(u64::MAX) < BATCH {
            break;
        }
    }
    let (Some(horizon), Some(cursor)) = (horizon, position.final_cursor.as_mut()) else {
        return Ok(());
    };
    loop {
        let events = store.standing_final_after(*cursor, horizon, BATCH).await?;
        forget(cache, &events);
        if let Some(last) = events.last() {
            *cursor = last.cursor();
        }
        if u64::try_from(events.len()).unwrap_or(u64::MAX) < BATCH {
            break;
        }
    }
    Ok(())
}

fn forget(cache: &KeyCache, events: &[StandingEvent]) {
    let changes: Vec<StandingChange> = events.iter().map(|e| e.change.clone()).collect();
    cache.forget_all(&changes);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use domain::{AccountId, ApiKeyId, ProjectId, ProjectSlug, Role, UserId, now};
    use storage::{Account, ApiKeyRecord, Project};

    use super::*;

    fn lookup(project: &ProjectId, account: AccountId, user: UserId) -> Arc<KeyLookup> {
        Arc::new(KeyLookup {
            key: ApiKeyRecord {
                id: ApiKeyId::new(),
                project_id: project.clone(),
                user_id: user,
                hash: [0; 32],
                display_prefix: "xero_p_abc".to_owned(),
                created_at: now(),
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
            },
            project: Project {
                id: project.clone(),
                account_id: account,
                slug: ProjectSlug::parse("p").unwrap(),
                name: "P".to_owned(),
                created_at: now(),
            },
            account: Account {
                id: account,
                name: "A".to_owned(),
                features: BTreeSet::new(),
                created_at: now(),
            },
            role: Some(Role::Admin),
        })
    }

    fn following(capacity: usize, ttl: Duration) -> KeyCache {
        let cache = KeyCache::new(KeyCacheSettings { capacity, ttl });
        cache.follow_from_scratch();
        cache
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn nothing_is_kept_until_a_follower_reads_the_outbox() {
        let cache = KeyCache::new(KeyCacheSettings {
            capacity: 10,
            ttl: HOUR,
        });
        let found = lookup(&ProjectId::generate(), AccountId::new(), UserId::new());
        cache.insert([1; 32], Arc::clone(&found), cache.epoch());
        assert!(cache.get(&[1; 32]).is_none());
        cache.follow_from_scratch();
        cache.insert([1; 32], Arc::clone(&found), cache.epoch());
        assert!(cache.get(&[1; 32]).is_some());
        // A follower that cannot read forgets everything and keeps nothing meanwhile.
        cache.set_following(false);
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert([1; 32], found, cache.epoch());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_lookup_that_overlapped_a_change_is_not_kept() {
        let cache = following(10, HOUR);
        let project = ProjectId::generate();
        let found = lookup(&project, AccountId::new(), UserId::new());
        let epoch = cache.epoch();
        // The change is heard while the lookup is reading (about anyone at all).
        cache.forget(&StandingChange::Key(ApiKeyId::new()));
        cache.insert([1; 32], Arc::clone(&found), epoch);
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert([1; 32], found, cache.epoch());
        assert!(cache.get(&[1; 32]).is_some());
    }

    #[test]
    fn a_change_forgets_exactly_the_keys_it_concerns() {
        let cache = following(10, HOUR);
        let (p1, p2) = (ProjectId::generate(), ProjectId::generate());
        let (a1, a2) = (AccountId::new(), AccountId::new());
        let (u1, u2) = (UserId::new(), UserId::new());
        let keys = [
            lookup(&p1, a1, u1),
            lookup(&p1, a1, u2),
            lookup(&p2, a2, u1),
        ];
        let fill = |cache: &KeyCache| {
            for (i, found) in keys.iter().enumerate() {
                cache.insert(
                    [u8::try_from(i).unwrap(); 32],
                    Arc::clone(found),
                    cache.epoch(),
                );
            }
        };
        let kept = |cache: &KeyCache| -> Vec<bool> {
            (0..3u8).map(|i| cache.get(&[i; 32]).is_some()).collect()
        };
        fill(&cache);
        cache.forget(&StandingChange::Key(keys[1].key.id));
        assert_eq!(kept(&cache), [true, false, true]);
        fill(&cache);
        cache.forget(&StandingChange::Membership {
            project_id: p1.clone(),
            user_id: u1,
        });
        assert_eq!(kept(&cache), [false, true, true]);
        fill(&cache);
        cache.forget(&StandingChange::Account(a1));
        assert_eq!(kept(&cache), [false, false, true]);
    }

    #[test]
    fn entries_expire_and_the_capacity_holds() {
        let cache = following(2, Duration::ZERO);
        let found = lookup(&ProjectId::generate(), AccountId::new(), UserId::new());
        cache.insert([1; 32], Arc::clone(&found), cache.epoch());
        assert!(
            cache.get(&[1; 32]).is_none(),
            "a zero TTL keeps nothing usable"
        );

        let cache = following(2, HOUR);
        for i in 0..5u8 {
            cache.insert([i; 32], Arc::clone(&found), cache.epoch());
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[4; 32]).is_some(), "the newest entry is kept");

        let off = following(0, HOUR);
        off.insert([1; 32], found, off.epoch());
        assert!(off.get(&[1; 32]).is_none());
    }
}
