//! `actor-churn`: the memory of many models' actors, started once each and left to go idle.
//!
//! Every connection touches its share of a large set of models once (each touch starts that
//! model's actor); the server runs with a short actor idle timeout. The figures are the server's
//! RSS before (warmed up, then idle), at the peak, and after the actors have gone idle again:
//! the difference between after and before is what actors that have stopped leave behind.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use uuid::Uuid;

use super::catalog::catalog_users;
use super::{Env, Prepared, RunResult, Sizes, mb, prepare};
use crate::db::Db;
use crate::load::{self, Req, User, Verdict};

/// Touches each of its models once (an unshare of an unshared model: the model's actor starts,
/// reads the model, runs the policy chain and answers 409 `model_not_shared`), then stops.
struct ChurnUser {
    auth: String,
    project: String,
    models: Vec<Uuid>,
}

impl User for ChurnUser {
    fn next(&mut self) -> Option<Req> {
        let id = self.models.pop()?;
        Some(Req {
            post: true,
            path: format!("/{}/v1/models/{id}/unshare", self.project),
            auth: Some(self.auth.clone()),
        })
    }

    fn answer(&mut self, status: u16, _body: &[u8]) -> Verdict {
        if status == 409 {
            Verdict::Ok
        } else {
            Verdict::Error
        }
    }
}

/// `actor-churn`: seeds the models once, then per run touches each of them on a fresh server.
pub(super) async fn actor_churn(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, Some(s.churn_idle_timeout_ms)).await?;
    prepared
        .pool
        .seed_models(
            &prepared.demo.project_id,
            "churn",
            s.churn_models,
            false,
            "ready",
        )
        .await?;
    let ids: Vec<Uuid> = prepared
        .pool
        .model_ids("churn")
        .await?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let mut results = Vec::new();
    for _ in 0..env.runs {
        results.push(churn_run(&prepared, &ids, s).await?);
    }
    prepared.finish().await?;
    Ok(results)
}

/// One run: a warmed-up, idle server; every model of `ids` touched once; the actors left to go
/// idle for twice their timeout (and 2 s more).
async fn churn_run(prepared: &Prepared, ids: &[Uuid], s: &Sizes) -> Result<RunResult> {
    let idle = s.churn_idle_timeout_ms;
    let (service, _) = prepared.spec.serve().await?;
    // Warm up every worker, pool connection and the demo model's actor, then let that
    // actor go idle, so "before" is a server that has served requests.
    warm(&service.addr, prepared, Duration::from_secs(1)).await?;
    tokio::time::sleep(Duration::from_millis(idle * 2 + 1000)).await;
    let before = service.rss();
    service.reset_peak();
    let users = churn_users(prepared, ids, s.connections);
    // Runs until every model was touched (the duration is only a safety limit).
    let stats = load::run(
        service.addr,
        users,
        Duration::ZERO,
        Duration::from_secs(600),
    )
    .await?;
    let peak = service.sampled_peak();
    tokio::time::sleep(Duration::from_millis(idle * 2 + 2000)).await;
    let after = service.rss();
    let mut result = RunResult::from_stats(&stats);
    result.peak_rss_mb = mb(peak);
    result.extra.insert("rss_before_mb".into(), mb(before));
    result.extra.insert("rss_peak_mb".into(), mb(peak));
    result.extra.insert("rss_after_idle_mb".into(), mb(after));
    result
        .extra
        .insert("rss_after_minus_before_mb".into(), mb(after) - mb(before));
    result
        .extra
        .insert("models_touched".into(), stats.ok as f64);
    service.stop().await?;
    Ok(result)
}

/// `n` users, user `w` touching the models `ids[i]` with `i % n == w`.
fn churn_users(prepared: &Prepared, ids: &[Uuid], n: usize) -> Vec<Box<dyn User>> {
    (0..n)
        .map(|w| {
            Box::new(ChurnUser {
                auth: prepared.auth(),
                project: prepared.demo.project_id.clone(),
                models: ids
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % n == w)
                    .map(|(_, id)| *id)
                    .collect(),
            }) as Box<dyn User>
        })
        .collect()
}

/// Eight users touching the demo model and eight catalog readers, for `for_`.
async fn warm(addr: &SocketAddr, prepared: &Prepared, for_: Duration) -> Result<()> {
    let users: Vec<Box<dyn User>> = (0..8)
        .map(|_| {
            Box::new(ChurnUser {
                auth: prepared.auth(),
                project: prepared.demo.project_id.clone(),
                models: vec![prepared.demo.model_id; 50],
            }) as Box<dyn User>
        })
        .chain(catalog_users(8))
        .collect();
    load::run(*addr, users, Duration::ZERO, for_).await?;
    Ok(())
}
