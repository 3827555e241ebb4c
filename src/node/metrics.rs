//! Counters for `GET /metrics` (Prometheus text format). Gauges that the store knows (messages by status,
//! queue depth) are read from it when scraped; the rest are counted here as things happen.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub duplicates: AtomicU64,
    /// Envelopes refused as replays: an XHE id, AS4 MessageId or content key seen before, or too old.
    pub replays: AtomicU64,
    /// Verified envelopes whose payload could not be opened (answered with the one fixed REJECTED reason).
    pub open_failures: AtomicU64,
    /// Times a sender organisation reached the open-failure threshold and was refused from then on.
    pub senders_blocked: AtomicU64,
    /// Send latency (queue to verified transport receipt), seconds as Prometheus asks: sum, count, buckets.
    latency: Mutex<Histogram>,
    /// Errors by code: ebMS codes from peers and our refusals, `http-<status>` for API problems. The label
    /// set is closed ([`error_label`]): a peer's Error signal names its own `errorCode`.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// The gauges read from the store, and when: a scrape reuses them for [`GAUGES_FRESH_FOR`], so a storm
    /// of scrapes costs at most one store scan per interval.
    gauges: Mutex<Option<(std::time::Instant, Gauges)>>,
}

/// Gauges as `(name with labels, value)`.
pub type Gauges = Vec<(String, f64)>;

/// How long gauges read from the store are reused.
pub const GAUGES_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

impl Metrics {
    /// The cached gauges if they are fresh, or `read()`'s, remembered.
    pub fn gauges(&self, read: impl FnOnce() -> Vec<(String, f64)>) -> Vec<(String, f64)> {
        let mut cached = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, gauges)) = cached.as_ref()
            && at.elapsed() < GAUGES_FRESH_FOR
        {
            return gauges.clone();
        }
        let gauges = read();
        *cached = Some((std::time::Instant::now(), gauges.clone()));
        gauges
    }
}

/// The `code` label for an error: a known ebMS code, one of our own reasons, an HTTP status the API answers
/// with, or `other`. Anything a peer wrote is never copied into the exposition: it could break the format
/// with quotes or newlines and grow the label set without bound.
pub fn error_label(code: &str) -> &'static str {
    const OURS: [&str; 2] = ["retry", "peer-certificate"];
    const HTTP: [&str; 13] = [
        "http-400", "http-401", "http-403", "http-404", "http-405", "http-406", "http-409",
        "http-413", "http-415", "http-422", "http-429", "http-500", "http-503",
    ];
    if let Some(known) = crate::as4::ErrorCode::parse(code) {
        return known.as_str();
    }
    OURS.iter()
        .chain(HTTP.iter())
        .find(|l| **l == code)
        .copied()
        .unwrap_or("other")
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
    count: u64,
}

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

impl Metrics {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, code: &str) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *errors.entry(error_label(code)).or_default() += 1;
    }

    pub fn send_latency(&self, seconds: f64) {
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.sum_seconds += seconds;
        h.count += 1;
    }

    /// The exposition: these counters plus the gauges given (`name{labels}` → value).
    pub fn render(&self, gauges: &[(String, f64)]) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        };
        counter(
            &mut out,
            "sdk_relay_as4_sent_total",
            "AS4 messages sent with a verified receipt",
            self.sent.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sdk_relay_as4_received_total",
            "AS4 messages received and acknowledged",
            self.received.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sdk_relay_as4_duplicates_total",
            "AS4 messages received again and acknowledged without a second delivery",
            self.duplicates.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sdk_relay_replays_refused_total",
            "Envelopes refused as replays (XHE id, AS4 MessageId or content key seen before, or too old)",
            self.replays.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sdk_relay_open_failures_total",
            "Verified envelopes whose payload could not be opened",
            self.open_failures.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sdk_relay_senders_blocked_total",
            "Sender organisations refused after too many open failures (alert on any increase)",
            self.senders_blocked.load(Ordering::Relaxed),
        );
        out.push_str(
            "# HELP sdk_relay_errors_total Errors by code\n# TYPE sdk_relay_errors_total counter\n",
        );
        for (code, n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("sdk_relay_errors_total{{code=\"{code}\"}} {n}\n"));
        }
        let h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP sdk_relay_send_latency_seconds From queue to verified AS4 receipt\n# TYPE sdk_relay_send_latency_seconds histogram\n");
        for (bound, n) in BUCKETS.iter().zip(h.buckets.iter()) {
            out.push_str(&format!(
                "sdk_relay_send_latency_seconds_bucket{{le=\"{bound}\"}} {n}\n"
            ));
        }
        out.push_str(&format!(
            "sdk_relay_send_latency_seconds_bucket{{le=\"+Inf\"}} {}\nsdk_relay_send_latency_seconds_sum {}\nsdk_relay_send_latency_seconds_count {}\n",
            h.count, h.sum_seconds, h.count
        ));
        let mut last = String::new();
        for (name, value) in gauges {
            let family = name.split('{').next().unwrap_or(name);
            if family != last {
                out.push_str(&format!("# TYPE {family} gauge\n"));
                last = family.to_owned();
            }
            out.push_str(&format!("{name} {value}\n"));
        }
        out
    }
}
