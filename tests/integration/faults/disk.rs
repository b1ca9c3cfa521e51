//! A full disk answers 503 and heals when space returns.

use std::num::NonZeroU64;
use std::time::Duration;

use auth::PolicyRegistry;
use domain::{ModelId, ModelStatus, ShareAction};
use reqwest::StatusCode;

use super::assert_nothing_lost;
use crate::db::TestDb;
use crate::helpers::{Tenant, TestApp, consistent_history, spawn_on};

/// A tmpfs of a few MiB mounted for one test, unmounted when dropped (even on a failed test).
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    /// `None` (with a message) when this machine cannot mount one and `CI` is unset; under `CI`
    /// a failed mount fails the test.
    fn mount(mib: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other => {
                let why = format!("cannot mount a tmpfs: {other:?}");
                assert!(std::env::var_os("CI").is_none(), "{why}");
                eprintln!("skipped: {why} (the test needs root; CI runs it)");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        loop {
            if let Err(err) = file.write_all(&chunk).and_then(|()| file.sync_all()) {
                assert_eq!(err.raw_os_error(), Some(28), "not ENOSPC: {err}");
                break;
            }
        }
        // The last partial chunk: fill to the last byte.
        for _ in 0..64 * 1024 {
            if file.write_all(&[0]).and_then(|()| file.sync_all()).is_err() {
                break;
            }
        }
        path
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // Lazy: the test's service may still hold the database open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Shares an unshared model or unshares a shared one, as request `request_id`.
async fn toggle(app: &TestApp, t: &Tenant, model: ModelId, request_id: &str) -> reqwest::Response {
    let current = app.get_model(&t.project, &model.to_string(), &t.key).await;
    assert_eq!(current.status(), StatusCode::OK, "reading the model");
    let shared = current.json::<serde_json::Value>().await.unwrap()["shared"] == true;
    let action = if shared { "unshare" } else { "share" };
    app.client
        .post(app.url(&format!("/{}/v1/models/{model}/{action}", t.project)))
        .bearer_auth(&t.key)
        .header("x-request-id", request_id)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap()
}

#[actix_rt::test]
async fn a_full_disk_answers_503_and_heals_when_space_returns() {
    let _heavy = crate::helpers::exclusive().await;
    let Some(disk) = TinyDisk::mount(16) else {
        return;
    };
    let db = TestDb::alias(&format!(
        "sqlite://{}?mode=rwc",
        disk.path().join("modelshare.db").display()
    ));
    let app = spawn_on(
        &db,
        |s| {
            s.database.acquire_timeout_ms = NonZeroU64::new(2000).unwrap();
            s.database.sqlite_busy_timeout_ms = 2000;
            s.database.retry_after_secs = NonZeroU64::new(2).unwrap();
        },
        PolicyRegistry::with_builtins(),
    )
    .await;
    let t = app.tenant().await;
    let mut models = vec![t.model];
    for i in 0..2 {
        models.push(
            app.model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                .await,
        );
    }
    let mut acknowledged = Vec::new();
    let mut n = 0;
    let mut transition = |model: ModelId, response: &reqwest::Response, id: String| {
        if response.status() == StatusCode::OK {
            let action = if response.url().path().ends_with("/unshare") {
                ShareAction::Unshare
            } else {
                ShareAction::Share
            };
            acknowledged.push((model, action, id));
        }
    };
    for model in &models {
        for _ in 0..3 {
            n += 1;
            let id = format!("before-{n}");
            let response = toggle(&app, &t, *model, &id).await;
            assert_eq!(response.status(), StatusCode::OK);
            transition(*model, &response, id);
        }
    }

    let filler = disk.fill();
    // A write may still fit in the space SQLite's write-ahead log already holds (it reuses it
    // after a checkpoint, and the checkpointer runs every few milliseconds), so go on until
    // one needs more, twice; every answer is 200 or 503.
    let mut refused = Vec::new();
    for attempt in 0..1000 {
        let model = models[attempt % models.len()];
        n += 1;
        let id = format!("full-{n}");
        let response = toggle(&app, &t, model, &id).await;
        match response.status() {
            StatusCode::OK => transition(model, &response, id),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(response.headers()["retry-after"], "2");
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "service_unavailable");
                refused.push(id);
                if refused.len() == 2 {
                    break;
                }
            }
            other => panic!("a share on a full disk answered {other}"),
        }
    }
    assert_eq!(
        refused.len(),
        2,
        "shares did not keep failing on a full disk"
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readyz on a full disk"
    );
    assert_eq!(ready.headers()["retry-after"], "2");

    std::fs::remove_file(filler).unwrap();
    for model in &models {
        n += 1;
        let id = format!("after-{n}");
        let response = toggle(&app, &t, *model, &id).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "a share once there is space"
        );
        transition(*model, &response, id);
    }
    assert_eq!(
        app.get("/readyz", None).await.status(),
        StatusCode::OK,
        "readyz once there is space again"
    );
    let events = assert_nothing_lost(&app.store, &models, &acknowledged).await;
    for model in &models {
        for event in consistent_history(&app.store, *model).await {
            assert!(
                !refused.contains(&event.request_id),
                "refused transition {} was written",
                event.request_id
            );
        }
    }
    println!(
        "disk full: {} refused with 503, {events} events, all {} acknowledged present",
        refused.len(),
        acknowledged.len()
    );
}
