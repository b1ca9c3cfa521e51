//! What tests assert with (the error envelope, a model's history, catalogs that converge) and
//! the real binary as a process.

use std::time::{Duration, Instant};

use crate::db::TestDb;
use domain::{ModelId, ShareAction};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use storage::Store;

use super::TestApp;

/// Asserts status and the envelope's code, and returns the envelope's `error` object.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "x-request-id missing"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let body: Value = response.json().await.expect("json body");
    let error = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no envelope: {body}"));
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].as_str().is_some(), "{body}");
    assert!(
        error.as_object().is_some_and(|o| o.contains_key("param")),
        "{body}"
    );
    error
}

/// A `modelshare serve` process (the real binary) with its stderr in a file.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

/// Starts `modelshare serve` on `db` with extra environment, and waits until it is ready.
pub async fn serve_binary(db: &TestDb, env: &[(&str, &str)]) -> Served {
    serve_binary_in(db, &crate::cli::config_dir(), env).await
}

/// [`serve_binary`] with `--config config`.
pub async fn serve_binary_in(
    db: &TestDb,
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> Served {
    let Served {
        mut child,
        base,
        log,
    } = spawn_binary_in(db, config, env);
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            return Served { child, base, log };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("modelshare serve never became ready");
}

/// Starts `modelshare serve --config config` on `db` with extra environment, without waiting.
pub fn spawn_binary_in(db: &TestDb, config: &std::path::Path, env: &[(&str, &str)]) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address")
        .port();
    let log = db.dir().join(format!("serve-{port}.log"));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"));
    command
        .current_dir(db.dir())
        .env("MODELSHARE__DATABASE__URL", &db.url)
        .env("MODELSHARE__SERVER__PORT", port.to_string())
        .env("MODELSHARE__RATE_LIMIT__ENABLED", "false")
        .args(["--config", config.to_str().expect("utf-8 path"), "serve"])
        .stderr(std::fs::File::create(&log).expect("log file"));
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("modelshare starts");
    let base = format!("http://127.0.0.1:{port}");
    Served { child, base, log }
}

/// A model's share events (newest first), after checking the history is consistent: events
/// alternate share, unshare, share, … from the first, and the model's state is the last one.
pub async fn consistent_history(store: &Store, model: ModelId) -> Vec<storage::ShareEvent> {
    let events = store
        .list_share_events(model, None, 1_000_000)
        .await
        .expect("events")
        .items;
    for (i, event) in events.iter().rev().enumerate() {
        let expected = if i % 2 == 0 {
            ShareAction::Share
        } else {
            ShareAction::Unshare
        };
        assert_eq!(
            event.action, expected,
            "model {model}: event {i} breaks the alternation"
        );
    }
    let state = store
        .get_model(model)
        .await
        .expect("model")
        .expect("model exists");
    let last_is_share = events
        .first()
        .is_some_and(|e| e.action == ShareAction::Share);
    assert_eq!(
        state.shared, last_is_share,
        "model {model}: state and last event disagree"
    );
    events
}

/// Tests that load the machine (hundreds of concurrent calls) or measure time run one at a
/// time, so that one's load does not distort another's measurement.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// The ids the database says are shared.
pub async fn shared_in_db(app: &TestApp) -> std::collections::BTreeSet<ModelId> {
    app.store
        .list_catalog()
        .await
        .expect("catalog rows")
        .into_iter()
        .map(|r| r.model.id)
        .collect()
}

/// The ids an instance's in-memory catalog holds.
pub fn in_catalog(app: &TestApp) -> std::collections::BTreeSet<ModelId> {
    app.catalog.shared_ids().into_iter().collect()
}

/// Waits until every app's catalog equals the database; returns how long that took, and
/// panics after `within`.
pub async fn converged(apps: &[&TestApp], within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let truth = shared_in_db(apps[0]).await;
        if apps.iter().all(|a| in_catalog(a) == truth) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "catalogs did not equal the database within {within:?}: db {truth:?}, catalogs {:?}",
            apps.iter().map(|a| in_catalog(a)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the `modelshare` binary with `args` on the app's database and the repository's config;
/// asserts it succeeded and returns its standard output.
pub fn run_cli(app: &super::TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"))
        .env(
            "MODELSHARE__DATABASE__URL",
            app.settings.database.url.expose(),
        )
        .env_remove("MODELSHARE_ENV")
        .arg("--config")
        .arg(crate::cli::config_dir())
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// How long after `since` the status `probe` gets first differs from `before`; panics past
/// `bound`.
pub async fn changed_within<F, Fut>(
    since: Instant,
    bound: Duration,
    before: StatusCode,
    probe: F,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    loop {
        let status = probe().await.status();
        let took = since.elapsed();
        if status != before {
            return took;
        }
        assert!(took < bound, "still {before} {took:?} after the change");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Stops a served binary (SIGTERM, a clean exit) and returns its JSON log: the text, and the
/// lines that are JSON objects.
pub fn stopped_json_log(served: &mut Served) -> (String, Vec<Value>) {
    crate::signals::send_signal(&served.child, "TERM");
    assert!(served.child.wait().unwrap().success());
    let logs = std::fs::read_to_string(&served.log).unwrap();
    let lines = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    (logs, lines)
}
