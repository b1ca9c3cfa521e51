//! Database faults: the connection to PostgreSQL is cut under load (through a proxy the test
//! controls), and an instance is killed with SIGKILL under load. Nothing acknowledged is lost,
//! nothing is half-written, no request hangs or answers 500, and service resumes unaided.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::PolicyRegistry;
use domain::{ModelId, ModelStatus, ShareAction};
use reqwest::StatusCode;
use storage::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::db::TestDb;
use crate::helpers::{Tenant, TestApp, connect_store, consistent_history, serve_binary, spawn_on};

/// A TCP proxy in front of PostgreSQL that the test can cut, restore, or blackhole.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    /// Links opened before the latest blackhole stop forwarding.
    epoch: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (epoch, _) = watch::channel(0);
        let (up2, links2, epochs) = (Arc::clone(&up), Arc::clone(&links), epoch.clone());
        actix_rt::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut frozen = epochs.subscribe();
                let born = *frozen.borrow_and_update();
                let task = actix_rt::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = frozen.wait_for(|e| *e > born) => {
                                // Blackholed: both ends stay open (no FIN, no RST) and nothing
                                // is forwarded any more, as when a failover or a NAT drops the
                                // connection's state.
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                });
                links2.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            addr,
            up,
            links,
            epoch,
        }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Every open connection stops forwarding bytes either way but stays open; new connections
    /// go through.
    fn blackhole(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }
}

/// `host:port` and database name of a PostgreSQL URL.
fn pg_parts(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let db = db.split('?').next().unwrap_or(db);
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    (hostport, db.to_owned())
}

/// What one client saw: each acknowledged transition's request id, per model.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<(ModelId, ShareAction, String)>,
    statuses: BTreeMap<u16, usize>,
    slowest: Duration,
    missing_retry_after: usize,
    /// Every answer: model, when the request was sent, the status.
    answers: Vec<(ModelId, Instant, u16)>,
}

/// One client per model: toggles its own model until `stop`, learning the state again (GET)
/// after any failure, so that every 200 is a real transition.
async fn drive(
    app: Arc<TestApp>,
    t: Tenant,
    model: ModelId,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut shared = false;
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let action = if shared {
            ShareAction::Unshare
        } else {
            ShareAction::Share
        };
        let request_id = format!("{model}-{n}");
        let started = Instant::now();
        let response = app
            .client
            .post(app.url(&format!("/{}/v1/models/{model}/{action}", t.project)))
            .bearer_auth(&t.key)
            .header("x-request-id", &request_id)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let took = started.elapsed();
        let status = match response {
            Ok(r) => {
                if r.status() == StatusCode::SERVICE_UNAVAILABLE
                    && !r.headers().contains_key("retry-after")
                {
                    seen.lock().unwrap().missing_retry_after += 1;
                }
                r.status().as_u16()
            }
            Err(_) => 0,
        };
        {
            let mut seen = seen.lock().unwrap();
            *seen.statuses.entry(status).or_default() += 1;
            seen.slowest = seen.slowest.max(took);
            seen.answers.push((model, started, status));
            if status == 200 {
                seen.acknowledged.push((model, action, request_id));
            }
        }
        if status == 200 {
            shared = !shared;
            continue;
        }
        // The outcome is unknown (the commit may have happened before the cut): ask.
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let response = app
                .client
                .get(app.url(&format!("/{}/v1/models/{model}", t.project)))
                .bearer_auth(&t.key)
                .send()
                .await;
            if let Ok(response) = response
                && response.status() == StatusCode::OK
            {
                shared = response.json::<serde_json::Value>().await.unwrap()["shared"] == true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every acknowledged transition has its event; per model, events alternate and the state
/// equals the last event.
async fn assert_nothing_lost(
    store: &Store,
    models: &[ModelId],
    acknowledged: &[(ModelId, ShareAction, String)],
) -> usize {
    let mut events_by_request = HashMap::new();
    let mut total = 0;
    for model in models {
        let events = consistent_history(store, *model).await;
        total += events.len();
        for event in events {
            events_by_request.insert(event.request_id.clone(), (event.model_id, event.action));
        }
    }
    for (model, action, request_id) in acknowledged {
        assert_eq!(
            events_by_request.get(request_id),
            Some(&(*model, *action)),
            "acknowledged {action} {request_id} has no event"
        );
    }
    total
}

/// A service on a fresh PostgreSQL database reached through a [`Proxy`] the test controls, with
/// short database timeouts (and `adjust`), a tenant, and `models` ready models of its (the
/// tenant's own first), each toggled by its own client ([`drive`]) until `stop`.
struct BehindProxy {
    proxy: Proxy,
    app: Arc<TestApp>,
    tenant: Tenant,
    models: Vec<ModelId>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    clients: Vec<actix_rt::task::JoinHandle<()>>,
    // Dropped last: the database outlives the service.
    db: TestDb,
}

impl BehindProxy {
    async fn start(db: TestDb, models: usize, adjust: impl FnOnce(&mut api::Settings)) -> Self {
        let (upstream, name) = pg_parts(&db.url);
        let proxy = Proxy::start(upstream).await;
        let proxied = TestDb::alias(&format!("postgres://postgres@{}/{name}", proxy.addr));
        let app = Arc::new(
            spawn_on(
                &proxied,
                |s| {
                    s.database.acquire_timeout_ms = NonZeroU64::new(1000).unwrap();
                    s.database.connect_timeout_ms = NonZeroU64::new(1000).unwrap();
                    s.database.statement_timeout_ms = NonZeroU64::new(2000).unwrap();
                    s.database.retry_after_secs = NonZeroU64::new(2).unwrap();
                    adjust(s);
                },
                PolicyRegistry::with_builtins(),
            )
            .await,
        );
        let t = app.tenant().await;
        let mut ids = vec![t.model];
        for i in 1..models {
            ids.push(
                app.model_in(&t.project, &format!("m{i}"), ModelStatus::Ready)
                    .await,
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let clients = ids
            .iter()
            .map(|m| {
                actix_rt::spawn(drive(
                    Arc::clone(&app),
                    t.clone(),
                    *m,
                    Arc::clone(&stop),
                    Arc::clone(&seen),
                ))
            })
            .collect();
        Self {
            proxy,
            app,
            tenant: t,
            models: ids,
            stop,
            seen,
            clients,
            db,
        }
    }

    /// Stops the clients and returns what they saw.
    async fn stop_clients(&mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients.drain(..) {
            client.await.unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

#[actix_rt::test]
async fn a_database_outage_answers_503_loses_nothing_and_heals_itself() {
    let _heavy = crate::helpers::exclusive().await;
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let mut run = BehindProxy::start(db, 8, |_| {}).await;
    let (proxy, app, seen) = (&run.proxy, Arc::clone(&run.app), Arc::clone(&run.seen));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_cut = seen.lock().unwrap().acknowledged.len();
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readyz during the outage"
    );
    assert_eq!(ready.headers()["retry-after"], "2");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let during = seen
        .lock()
        .unwrap()
        .statuses
        .get(&503)
        .copied()
        .unwrap_or(0);
    let acknowledged_during = seen.lock().unwrap().acknowledged.len();
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let seen = run.stop_clients().await;
    assert_eq!(
        app.get("/readyz", None).await.status(),
        StatusCode::OK,
        "readyz after the outage"
    );

    let after = seen.acknowledged.len() - acknowledged_during;
    println!(
        "outage: statuses {:?}, slowest answer {:.0} ms, acknowledged before the cut {before_cut}, after it {after}",
        seen.statuses,
        seen.slowest.as_secs_f64() * 1000.0
    );
    assert!(before_cut > 0, "no load before the cut");
    assert!(during > 0, "the outage produced no 503");
    assert!(after > 0, "the service did not recover");
    assert!(
        seen.statuses.keys().all(|s| *s == 200 || *s == 503),
        "unexpected statuses {:?}",
        seen.statuses
    );
    assert_eq!(seen.missing_retry_after, 0, "a 503 without Retry-After");
    assert!(
        seen.slowest < Duration::from_secs(5),
        "a request hung for {:?}",
        seen.slowest
    );

    // Check through a direct connection (not the proxy).
    let direct = connect_store(&run.db).await;
    let events = assert_nothing_lost(&direct, &run.models, &seen.acknowledged).await;
    println!(
        "outage: {events} events, every one of {} acknowledged transitions present",
        seen.acknowledged.len()
    );
    // The catalog caught up with what was committed.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let truth: std::collections::BTreeSet<_> = direct
            .list_catalog()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.model.id)
            .collect();
        let mine: std::collections::BTreeSet<_> = app.catalog.shared_ids().into_iter().collect();
        if truth == mine {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "catalog {mine:?} != db {truth:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How readiness answered over time, and how long each answer took.
async fn watch_readiness(app: &TestApp, for_how_long: Duration) -> Vec<(Instant, u16, Duration)> {
    let mut seen = Vec::new();
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        let started = Instant::now();
        let response = app
            .client
            .get(app.url("/readyz"))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let status = response.map_or(0, |r| r.status().as_u16());
        seen.push((started, status, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen
}

#[actix_rt::test]
async fn a_stalled_database_connection_answers_503_and_heals_itself() {
    let _heavy = crate::helpers::exclusive().await;
    let Some(db) = TestDb::postgres_or_skip() else {
        return;
    };
    let mut run = BehindProxy::start(db, 16, |s| {
        // Below the write deadline (3 s here), so that readiness sees the stall.
        s.database.writer_stall_ms = NonZeroU64::new(1000).unwrap();
    })
    .await;
    let (proxy, app, seen, models) = (
        &run.proxy,
        Arc::clone(&run.app),
        Arc::clone(&run.seen),
        run.models.clone(),
    );
    let lane_of = |m: ModelId| app.store.write_lane(m);
    let lanes: std::collections::BTreeSet<usize> = models.iter().map(|m| lane_of(*m)).collect();
    assert_eq!(
        lanes.len(),
        app.store.write_lanes(),
        "the models do not cover every lane"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = seen.lock().unwrap().acknowledged.len();
    let stalled_at = Instant::now();
    proxy.blackhole();
    // Writes besides share/unshare (an endpoint each second) must not hang either.
    let endpoint_writes = {
        let (app, t, model) = (Arc::clone(&app), run.tenant.clone(), models[0]);
        actix_rt::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..8 {
                let started = Instant::now();
                let _ = app
                    .client
                    .post(app.url(&format!("/{}/v1/endpoints", t.project)))
                    .bearer_auth(&t.key)
                    .json(&serde_json::json!({"slug": format!("stalled-{i}"), "modelId": model}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            slowest
        })
    };
    let readiness = watch_readiness(&app, Duration::from_secs(12)).await;
    let seen = run.stop_clients().await;
    let slowest_endpoint_write = endpoint_writes.await.unwrap();
    assert!(
        slowest_endpoint_write < Duration::from_secs(15),
        "an endpoint write hung for {slowest_endpoint_write:?}"
    );

    let recovered: BTreeMap<usize, Duration> = lanes
        .iter()
        .filter_map(|lane| {
            seen.answers
                .iter()
                .filter(|(m, sent, status)| {
                    lane_of(*m) == *lane && *sent > stalled_at && *status == 200
                })
                .map(|(_, sent, _)| sent.duration_since(stalled_at))
                .min()
                .map(|d| (*lane, d))
        })
        .collect();
    let first_ready = readiness
        .iter()
        .find(|(at, status, _)| *at > stalled_at && *status == 200)
        .map(|(at, _, _)| at.duration_since(stalled_at));
    let slowest_ready = readiness.iter().map(|(_, _, took)| *took).max();
    println!(
        "blackhole: statuses {:?}, slowest answer {:.0} ms, acknowledged before {before}, \
         first 200 per lane after {recovered:?}, readyz {:?}, first ready after {first_ready:?}, \
         slowest readyz {slowest_ready:?}",
        seen.statuses,
        seen.slowest.as_secs_f64() * 1000.0,
        readiness.iter().map(|(_, s, _)| *s).collect::<Vec<_>>(),
    );
    assert!(before > 0, "no load before the blackhole");
    assert!(
        seen.slowest < Duration::from_secs(15),
        "a request hung for {:?}",
        seen.slowest
    );
    assert!(
        seen.statuses.keys().all(|s| *s == 200 || *s == 503),
        "unexpected statuses {:?}",
        seen.statuses
    );
    assert_eq!(seen.missing_retry_after, 0, "a 503 without Retry-After");
    for lane in &lanes {
        let after = recovered.get(lane);
        assert!(
            after.is_some_and(|d| *d < Duration::from_secs(20)),
            "lane {lane} never answered 200 again over new connections ({after:?})"
        );
    }
    assert!(
        slowest_ready.is_some_and(|d| d < Duration::from_secs(15)),
        "readyz hung ({slowest_ready:?})"
    );
    assert!(
        readiness
            .iter()
            .any(|(at, status, _)| *at > stalled_at && *status == 503),
        "readyz never said 503 while the database connections were stalled"
    );
    assert_eq!(
        app.get("/readyz", None).await.status(),
        StatusCode::OK,
        "readyz after the stall"
    );

    let direct = connect_store(&run.db).await;
    let events = assert_nothing_lost(&direct, &models, &seen.acknowledged).await;
    println!(
        "blackhole: {events} events, every one of {} acknowledged transitions present",
        seen.acknowledged.len()
    );
}

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
    // after a checkpoint), so go on until one needs more; every answer is 200 or 503.
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
                break;
            }
            other => panic!("a share on a full disk answered {other}"),
        }
    }
    assert!(!refused.is_empty(), "no share failed on a full disk");
    n += 1;
    let id = format!("full-{n}");
    let again = toggle(&app, &t, models[0], &id).await;
    assert_eq!(
        again.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a second share on a full disk"
    );
    refused.push(id);
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
