//! The actors behind share and unshare, and the public catalog.
//!
//! # Who owns what, and why races cannot happen
//!
//! * **One actor per model** ([`model_actor`]). Every share or unshare of model M is a message to
//!   M's actor, which handles one message at a time *to completion*: it reads M (or uses the
//!   state it wrote last, when that leads to a write), runs the policy chain on that state,
//!   writes the state change and its share event in one transaction (a compare-and-set on M's
//!   `version`), updates the public catalog, and only then replies. A denial, a 404 or a no-op is
//!   always decided on a fresh read; a write on a remembered state that turned out old writes
//!   nothing and starts over from a fresh read. The
//!   handler returns an `AtomicResponse`, so the actor's mailbox stays closed while the handler
//!   awaits the database: two transitions of M can never interleave inside this process. Across
//!   processes the compare-and-set decides: a write that finds M changed writes nothing, and the
//!   actor starts over from the new state.
//! * **The registry** ([`registry`]) creates model actors lazily and hands out leases. An actor
//!   whose model has seen no lease for `idle_timeout` is dropped from the registry; with its last
//!   address gone, actix stops it, so memory stays bounded however many models are touched. An
//!   actor with a lease out is never dropped, so there is never a second actor for one model.
//! * **The public catalog** ([`public`]) is an in-memory index of shared models, loaded at
//!   start-up. Its actor is the only writer; model actors send it each transition and wait for
//!   it to be applied before they reply, so a client that got 200 sees the change in its next
//!   catalog read. After each change the actor publishes an immutable snapshot of the index
//!   (persistent collections: O(1) to publish, O(log n) to change); readers load the current
//!   snapshot without a lock, so no read ever waits for a write, nor a write for a read. A page
//!   examines a bounded number of models whatever its filters (see [`examine_bound`]).
//! * **Other instances** ([`tail`]) write to the same database. The share-events table is the
//!   outbox: a tailer reads it (woken by PostgreSQL `NOTIFY`, which each instance sends after
//!   its commits, else every poll interval), re-reads each changed model and hands its state to
//!   the catalog actor. The read is gap-free however late a transaction commits: besides new
//!   ids it reads, once each, every event whose transaction is older than the oldest one still
//!   running. Every update carries the model's version and the index ignores anything older
//!   than what it has, so a late outbox read never undoes a newer local transition. A periodic
//!   reconciliation compares the catalog with the database and repairs what disagrees, and a
//!   no-op transition (share of a shared model, unshare of an unshared one) republishes the
//!   model as just read.
//! * **Cheap refusals.** The checks of a chain that need only the caller (feature, role) run in
//!   the handle before any actor is leased; the actor runs the whole chain again on fresh state.
//!
//! # Where the work runs
//!
//! A share or unshare crosses these execution contexts, each owning what is listed:
//!
//! 1. **An HTTP worker** (actix-web, one thread per worker): the request, its caller's key
//!    lookup and the chain's caller-only checks ([`Catalog`]'s handle), then a message to the
//!    model's actor, awaited.
//! 2. **The catalog arbiter** (one thread): every model actor, the registry's reaper and the
//!    public-catalog actor. A model actor owns its model's transitions (one at a time); the
//!    public-catalog actor owns the index and publishes its snapshots. The outbox tailer and
//!    the reconciliation also run here, as tasks.
//! 3. **The main runtime** (the thread that opened the store and awaits the server): the
//!    store's tasks. One task per group-commit lane, each owning the transactions of the
//!    models hashed to it, one group at a time, on the writer connection (SQLite) or on
//!    connections the store keeps (PostgreSQL); a model actor's transition waits there for its
//!    group's commit. On PostgreSQL, also the `LISTEN` task, which only wakes the tailer and
//!    whose connection must outlive the arbiter during shutdown. Off the share path, the
//!    sweeper of expired idempotency keys is a task here too.
//! 4. **The metrics upkeep thread**: folds histogram samples every five seconds; touches no
//!    state of the service.
//!
//! A scheduled share or unshare starts in the `api` crate's schedule runner (a task on the main
//! runtime), which reads the scheduling user's principal fresh and calls
//! [`Catalog::run_scheduled`]: from there it is a request's transition like any other (context
//! 2's checks, then the model's actor), its share event naming the schedule.
//!
//! One model's transitions are ordered by its actor; the lane keeps them in submission order
//! and never puts two of one model in a group; the compare-and-set on `version` orders them
//! against other instances. Each layer's rule is what the next one relies on, not a repeat of
//! it: the actor decides on fresh state, the lane keeps commit order equal to decision order,
//! the database settles what no process can see.
//!
//! Callers use the [`Catalog`] handle; actix types never leave this crate.

mod checkpoint;
mod handle;
mod index;
mod memory;
mod model_actor;
mod outcome;
mod public;
mod registry;
mod tail;

pub use handle::{Catalog, CatalogSettings};
#[cfg(feature = "test-support")]
pub use index::Standalone;
pub use index::{
    BrowsePage, BrowseQuery, CONTEXT_BUCKETS, CatalogItem, EXAMINE_BOUND, FACET_VALUES, Facets,
    Filter, PARAMETER_BUCKETS, RangeCount, Sort, SortKey, TIERS, ValueCount, examine_bound,
};
pub use outcome::{ShareError, Transitioned, Visibility};
