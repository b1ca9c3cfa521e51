//! A TCP proxy in front of PostgreSQL that a test cuts, restores or blackholes, and a service
//! behind it with clients driving its models.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use auth::PolicyRegistry;
use domain::{ModelId, ModelStatus};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::db::TestDb;
use crate::helpers::{Tenant, TestApp, spawn_on};

use super::{Seen, drive};

/// A TCP proxy in front of PostgreSQL that the test can cut, restore, or blackhole.
pub(super) struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    /// Links opened before the latest blackhole stop forwarding.
    epoch: watch::Sender<u64>,
}

impl Proxy {
    pub(super) async fn start(upstream: String) -> Self {
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
    pub(super) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub(super) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Every open connection stops forwarding bytes either way but stays open; new connections
    /// go through.
    pub(super) fn blackhole(&self) {
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

/// A service on a fresh PostgreSQL database reached through a [`Proxy`] the test controls, with
/// short database timeouts (and `adjust`), a tenant, and `models` ready models of its (the
/// tenant's own first), each toggled by its own client ([`drive`]) until `stop`.
pub(super) struct BehindProxy {
    pub(super) proxy: Proxy,
    pub(super) app: Arc<TestApp>,
    pub(super) tenant: Tenant,
    pub(super) models: Vec<ModelId>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) seen: Arc<Mutex<Seen>>,
    pub(super) clients: Vec<actix_rt::task::JoinHandle<()>>,
    // Dropped last: the database outlives the service.
    pub(super) db: TestDb,
}

impl BehindProxy {
    pub(super) async fn start(
        db: TestDb,
        models: usize,
        adjust: impl FnOnce(&mut api::Settings),
    ) -> Self {
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
    pub(super) async fn stop_clients(&mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients.drain(..) {
            client.await.unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}
