//! The delivery engine: one per instance, started with the service.
//!
//! Each round it (1) fans the share-events outbox out into deliveries
//! ([`Store::fan_out_webhooks`], gap-free and once across instances), then (2) claims due
//! deliveries under a lease ([`Store::claim_deliveries`], at most
//! `webhooks.max_in_flight_per_webhook` in flight per webhook across instances) and sends each
//! in a task of its own, so a slow receiver holds only its own deliveries. A round runs when a
//! transition commits here, when another instance announces one (PostgreSQL), when an attempt
//! ends, and every `webhooks.poll_interval_ms`.
//!
//! An attempt is a signed POST (see [`super::secrets`]) with a timeout, no redirects followed,
//! through a resolver that refuses private addresses ([`super::guard`]). A 2xx is a success;
//! anything else is retried after the next wait of the schedule (with jitter), and after the
//! last retry the event has failed for that webhook. An instance that dies mid-attempt leaves
//! its lease to run out; another instance then makes the attempt: at least once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use storage::{AttemptNext, Attempted, ClaimedDelivery, Recorded, Store};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::events::deliveries_of;
use super::guard::{GuardedResolver, UrlGuard, literal_ip};
use super::secrets::{SecretBox, sign};

/// Events fanned out per transaction.
const FANOUT_BATCH: u64 = 500;
/// Most attempts in flight on one instance.
const MAX_IN_FLIGHT: usize = 256;
/// Most deliveries one claim takes.
const CLAIM_BATCH: usize = 64;
/// After a wake-up, how long to wait for more before a round: under load one round then
/// covers many transitions.
const GATHER: Duration = Duration::from_millis(5);
/// How often the queue-depth gauge is refreshed at most.
const GAUGE_EVERY: Duration = Duration::from_secs(1);
/// How often finished deliveries past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// At shutdown, how long attempts in flight may still finish (the rest are retried by
/// whichever instance claims them after their lease).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// `[webhooks]` as the engine uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    pub timeout: Duration,
    pub retry_schedule: Vec<Duration>,
    pub jitter_percent: u8,
    pub max_in_flight_per_webhook: u32,
    pub disable_after_failed_events: u32,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub guard: UrlGuard,
    /// How long finished deliveries are kept (listed); pending ones are kept until they finish.
    pub retention: Duration,
}

/// A running engine. [`WebhookEngine::stop`] it before the store closes.
pub struct WebhookEngine {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookEngine {
    /// Starts the engine on the current runtime; `wake` is notified when a transition commits
    /// on this instance.
    pub fn start(
        store: Store,
        wake: Arc<Notify>,
        changed: Arc<AtomicBool>,
        secrets: SecretBox,
        settings: EngineSettings,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("modelshare-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                guard: settings.guard,
            }))
            .build()?;
        let engine = Arc::new(Engine {
            store,
            secrets,
            settings,
            client,
            in_flight: AtomicUsize::new(0),
            done: Notify::new(),
            gauge_at: std::sync::Mutex::new(None),
            pruned_at: std::sync::Mutex::new(None),
        });
        let stop = Arc::new(Notify::new());
        let task = actix_rt::spawn(run(engine, wake, changed, Arc::clone(&stop)));
        Ok(Self { stop, task })
    }

    /// Stops the engine: no new round; attempts in flight get a moment to finish.
    pub async fn stop(self) {
        self.stop.notify_one();
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the webhook engine failed");
        }
    }
}

struct Engine {
    store: Store,
    secrets: SecretBox,
    settings: EngineSettings,
    client: reqwest::Client,
    in_flight: AtomicUsize,
    /// An attempt ended: its webhook may take another.
    done: Notify,
    gauge_at: std::sync::Mutex<Option<Instant>>,
    pruned_at: std::sync::Mutex<Option<Instant>>,
}

/// Runs rounds until told to stop. `changed` is set when a webhook is made or turned on here.
async fn run(engine: Arc<Engine>, wake: Arc<Notify>, changed: Arc<AtomicBool>, stop: Arc<Notify>) {
    let mut remote = Some(engine.store.share_event_wake_ups());
    let mut tasks = JoinSet::new();
    // When no webhook existed at the last look: until a poll interval has passed, rounds
    // that a commit wakes are skipped (a service without webhooks pays one read per interval).
    let mut none_since: Option<Instant> = None;
    // Whether the round may have new events to fan out (not when only an attempt ended).
    let mut events = true;
    loop {
        if changed.swap(false, Ordering::Relaxed) {
            none_since = None;
        }
        let skip = none_since.is_some_and(|at| at.elapsed() < engine.settings.poll_interval);
        if !skip {
            match engine.store.has_webhooks().await {
                Ok(false) if tasks.is_empty() => none_since = Some(Instant::now()),
                Ok(_) => {
                    none_since = None;
                    if events {
                        engine.fan_out().await;
                    }
                    engine.dispatch(&mut tasks).await;
                }
                Err(err) => tracing::debug!(error = %err, "could not look for webhooks"),
            }
        }
        while tasks.try_join_next().is_some() {}
        engine.refresh_gauge().await;
        engine.prune().await;
        let (woken, fan_out) = tokio::select! {
            () = stop.notified() => break,
            () = wake.notified() => (true, true),
            received = async {
                match remote.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if received.is_none() {
                    // Nothing wakes this engine from elsewhere any more: poll.
                    remote = None;
                }
                (received.is_some(), true)
            }
            () = engine.done.notified() => (false, false),
            () = tokio::time::sleep(engine.settings.poll_interval) => (false, true),
        };
        events = fan_out;
        if woken {
            tokio::time::sleep(GATHER).await;
        }
    }
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::info!(
            attempts = tasks.len(),
            "stopping with webhook attempts in flight; they are retried after their lease"
        );
        tasks.shutdown().await;
    }
}

impl Engine {
    /// Turns every new final share event into deliveries.
    async fn fan_out(&self) {
        loop {
            let horizon = match self.store.outbox_horizon().await {
                Ok(horizon) => horizon,
                Err(err) => {
                    tracing::debug!(error = %err, "outbox not readable now; fanning out later");
                    return;
                }
            };
            match self
                .store
                .fan_out_webhooks(horizon, FANOUT_BATCH, deliveries_of)
                .await
            {
                Ok(n) if n >= FANOUT_BATCH => {}
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook events not fanned out now; retrying");
                    return;
                }
            }
        }
    }

    /// Claims what is due and starts an attempt for each.
    async fn dispatch(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        loop {
            let free = MAX_IN_FLIGHT.saturating_sub(self.in_flight.load(Ordering::Relaxed));
            if free == 0 {
                return;
            }
            let now = Utc::now();
            match self.store.has_due_deliveries(now).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::debug!(error = %err, "could not look for due deliveries");
                    return;
                }
            }
            let token = uuid::Uuid::new_v4();
            let until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
            let limit = free.min(CLAIM_BATCH);
            let claimed = match self
                .store
                .claim_deliveries(
                    now,
                    token,
                    until,
                    u64::try_from(limit).unwrap_or(u64::MAX),
                    self.settings.max_in_flight_per_webhook,
                )
                .await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim due deliveries");
                    return;
                }
            };
            let full = claimed.len() >= limit;
            for delivery in claimed {
                self.in_flight.fetch_add(1, Ordering::Relaxed);
                let engine = Arc::clone(self);
                tasks.spawn(async move {
                    engine.attempt(delivery, token).await;
                    engine.in_flight.fetch_sub(1, Ordering::Relaxed);
                    engine.done.notify_one();
                });
            }
            if !full {
                return;
            }
        }
    }

    /// One attempt of a claimed delivery, recorded.
    async fn attempt(&self, claimed: ClaimedDelivery, token: uuid::Uuid) {
        let delivery = &claimed.delivery;
        let at = Utc::now();
        let started = Instant::now();
        let sent = self.send(&claimed, at).await;
        let elapsed = started.elapsed();
        let (response_status, error) = match sent {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (
                Some(status),
                Some(format!("the receiver answered {status}")),
            ),
            Err(why) => (None, Some(why)),
        };
        let next = if error.is_none() {
            AttemptNext::Succeeded
        } else {
            let made = usize::try_from(delivery.attempt).unwrap_or(usize::MAX);
            match self.settings.retry_schedule.get(made) {
                Some(wait) => {
                    AttemptNext::RetryAt(at + jittered(*wait, self.settings.jitter_percent))
                }
                None => AttemptNext::Failed,
            }
        };
        let outcome = match next {
            AttemptNext::Succeeded => "succeeded",
            AttemptNext::RetryAt(_) => "retrying",
            AttemptNext::Failed => "failed",
        };
        metrics::counter!("modelshare_webhook_deliveries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("modelshare_webhook_delivery_duration_seconds")
            .record(elapsed.as_secs_f64());
        let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        tracing::info!(
            event_id = %delivery.event_id,
            event_type = %delivery.event_type,
            delivery_id = %delivery.id,
            webhook_id = %delivery.webhook_id,
            attempt = delivery.attempt.saturating_add(1),
            response_status,
            duration_ms,
            outcome,
            error = error.as_deref(),
            "webhook delivery attempt"
        );
        let attempted = Attempted {
            at,
            response_status: response_status.map(i32::from),
            duration_ms,
            error,
            next,
        };
        match self
            .store
            .record_attempt(
                delivery.id,
                token,
                &attempted,
                self.settings.disable_after_failed_events,
            )
            .await
        {
            Ok(Recorded::Written) => {}
            Ok(Recorded::Disabled) => tracing::warn!(
                webhook_id = %delivery.webhook_id,
                failed_events = self.settings.disable_after_failed_events,
                "webhook disabled: its recent events all failed"
            ),
            Ok(Recorded::NotHeld) => tracing::warn!(
                delivery_id = %delivery.id,
                "the delivery's lease ran out before its attempt was recorded"
            ),
            Err(err) => tracing::warn!(
                delivery_id = %delivery.id,
                error = %err,
                "attempt not recorded; retried after the lease"
            ),
        }
    }

    /// Sends the delivery: the receiver's status, or why there is none.
    async fn send(&self, claimed: &ClaimedDelivery, at: DateTime<Utc>) -> Result<u16, String> {
        let url = reqwest::Url::parse(&claimed.url).map_err(|e| format!("bad URL: {e}"))?;
        if let Some(ip) = literal_ip(&url) {
            self.settings.guard.check(ip)?;
        }
        let secret = self.secrets.open(&claimed.sealed_secret).ok_or(
            "the signing secret does not open with this instance's key (is webhooks.secret_key \
             the same on every instance?)",
        )?;
        let timestamp = at.timestamp();
        let body = claimed.payload.as_bytes();
        let mut signature = sign(&secret, timestamp, body);
        if let Some((previous, until)) = &claimed.previous_secret
            && *until > at
            && let Some(previous) = self.secrets.open(previous)
        {
            signature.push(',');
            signature.push_str(&sign(&previous, timestamp, body));
        }
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Webhook-Id", &claimed.delivery.event_id)
            .header("X-Webhook-Timestamp", timestamp.to_string())
            .header("X-Webhook-Signature", signature)
            .body(claimed.payload.clone())
            .send()
            .await
            .map_err(|e| describe(&e, self.settings.timeout))?;
        let status = response.status().as_u16();
        // Read (and drop) the body, so the connection can serve the next delivery.
        let _ = response.bytes().await;
        Ok(status)
    }

    /// Deletes finished deliveries past their retention, at most every [`PRUNE_EVERY`] (the
    /// first time at start-up).
    async fn prune(&self) {
        if !due(&self.pruned_at, PRUNE_EVERY) {
            return;
        }
        let retention = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        match self
            .store
            .delete_finished_deliveries(Utc::now() - retention)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deliveries = n,
                "finished deliveries past their retention deleted"
            ),
            Err(err) => tracing::debug!(error = %err, "old deliveries not deleted now"),
        }
    }

    /// Sets the queue-depth gauge, at most every [`GAUGE_EVERY`].
    async fn refresh_gauge(&self) {
        if !due(&self.gauge_at, GAUGE_EVERY) {
            return;
        }
        if let Ok(pending) = self.store.pending_deliveries().await {
            let pending = u32::try_from(pending).map_or(f64::from(u32::MAX), f64::from);
            metrics::gauge!("modelshare_webhook_queue_depth").set(pending);
        }
    }
}

/// Whether `every` has passed since `last` (never set: yes); if so, `last` becomes now.
fn due(last: &std::sync::Mutex<Option<Instant>>, every: Duration) -> bool {
    let mut last = last
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|t| t.elapsed() < every) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

/// `wait`, varied by up to `percent` either way.
fn jittered(wait: Duration, percent: u8) -> chrono::Duration {
    let mut bytes = [0_u8; 2];
    let roll = if getrandom::fill(&mut bytes).is_ok() {
        f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    let spread = f64::from(percent) / 100.0;
    let factor = 1.0 + spread * (2.0 * roll - 1.0);
    let secs = (wait.as_secs_f64() * factor).max(0.0);
    chrono::Duration::from_std(Duration::from_secs_f64(secs)).unwrap_or_default()
}

/// Why a request failed, without its URL (which may hold a token of the receiver's).
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    let mut text = if err.is_connect() {
        "could not connect".to_owned()
    } else if err.is_redirect() {
        "redirects are not followed".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    let mut depth = 0;
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
        depth += 1;
        if depth > 4 {
            break;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_spread() {
        for _ in 0..200 {
            let j = jittered(Duration::from_secs(100), 20).num_milliseconds();
            assert!((80_000..=120_000).contains(&j), "{j}");
        }
        assert_eq!(jittered(Duration::from_secs(5), 0).num_seconds(), 5);
    }
}
