//! The second, independent load generator: `wrk` (Debian's package) with a Lua script, run
//! against the same server right after the bench's own client, so that both clients' figures
//! are reported side by side. Skipped (with a note on stderr) when `wrk` is not installed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// What wrk reported.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers that were not 2xx or 3xx.
    pub non_2xx: f64,
}

/// A Lua script of `bench/wrk/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("wrk")
        .join(name)
}

/// Whether wrk is on the PATH.
pub fn available() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// Runs wrk with `threads` threads and `connections` connections for `duration` against `addr`,
/// with the Lua `script` and its arguments.
pub async fn run(
    addr: SocketAddr,
    script: PathBuf,
    args: &[String],
    threads: usize,
    connections: usize,
    duration: Duration,
) -> Result<Figures> {
    let output = tokio::process::Command::new("wrk")
        .arg("-t")
        .arg(threads.to_string())
        .arg("-c")
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg("--")
        .args(args)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text).with_context(|| format!("reading wrk's report:\n{text}"))
}

/// Reads wrk's `--latency` report.
fn parse(report: &str) -> Result<Figures> {
    let mut figures = Figures {
        requests_per_s: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        non_2xx: 0.0,
    };
    for line in report.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("50%"), Some(value)) => figures.p50_ms = millis(value)?,
            (Some("99%"), Some(value)) => figures.p99_ms = millis(value)?,
            (Some("Requests/sec:"), Some(value)) => figures.requests_per_s = value.parse()?,
            _ => {}
        }
        if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses:") {
            figures.non_2xx = count.trim().parse()?;
        }
    }
    if figures.requests_per_s.is_nan() || figures.p99_ms.is_nan() {
        bail!("no Requests/sec or 99% line");
    }
    Ok(figures)
}

/// `812.00us`, `1.23ms` or `2.01s` in milliseconds.
fn millis(value: &str) -> Result<f64> {
    let (number, scale) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("a latency without a unit: {value}")
    };
    Ok(number.parse::<f64>()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_latency_report() {
        let report = "Running 5s test @ http://127.0.0.1:1\n  2 threads and 64 connections\n\
            \x20 Latency Distribution\n     50%  812.00us\n     75%    1.20ms\n     99%    2.01s\n\
            \x20 41234 requests in 5.00s, 3.1MB read\n  Non-2xx or 3xx responses: 7\n\
            Requests/sec:   8246.80\nTransfer/sec:    634.2KB\n";
        let f = parse(report).unwrap();
        assert!((f.p50_ms - 0.812).abs() < 1e-9);
        assert!((f.p99_ms - 2010.0).abs() < 1e-9);
        assert!((f.requests_per_s - 8246.8).abs() < 1e-9);
        assert!((f.non_2xx - 7.0).abs() < 1e-9);
        assert!(parse("nothing").is_err());
    }
}
