//! The processes under load: the release `modelshare` server and the baseline HTTP server
//! (this binary's hidden `baseline-server` command), each a child process whose memory is read
//! from `/proc/<pid>/status`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use crate::load::{Req, once};

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `VmRSS` and `VmHWM` (peak) of a process, in bytes.
pub fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A child process under test; killed when dropped.
pub struct Process {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Highest `VmRSS` seen by the sampler since the last [`Process::reset_peak`].
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Process {
    fn watch(child: Child, addr: SocketAddr) -> Result<Self> {
        let pid = child.id().context("child exited at once")?;
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let peak = Arc::clone(&peak);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match memory(pid) {
                        Some((rss, _)) => {
                            peak.fetch_max(rss, Ordering::Relaxed);
                        }
                        None => break,
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        Ok(Self {
            child,
            pid,
            addr,
            peak,
            stop,
        })
    }

    pub fn rss(&self) -> u64 {
        memory(self.pid).map(|(rss, _)| rss).unwrap_or(0)
    }

    /// The larger of the sampled peak and the kernel's high-water mark.
    pub fn peak_rss(&self) -> u64 {
        let hwm = memory(self.pid).map(|(_, hwm)| hwm).unwrap_or(0);
        hwm.max(self.peak.load(Ordering::Relaxed))
    }

    /// Peak `VmRSS` sampled since the last reset (not the lifetime high-water mark).
    pub fn sampled_peak(&self) -> u64 {
        self.peak
            .load(Ordering::Relaxed)
            .max(memory(self.pid).map(|(rss, _)| rss).unwrap_or(0))
    }

    pub fn reset_peak(&self) {
        self.peak.store(self.rss(), Ordering::Relaxed);
    }

    pub async fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.child.kill().await?;
        Ok(())
    }

    /// Stops the server as an operator does (SIGTERM: it drains, writes its catalog
    /// checkpoint and exits) and waits for it, at most `limit`; returns how long it took.
    pub async fn terminate(mut self, limit: Duration) -> Result<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        let asked = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(exited) => {
                exited?;
                Ok(asked.elapsed())
            }
            Err(_) => bail!("the server did not stop within {limit:?} of SIGTERM"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.start_kill();
    }
}

/// Where to find and how to configure the release server.
#[derive(Clone)]
pub struct ServerSpec {
    pub bin: PathBuf,
    /// The server's working directory (a temp dir: no `config/local.toml` gets in).
    pub workdir: PathBuf,
    pub database_url: String,
    pub idle_timeout_ms: Option<u64>,
    /// `catalog.page_cache_bytes`, when set (0: every catalog page is cut afresh).
    pub page_cache_bytes: Option<u64>,
}

impl ServerSpec {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.workdir)
            .env("MODELSHARE__DATABASE__URL", &self.database_url)
            // Warnings, and the one line that says how long the catalog took to load.
            .env("MODELSHARE__LOG__LEVEL", "warn,catalog::handle=info")
            // One client on one IP with one key measures the service, not the rate limiter
            // (which would answer 429 above its per-key / per-IP rate).
            .env("MODELSHARE__RATE_LIMIT__ENABLED", "false")
            // The catalog's start-up checkpoint in the server's folder, on either database
            // (`auto` keeps none on PostgreSQL); see `ServerSpec::forget_checkpoint`.
            .env(
                "MODELSHARE__CATALOG__CHECKPOINT_PATH",
                self.checkpoint_path(),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(ms) = self.idle_timeout_ms {
            cmd.env("MODELSHARE__ACTORS__IDLE_TIMEOUT_MS", ms.to_string());
        }
        if let Some(bytes) = self.page_cache_bytes {
            cmd.env("MODELSHARE__CATALOG__PAGE_CACHE_BYTES", bytes.to_string());
        }
        cmd
    }

    /// Where the server keeps its catalog checkpoint.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.workdir.join("catalog.checkpoint")
    }

    /// Removes the catalog checkpoint a stopped server left, so that the next start loads the
    /// catalog from the database (a cold start).
    pub fn forget_checkpoint(&self) -> Result<()> {
        match std::fs::remove_file(self.checkpoint_path()) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    /// The same server with its catalog page cache off: every page is cut afresh.
    pub fn without_page_cache(self) -> Self {
        Self {
            page_cache_bytes: Some(0),
            ..self
        }
    }

    /// Runs a CLI command (`migrate`, `--json demo`, …) and returns its stdout.
    pub async fn cli(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .with_context(|| format!("running {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "modelshare {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Starts `modelshare serve` and waits for `GET /readyz` to answer 200. Returns the process
    /// and the time from spawn to ready.
    pub async fn serve(&self) -> Result<(Process, Duration)> {
        let (process, started) = self.serve_timed().await?;
        Ok((process, started.ready))
    }

    /// [`ServerSpec::serve`], timing also when the port first answered (`/healthz` 200).
    pub async fn serve_timed(&self) -> Result<(Process, Started)> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        let child = self
            .command()
            .arg("serve")
            .env("MODELSHARE__SERVER__PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let process = Process::watch(child, addr)?;
        let limit = Duration::from_secs(120);
        let answering = wait_ready(addr, "/healthz", limit).await?;
        let ready = wait_ready(addr, "/readyz", limit).await?;
        Ok((
            process,
            Started {
                answering: answering.saturating_duration_since(started),
                ready: ready.saturating_duration_since(started),
            },
        ))
    }
}

/// How long a service took from its spawn to answering on its port, and to being ready.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    /// To the first `/healthz` 200.
    pub answering: Duration,
    /// To the first `/readyz` 200.
    pub ready: Duration,
}

async fn wait_ready(addr: SocketAddr, path: &str, limit: Duration) -> Result<Instant> {
    let deadline = Instant::now() + limit;
    let req = Req {
        post: false,
        path: path.into(),
        auth: None,
    };
    loop {
        if let Ok((200, _)) = once(addr, &req).await {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{addr}{path} not ready after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts this binary's baseline server on `pages_file` (a JSON object: path with query → body).
pub async fn baseline(pages_file: &Path, workers: usize) -> Result<Process> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(std::env::current_exe()?)
        .arg("baseline-server")
        .arg("--port")
        .arg(port.to_string())
        .arg("--pages")
        .arg(pages_file)
        .arg("--workers")
        .arg(workers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let process = Process::watch(child, addr)?;
    wait_ready(addr, "/readyz", Duration::from_secs(30)).await?;
    Ok(process)
}

/// The baseline: the least an actix-web server can do for a catalog page, i.e. answer with a
/// pre-serialized JSON body of the same size, on the same number of workers. `pages` maps each
/// path with query (as sent, e.g. `/v1/catalog/models?q=swift&after=…`) to its body; `/readyz`
/// answers 200 and any other path 404 (an error the load generators count).
pub fn run_baseline_server(port: u16, pages: PathBuf, workers: usize) -> Result<()> {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let read: HashMap<String, String> = serde_json::from_slice(&std::fs::read(&pages)?)
        .with_context(|| format!("reading {}", pages.display()))?;
    let bodies: Arc<HashMap<String, web::Bytes>> = Arc::new(
        read.into_iter()
            .map(|(path, body)| (path, web::Bytes::from(body)))
            .collect(),
    );
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            let bodies = Arc::clone(&bodies);
            App::new().default_service(web::to(move |req: HttpRequest| {
                let body = page(&bodies, &req).cloned();
                async move {
                    match body {
                        Some(body) => HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body),
                        None if req.path() == "/readyz" => HttpResponse::Ok().finish(),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })?;
    Ok(())
}

/// The body kept for `req`'s path with query, if any.
fn page<'a>(
    bodies: &'a HashMap<String, actix_web::web::Bytes>,
    req: &actix_web::HttpRequest,
) -> Option<&'a actix_web::web::Bytes> {
    let uri = req.uri();
    let key = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    bodies.get(key)
}
