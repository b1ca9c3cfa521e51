//! The load generator: one keep-alive HTTP/1.1 connection per virtual user (a small hyper
//! client), closed loop (a user sends its next request when the previous answer is read), every
//! latency recorded in an HDR histogram (microseconds, 3 significant digits).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request a virtual user wants to send.
pub struct Req {
    pub post: bool,
    pub path: String,
    pub auth: Option<String>,
}

/// What a virtual user made of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Error,
}

/// A virtual user: produces requests and judges answers. `None` from `next` ends it.
pub trait User: Send + 'static {
    fn next(&mut self) -> Option<Req>;
    fn answer(&mut self, status: u16, body: &[u8]) -> Verdict;
}

/// Latencies and counts of one load phase.
pub struct Stats {
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Stats {
    pub fn new() -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            ok: 0,
            errors: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
        })
    }

    pub fn record(&mut self, latency: Duration, verdict: Verdict) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(micros.max(1));
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::Error => self.errors += 1,
        }
    }

    pub fn merge(&mut self, other: &Stats) -> Result<()> {
        self.hist.add(&other.hist)?;
        self.ok += other.ok;
        self.errors += other.errors;
        self.bytes += other.bytes;
        Ok(())
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests() as f64 / secs
        } else {
            0.0
        }
    }

    pub fn p50_ms(&self) -> f64 {
        self.hist.value_at_quantile(0.50) as f64 / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.hist.value_at_quantile(0.99) as f64 / 1000.0
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    req: &Req,
) -> Result<(u16, Bytes), hyper::Error> {
    sender.ready().await?;
    let mut builder = Request::builder()
        .method(if req.post { "POST" } else { "GET" })
        .uri(req.path.as_str())
        .header(HOST, "127.0.0.1");
    if let Some(auth) = &req.auth {
        builder = builder.header(AUTHORIZATION, auth.as_str());
    }
    // A request built from our own method, path and headers cannot be malformed; if it were,
    // hyper reports it as an error of this request.
    let request = match builder.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(_) => return Ok((0, Bytes::new())),
    };
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Runs every user on its own connection. Nothing is recorded during `warmup`; the phase ends
/// after `duration` (or when every user is done). Connection failures count as errors and the
/// user reconnects.
pub async fn run(
    addr: SocketAddr,
    users: Vec<Box<dyn User>>,
    warmup: Duration,
    duration: Duration,
) -> Result<Stats> {
    let start = Instant::now();
    let record_from = start + warmup;
    let deadline = record_from + duration;
    let mut tasks = Vec::with_capacity(users.len());
    for mut user in users {
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new()?;
            let mut sender = connect(addr).await?;
            let mut last = Instant::now();
            while Instant::now() < deadline {
                let Some(req) = user.next() else { break };
                let sent = Instant::now();
                let (verdict, size) = match send(&mut sender, &req).await {
                    Ok((status, body)) => (user.answer(status, &body), body.len()),
                    Err(_) => {
                        sender = connect(addr).await?;
                        (Verdict::Error, 0)
                    }
                };
                let done = Instant::now();
                if sent >= record_from {
                    stats.record(done - sent, verdict);
                    stats.bytes += size as u64;
                    last = done;
                }
            }
            anyhow::Ok((stats, last))
        }));
    }
    let mut total = Stats::new()?;
    let mut last = record_from;
    for task in tasks {
        let (stats, user_last) = task.await??;
        total.merge(&stats)?;
        last = last.max(user_last);
    }
    total.elapsed = last.saturating_duration_since(record_from);
    Ok(total)
}

/// What an open-loop phase measured: the answers' latencies from their scheduled times, and how
/// late the client itself handed each request to its connection (its dispatcher's lag).
pub struct Open {
    pub answers: Stats,
    pub dispatch: Stats,
}

/// Open loop: requests are scheduled at `rate` per second whatever the answers do, handed to the
/// users round robin (each on its own connection), and each latency is measured from the
/// request's scheduled time, not from when it could be sent: a slow answer delays the requests
/// queued behind it on its connection, and that delay counts (no coordinated omission).
///
/// The schedule is kept by an OS thread of its own sleeping to each send time, not by tokio's
/// timer: that one has a resolution of a millisecond, so a request due between two of its ticks
/// would be handed over up to a millisecond late, and the client's own lateness would be counted
/// as the server's latency. The lag that is left is measured ([`Open::dispatch`]).
pub async fn run_open(
    addr: SocketAddr,
    users: Vec<Box<dyn User>>,
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> Result<Open> {
    let start = Instant::now() + Duration::from_millis(100);
    let record_from = start + warmup;
    let deadline = record_from + duration;
    let mut queues = Vec::with_capacity(users.len());
    let mut tasks = Vec::with_capacity(users.len());
    for mut user in users {
        let (queue, mut scheduled) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        queues.push(queue);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new()?;
            let mut sender = connect(addr).await?;
            while let Some(at) = scheduled.recv().await {
                let Some(req) = user.next() else { break };
                let (verdict, size) = match send(&mut sender, &req).await {
                    Ok((status, body)) => (user.answer(status, &body), body.len()),
                    Err(_) => {
                        sender = connect(addr).await?;
                        (Verdict::Error, 0)
                    }
                };
                if at >= record_from {
                    stats.record(Instant::now() - at, verdict);
                    stats.bytes += size as u64;
                }
            }
            anyhow::Ok(stats)
        }));
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let dispatcher = tokio::task::spawn_blocking(move || {
        let mut lag = Stats::new()?;
        let mut next = start;
        let mut i = 0usize;
        // No user: nothing to send to (and no count to cycle through).
        while next < deadline && !queues.is_empty() {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            // Every send whose time has come (the sleep may end late): none is skipped.
            while next <= Instant::now() && next < deadline {
                let Some(queue) = queues.get(i % queues.len()) else {
                    return Ok(lag);
                };
                if next >= record_from {
                    lag.record(Instant::now() - next, Verdict::Ok);
                }
                if queue.send(next).is_err() {
                    return Ok(lag);
                }
                i += 1;
                next += interval;
            }
        }
        anyhow::Ok(lag)
    });
    let dispatch = dispatcher.await??;
    let mut answers = Stats::new()?;
    for task in tasks {
        answers.merge(&task.await??)?;
    }
    answers.elapsed = duration;
    Ok(Open { answers, dispatch })
}

/// One request, for set-up and checks.
pub async fn once(addr: SocketAddr, req: &Req) -> Result<(u16, Bytes)> {
    let mut sender = connect(addr).await?;
    Ok(send(&mut sender, req).await?)
}

/// A small, fast, seedable random source (xorshift64*), enough to pick models and queries.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x % (n.max(1) as u64)) as usize
    }
}
