//! One lab node: its directory, its process, and calls to its API.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::{LabError, failed, output_file, tail, terminate, wait_for_line_after};
use crate::pki::https::{self, Answer, Call, ClientError};
use crate::pki::{KeyStore, Purpose};

/// A node's directory and, while it runs, its process (killed when this is dropped, unless detached).
pub struct LabNode {
    pub name: String,
    /// The organisation's name (`Kommun A`).
    pub label: String,
    pub root: PathBuf,
    pub data: PathBuf,
    pub config: PathBuf,
    pub org: String,
    pub functions: Vec<String>,
    pub ap_id: String,
    pub api_port: u16,
    pub as4_port: u16,
    /// The admin listener (plain HTTP: /metrics, /healthz, /readyz).
    pub admin_port: u16,
    /// The bearer token of the organisation's API client.
    pub token: String,
    pub(super) binary: PathBuf,
    pub(super) client: Arc<rustls::ClientConfig>,
    pub(super) process: Option<Child>,
}

impl Drop for LabNode {
    fn drop(&mut self) {
        self.kill();
    }
}

impl LabNode {
    pub fn as4_url(&self) -> String {
        format!("https://127.0.0.1:{}/as4", self.as4_port)
    }

    pub fn api_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    /// The node's log (its standard error; `serve` writes its log there).
    pub fn log_path(&self) -> PathBuf {
        self.root.join("node.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts `sdk-relay serve` and waits until it says `ready`.
    pub fn start(&mut self) -> Result<(), LabError> {
        let out = self.root.join("node.out");
        let from = std::fs::metadata(&out).map_or(0, |m| m.len());
        let mut child = Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdout(output_file(&out)?)
            .stderr(output_file(&self.log_path())?)
            .spawn()
            .map_err(failed(format!("starting {}", self.binary.display())))?;
        if let Err(why) = wait_for_line_after(&out, from, &mut child, |l| l == "ready") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LabError {
                step: format!("starting {}", self.name),
                detail: format!("{why}\n{}", tail(&self.log_path(), 20)),
            });
        }
        self.process = Some(child);
        Ok(())
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// SIGTERM, then waits for the exit; whether it exited successfully.
    pub fn stop(&mut self) -> Result<bool, LabError> {
        let Some(mut p) = self.process.take() else {
            return Ok(true);
        };
        terminate(&p)?;
        let status = p
            .wait()
            .map_err(failed(format!("stopping {}", self.name)))?;
        Ok(status.success())
    }

    /// The running process's id.
    fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Leaves the process running when this is dropped; its id.
    pub fn detach(&mut self) -> Option<u32> {
        self.process.take().map(|c| c.id())
    }

    /// Peak resident memory of the running process so far (VmHWM), in MB; 0 when unknown.
    pub fn peak_memory_mb(&self) -> f64 {
        let status = self
            .pid()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// A handle for API calls with the node's own client token, to move into tasks.
    pub fn api(&self) -> Api {
        self.api_via(self.api_port)
    }

    /// As [`LabNode::api`], through another loopback port that leads to this node's API (a balancer's).
    pub fn api_via(&self, port: u16) -> Api {
        Api {
            base: format!("https://127.0.0.1:{port}"),
            token: self.token.clone(),
            client: self.client.clone(),
        }
    }

    /// One API call with `token`; JSON when there is a body.
    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        Api {
            token: token.to_owned(),
            ..self.api()
        }
        .call(method, path, body)
        .await
    }

    /// `GET path` on the admin listener (plain HTTP on loopback): status and body.
    pub async fn admin_get(&self, path: &str) -> Result<(u16, String), LabError> {
        use http_body_util::BodyExt;
        let step = format!("GET {path} on {}'s admin listener", self.name);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<Bytes>>();
        let uri: hyper::Uri = format!("http://127.0.0.1:{}{path}", self.admin_port)
            .parse()
            .map_err(failed::<hyper::http::uri::InvalidUri>(step.clone()))?;
        let response = tokio::time::timeout(Duration::from_secs(30), client.get(uri))
            .await
            .map_err(|_| LabError {
                step: step.clone(),
                detail: "no answer within 30 s".into(),
            })?
            .map_err(failed(step.clone()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(failed(step))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// One API call with the node's own client token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        self.call_as(&self.token, method, path, body).await
    }

    /// The certificate file (leaf first) of the node's active key for `purpose`: what `smp publish` reads.
    pub(super) fn certificate_file(&self, purpose: Purpose) -> Result<PathBuf, LabError> {
        let entry = KeyStore::open(&self.data)
            .signing(purpose)
            .map_err(failed(format!("{}'s {purpose:?} certificate", self.name)))?;
        Ok(entry.dir().join("cert.pem"))
    }
}

/// A node's API as one client sees it.
#[derive(Clone)]
pub struct Api {
    base: String,
    token: String,
    client: Arc<rustls::ClientConfig>,
}

impl Api {
    /// One call; JSON when there is a body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut headers = vec![("authorization", format!("Bearer {}", self.token))];
        if body.is_some() {
            headers.push(("content-type", "application/json".into()));
        }
        https::send(
            self.client.clone(),
            Call {
                method,
                url: &url,
                headers,
                body: Bytes::from(body.unwrap_or_default()),
            },
            Duration::from_secs(300),
            512 * 1024 * 1024,
        )
        .await
    }

    /// POSTs a createMessage body; the new message's id (from the Location of the 201).
    pub async fn submit(&self, body: Vec<u8>) -> Result<String, LabError> {
        let answer = self
            .call("POST", "/v1/sdk/messages", Some(body))
            .await
            .map_err(failed("POST /v1/sdk/messages"))?;
        if answer.status != 201 {
            return Err(LabError {
                step: "POST /v1/sdk/messages".into(),
                detail: format!(
                    "{} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            });
        }
        answer
            .location
            .as_deref()
            .and_then(|l| l.rsplit('/').next())
            .map(str::to_owned)
            .ok_or_else(|| LabError {
                step: "POST /v1/sdk/messages".into(),
                detail: "a 201 without Location".into(),
            })
    }

    /// The messages the client may see (the `data` array), with `query` (`filter[...]=...`, may be empty).
    pub async fn list(&self, query: &str) -> Result<Vec<Value>, LabError> {
        let path = match query {
            "" => "/v1/sdk/messages".to_owned(),
            q => format!("/v1/sdk/messages?{q}"),
        };
        match self.data(&path).await? {
            Value::Array(all) => Ok(all),
            other => Err(LabError {
                step: format!("GET {path}"),
                detail: format!("`data` is not a list: {other}"),
            }),
        }
    }

    /// A message's JSON (`data`), by id.
    pub async fn message(&self, id: &str) -> Result<Value, LabError> {
        self.data(&format!("/v1/sdk/messages/{id}")).await
    }

    /// The `data` of a 200 answer to GET `path`; any other answer is an error naming it.
    async fn data(&self, path: &str) -> Result<Value, LabError> {
        let step = format!("GET {path}");
        let answer = self
            .call("GET", path, None)
            .await
            .map_err(failed(step.clone()))?;
        if answer.status != 200 {
            return Err(LabError {
                step,
                detail: format!(
                    "{} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            });
        }
        serde_json::from_slice::<Value>(&answer.body)
            .map(|mut v| v["data"].take())
            .map_err(failed(step))
    }
}
