//! An instance killed with SIGKILL under load loses nothing it acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::PolicyRegistry;
use domain::ModelStatus;

use crate::db::TestDb;
use crate::helpers::{serve_binary, spawn_on};

use super::{Seen, assert_nothing_lost, drive};

#[actix_rt::test]
async fn a_killed_instance_loses_nothing_it_acknowledged() {
    let _heavy = crate::helpers::exclusive().await;
    let db = TestDb::new();
    // The harness app only seeds data and reads the database afterwards.
    let seeder = Arc::new(spawn_on(&db, |_| {}, PolicyRegistry::with_builtins()).await);
    let t = seeder.tenant().await;
    let mut models = vec![t.model];
    for i in 0..7 {
        models.push(
            seeder
                .model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                .await,
        );
    }
    let served = serve_binary(&db, &[("MODELSHARE__LOG__LEVEL", "warn")]).await;
    let (mut child, base) = (served.child, served.base);
    let target = Arc::new(seeder.detached().at(base));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let clients: Vec<_> = models
        .iter()
        .map(|m| {
            actix_rt::spawn(drive(
                Arc::clone(&target),
                t.clone(),
                *m,
                Arc::clone(&stop),
                Arc::clone(&seen),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acknowledged_before_kill = seen.lock().unwrap().acknowledged.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.abort();
    }
    let served = serve_binary(&db, &[("MODELSHARE__LOG__LEVEL", "warn")]).await;
    let (mut restarted, base) = (served.child, served.base);
    let events = {
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert!(acknowledged_before_kill > 0, "no load before the kill");
        assert_nothing_lost(&seeder.store, &models, &seen.acknowledged).await
    };
    // The restarted instance's catalog equals the database.
    let truth: std::collections::BTreeSet<String> = seeder
        .store
        .list_catalog()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.model.id.to_string())
        .collect();
    let listed: serde_json::Value = reqwest::get(format!("{base}/v1/catalog/models?limit=100"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: std::collections::BTreeSet<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["modelId"].as_str().unwrap().to_owned())
        .collect();
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    assert_eq!(listed, truth);
    println!(
        "kill -9 ({}): {acknowledged_before_kill} transitions acknowledged before SIGKILL, all {events} events consistent after restart",
        if db.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
}
