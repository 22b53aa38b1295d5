//! Prometheus metrics: windows scored, late and failed, blob fetch latency,
//! enclave restarts; rendered in the text exposition format and served on
//! `GET /metrics` by a small loopback-or-configured HTTP listener.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Fixed-bucket latency histogram (seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

const LATENCY_BOUNDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl Default for Histogram {
    fn default() -> Self {
        Self {
            bounds: LATENCY_BOUNDS,
            buckets: LATENCY_BOUNDS.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            out.push_str(&format!(
                "{name}_bucket{{le=\"{bound}\"}} {}\n",
                bucket.load(Ordering::Relaxed)
            ));
        }
        let count = self.count.load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {count}\n"));
        out.push_str(&format!(
            "{name}_sum {}\n{name}_count {count}\n",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        ));
    }
}

/// The host's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Windows whose statement the chain accepted.
    pub windows_scored: Counter,
    /// Windows that missed their deadline.
    pub windows_late: Counter,
    /// Windows the chain refused.
    pub windows_failed: Counter,
    /// Enclave restarts.
    pub enclave_restarts: Counter,
    /// Windows at which the enclave's clock and chain time differed by more
    /// than half the seed margin.
    pub enclave_clock_alerts: Counter,
    /// Miners this machine scores in a scoring phase (`vram-validator
    /// capacity`), 0 if not measured.
    pub capacity_miners: Gauge,
    /// The network's `max_scored` when the loop started.
    pub max_scored: Gauge,
    /// Time to fetch a window's blobs.
    pub fetch_latency: Histogram,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, counter) in [
            (
                "vram_windows_scored_total",
                "Windows whose statement the chain accepted.",
                &self.windows_scored,
            ),
            (
                "vram_windows_late_total",
                "Windows not submitted before their end.",
                &self.windows_late,
            ),
            (
                "vram_windows_failed_total",
                "Windows whose statement the chain refused.",
                &self.windows_failed,
            ),
            (
                "vram_enclave_restarts_total",
                "Enclave restarts (each registers a new key).",
                &self.enclave_restarts,
            ),
            (
                "vram_enclave_clock_alerts_total",
                "Windows at which the enclave's clock and chain time differed by more than half the seed margin.",
                &self.enclave_clock_alerts,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                counter.get()
            ));
        }
        for (name, help, gauge) in [
            (
                "vram_capacity_miners",
                "Miners this machine scores in a scoring phase (vram-validator capacity; 0 if not measured).",
                &self.capacity_miners,
            ),
            (
                "vram_max_scored",
                "The network's max_scored when the loop started.",
                &self.max_scored,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}\n",
                gauge.get()
            ));
        }
        self.fetch_latency.render(
            "vram_blob_fetch_seconds",
            "Time to fetch one window's gradient blobs.",
            &mut out,
        );
        out
    }
}

/// Serves `GET /metrics` on `bind` from a background thread; returns the
/// bound address.
pub fn serve(metrics: Arc<Metrics>, bind: &str) -> Result<SocketAddr> {
    let listener = TcpListener::bind(bind).map_err(|e| Error::Config {
        reason: format!("metrics listener {bind}: {e}"),
    })?;
    let addr = listener.local_addr().map_err(|e| Error::Config {
        reason: e.to_string(),
    })?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let (status, body) = if line.starts_with("GET /metrics ") {
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "not found\n".to_string())
            };
            let mut s = &stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(addr)
}
