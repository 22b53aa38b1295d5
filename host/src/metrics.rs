//! Prometheus metrics of the window loop (untrusted host; read by the
//! operator's monitoring): the window it is on and the last it submitted,
//! enclave health and clock skew, miners per status, fetch latency, gas and
//! build info. Kept with the `prometheus-client` crate (the Prometheus
//! project's Rust client) and served on `GET /metrics` by axum. The names
//! are the ones `docs/grafana-dashboard.json` queries; a test scrapes a
//! live local network and checks every panel's metric is exported.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::error::{Error, Result};

/// A miner status label (`scored`, `not_evaluated`, `malformed`, ...).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// The status, as a word.
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    evaluator: String,
}

/// The host's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Windows whose statement the chain accepted.
    pub windows_scored: Counter,
    /// Windows not submitted before their end.
    pub windows_late: Counter,
    /// Windows the chain refused, or that failed otherwise.
    pub windows_failed: Counter,
    /// Windows lost because the enclave could not score the declared budget
    /// before the window's last moment to sign (it signs nothing then).
    pub windows_out_of_time: Counter,
    /// Gradients the enclave evaluated.
    pub gradients_evaluated: Counter,
    /// The validator's declared budget `K_v` for the window in progress.
    pub budget: Gauge,
    /// Enclave restarts.
    pub enclave_restarts: Counter,
    /// Windows at which the enclave's clock and chain time differed by more
    /// than half the seed margin.
    pub enclave_clock_alerts: Counter,
    /// 1 while the enclave answers and its key is registered, else 0.
    pub enclave_up: Gauge,
    /// Enclave clock minus chain time at the last window, ms.
    pub enclave_clock_skew_ms: Gauge,
    /// The window the loop is working on.
    pub current_window: Gauge,
    /// The last window whose statement the chain accepted.
    pub last_submitted_window: Gauge,
    /// Current window minus the last submitted one.
    pub submission_lag_windows: Gauge,
    /// Miners per status in the last statement.
    pub window_miners: Family<StatusLabel, Gauge>,
    /// Miners per status over every statement.
    pub miners_total: Family<StatusLabel, Counter>,
    /// Miners this machine scores in a scoring phase (`vram-validator
    /// capacity`), 0 if not measured.
    pub capacity_miners: Gauge,
    /// The network's `max_scored` when the loop started.
    pub max_scored: Gauge,
    /// The validator's SUI balance, MIST (0 on the local ledger).
    pub gas_balance_mist: Gauge,
    /// Time to fetch a window's blobs.
    pub fetch_latency: Histogram,
}

const LATENCY_BOUNDS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("vram");
        let m = Self {
            windows_scored: Counter::default(),
            windows_late: Counter::default(),
            windows_failed: Counter::default(),
            windows_out_of_time: Counter::default(),
            gradients_evaluated: Counter::default(),
            budget: Gauge::default(),
            enclave_restarts: Counter::default(),
            enclave_clock_alerts: Counter::default(),
            enclave_up: Gauge::default(),
            enclave_clock_skew_ms: Gauge::default(),
            current_window: Gauge::default(),
            last_submitted_window: Gauge::default(),
            submission_lag_windows: Gauge::default(),
            window_miners: Family::default(),
            miners_total: Family::default(),
            capacity_miners: Gauge::default(),
            max_scored: Gauge::default(),
            gas_balance_mist: Gauge::default(),
            fetch_latency: Histogram::new(LATENCY_BOUNDS),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "windows_scored",
            "Windows whose statement the chain accepted",
            m.windows_scored.clone(),
        );
        r.register(
            "windows_late",
            "Windows not submitted before their end",
            m.windows_late.clone(),
        );
        r.register(
            "windows_failed",
            "Windows that failed (refused or errored)",
            m.windows_failed.clone(),
        );
        r.register(
            "windows_out_of_time",
            "Windows lost: the budget was not scored before the last moment to sign",
            m.windows_out_of_time.clone(),
        );
        r.register(
            "gradients_evaluated",
            "Gradients the enclave evaluated",
            m.gradients_evaluated.clone(),
        );
        r.register(
            "budget",
            "The validator's declared budget K_v for the window in progress",
            m.budget.clone(),
        );
        r.register(
            "enclave_restarts",
            "Enclave restarts (each registers a new key)",
            m.enclave_restarts.clone(),
        );
        r.register(
            "enclave_clock_alerts",
            "Windows at which the enclave's clock and chain time differed by more than half the seed margin",
            m.enclave_clock_alerts.clone(),
        );
        r.register(
            "enclave_up",
            "1 while the enclave answers and its key is registered",
            m.enclave_up.clone(),
        );
        r.register(
            "enclave_clock_skew_ms",
            "Enclave clock minus chain time at the last window, ms",
            m.enclave_clock_skew_ms.clone(),
        );
        r.register(
            "current_window",
            "The window the loop is working on",
            m.current_window.clone(),
        );
        r.register(
            "last_submitted_window",
            "The last window whose statement the chain accepted",
            m.last_submitted_window.clone(),
        );
        r.register(
            "submission_lag_windows",
            "Current window minus the last submitted one",
            m.submission_lag_windows.clone(),
        );
        r.register(
            "window_miners",
            "Miners per status in the last statement",
            m.window_miners.clone(),
        );
        r.register(
            "miners",
            "Miners per status over every statement",
            m.miners_total.clone(),
        );
        r.register(
            "capacity_miners",
            "Miners this machine scores in a scoring phase (vram-validator capacity; 0 if not measured)",
            m.capacity_miners.clone(),
        );
        r.register(
            "max_scored",
            "The network's max_scored when the loop started",
            m.max_scored.clone(),
        );
        r.register(
            "gas_balance_mist",
            "The validator's SUI balance in MIST (0 on the local ledger)",
            m.gas_balance_mist.clone(),
        );
        r.register(
            "blob_fetch_seconds",
            "Time to fetch one window's gradient blobs",
            m.fetch_latency.clone(),
        );
        r.register(
            "build",
            "The validator's version and evaluator",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                evaluator: vram_enclave::model::EVALUATOR_VERSION.into(),
            }),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The Prometheus text exposition (OpenMetrics).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Records a statement's entries by status word.
    pub fn observe_statuses<'a>(&self, statuses: impl IntoIterator<Item = &'a str>) {
        let mut counts = std::collections::BTreeMap::<&str, i64>::new();
        for s in statuses {
            *counts.entry(s).or_default() += 1;
        }
        for status in ["scored", "missing", "malformed", "stale", "not_evaluated"] {
            let label = StatusLabel {
                status: status.into(),
            };
            let n = counts.get(status).copied().unwrap_or(0);
            self.window_miners.get_or_create(&label).set(n);
            self.miners_total.get_or_create(&label).inc_by(n as u64);
        }
    }
}

/// Serves `GET /metrics` on `bind` from a background thread (axum on a
/// one-thread runtime); returns the bound address.
pub fn serve(metrics: Arc<Metrics>, bind: &str) -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(bind).map_err(|e| Error::Metrics {
        reason: format!("cannot listen on {bind} ([metrics] listen): {e}"),
    })?;
    listener.set_nonblocking(true).map_err(|e| Error::Metrics {
        reason: e.to_string(),
    })?;
    let addr = listener.local_addr().map_err(|e| Error::Metrics {
        reason: e.to_string(),
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Metrics {
            reason: format!("runtime: {e}"),
        })?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let body = metrics.render();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            body,
                        )
                    }
                }),
            );
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "metrics server stopped");
            }
        });
    });
    Ok(addr)
}
