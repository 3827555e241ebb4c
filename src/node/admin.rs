//! The admin listener's answers: the Prometheus exposition and the liveness and readiness probes. They need
//! no token, so they live apart from the organisation API, on a listener meant for loopback.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use super::Node;
use super::api::Reply;
use crate::store::{Filter, Status};

impl Node {
    /// `GET /metrics`, `/healthz` or `/readyz`; 404 for anything else. Store reads run off the runtime threads.
    pub async fn admin(self: &Arc<Self>, method: &str, path: &str) -> Reply {
        if method != "GET" {
            return not_here();
        }
        let node = self.clone();
        match path {
            "/metrics" => {
                let text = tokio::task::spawn_blocking(move || node.render_metrics())
                    .await
                    .unwrap_or_else(|e| format!("# the exposition failed: {e}\n"));
                Reply::text(200, "text/plain; version=0.0.4", text)
            }
            "/healthz" => Reply::json(200, &json!({"status": "ok", "node": self.config.node.name})),
            "/readyz" => {
                let problems = tokio::task::spawn_blocking(move || node.not_ready())
                    .await
                    .unwrap_or_else(|e| vec![format!("the readiness check failed: {e}")]);
                if problems.is_empty() {
                    Reply::json(200, &json!({"status": "ready"}))
                } else {
                    Reply::json(503, &json!({"status": "not ready", "problems": problems}))
                }
            }
            _ => not_here(),
        }
    }

    /// Why this node cannot take and send messages now: the store does not answer, or a key it signs with has
    /// a certificate outside its validity. Empty when it can.
    fn not_ready(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.store.due(OffsetDateTime::now_utc(), 1) {
            problems.push(format!("the store does not answer: {e}"));
        }
        let now = OffsetDateTime::now_utc();
        for (purpose, cert) in self.signing_certificates() {
            match crate::pki::CertInfo::parse(cert) {
                Ok(info) if info.not_after < now => problems.push(format!(
                    "the {purpose} certificate expired at {}",
                    info.not_after
                )),
                Ok(info) if info.not_before > now => problems.push(format!(
                    "the {purpose} certificate is valid only from {}",
                    info.not_before
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!("the {purpose} certificate: {e}")),
            }
        }
        problems
    }

    fn signing_certificates(
        &self,
    ) -> [(&'static str, &rustls_pki_types::CertificateDer<'static>); 2] {
        [
            ("ap", self.keys.ap_signer.certificate()),
            ("o2o-sign", self.keys.o2o_sign.certificate()),
        ]
    }

    /// The metrics exposition: the counters, the store's gauges (read at most once per
    /// `metrics::GAUGES_FRESH_FOR`) and the certificates' days left.
    pub fn render_metrics(&self) -> String {
        let mut gauges = self.metrics.gauges(|| self.store_gauges());
        let now = OffsetDateTime::now_utc();
        for (purpose, cert) in self.signing_certificates() {
            if let Ok(info) = crate::pki::CertInfo::parse(cert) {
                let days = (info.not_after - now).whole_seconds() as f64 / 86_400.0;
                gauges.push((
                    format!("sdk_relay_certificate_days_left{{purpose=\"{purpose}\"}}"),
                    days,
                ));
            }
        }
        self.metrics.render(&gauges)
    }

    fn store_gauges(&self) -> Vec<(String, f64)> {
        let mut gauges = Vec::new();
        if let Ok(all) = self.store.list(&Filter::default()) {
            for status in Status::ALL {
                let n = all.iter().filter(|m| m.status == status).count();
                gauges.push((
                    format!("sdk_relay_messages{{status=\"{status}\"}}"),
                    n as f64,
                ));
            }
        }
        if let Ok(queue) = self.queued() {
            gauges.push(("sdk_relay_queue_depth".to_owned(), queue.len() as f64));
        }
        gauges
    }
}

fn not_here() -> Reply {
    Reply::text(
        404,
        "text/plain",
        "the admin listener answers GET /metrics, /healthz and /readyz\n".into(),
    )
}
