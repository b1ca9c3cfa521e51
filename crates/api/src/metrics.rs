//! Prometheus metrics through the `metrics` facade.
//!
//! Counters and histograms are recorded where things happen (requests in
//! [`crate::telemetry`], transitions and denials in the sharing routes); gauges that describe
//! state (live actors, catalog size, pool use, convergence lag) are read at scrape time.
//! The recorder is process-wide, as the `metrics` facade is; it is installed once.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.0005, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder; `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("modelshare_webhook_delivery_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Histogram samples wait in a buffer until upkeep folds them into the buckets; without it
/// the buffer of an unscraped service would grow with every request. A plain thread: the
/// recorder outlives any one actix worker or runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "metrics upkeep thread not started");
    }
}

const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// A count as a gauge's value (past `u32::MAX`, which no count here reaches, it saturates).
fn count(n: impl TryInto<u32>) -> f64 {
    n.try_into().map_or(f64::from(u32::MAX), f64::from)
}

/// The text of `GET /metrics`.
pub fn render(state: &AppState) -> String {
    let Some(handle) = handle() else {
        return String::new();
    };
    metrics::gauge!("modelshare_model_actors").set(count(state.catalog.live_actors()));
    metrics::gauge!("modelshare_catalog_models").set(count(state.catalog.len()));
    metrics::gauge!("modelshare_catalog_convergence_lag_seconds")
        .set(state.catalog.convergence_lag_secs());
    metrics::gauge!("modelshare_transition_conflicts").set(count(state.catalog.stale_writes()));
    metrics::gauge!("modelshare_group_commit_largest")
        .set(count(state.store.largest_transition_group()));
    metrics::counter!("modelshare_catalog_repairs_total").absolute(state.catalog.catalog_repairs());
    metrics::counter!("modelshare_undecodable_rows_total")
        .absolute(state.catalog.undecodable_rows());
    for pool in state.store.pool_stats() {
        let in_use = pool.open.saturating_sub(pool.idle);
        metrics::gauge!("modelshare_db_pool_connections", "pool" => pool.name, "state" => "in_use")
            .set(f64::from(in_use));
        metrics::gauge!("modelshare_db_pool_connections", "pool" => pool.name, "state" => "idle")
            .set(f64::from(pool.idle));
        metrics::gauge!("modelshare_db_pool_max_connections", "pool" => pool.name)
            .set(f64::from(pool.max));
    }
    handle.run_upkeep();
    handle.render()
}
