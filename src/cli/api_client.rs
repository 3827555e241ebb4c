//! The CLI's side of a node's organisation API: the connection options every API command shares, one HTTPS
//! request at a time, and turning the node's problem documents into messages a person can act on.
//!
//! These commands never open the data directory: a running node holds its database open, so the API is the
//! only way in.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use serde_json::Value;

use super::exit;
use crate::pki::https::{self, Call};

/// A node answers API calls quickly (a send waits only for the SMP lookup and sealing); a minute covers a slow
/// SMP without leaving a script hanging on a dead one.
const TIMEOUT: Duration = Duration::from_secs(60);
/// A received message shows its files inline (base64), and a node accepts messages of up to 30 MiB by
/// default; this leaves room for nodes configured larger.
const ANSWER_LIMIT: usize = 512 * 1024 * 1024;

/// How to reach a node's organisation API (flattened into every API command).
#[derive(clap::Args, Clone)]
pub struct Connection {
    /// The node's organisation API ([api] listen in its configuration).
    #[arg(
        long = "api",
        env = "SDK_RELAY_API",
        default_value = "https://127.0.0.1:8443",
        value_name = "URL"
    )]
    pub api: String,
    /// The API client's bearer token (made by `sdk-relay clients add`).
    // The value is never shown in --help, even when it comes from the environment.
    #[arg(
        long,
        env = "SDK_RELAY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: String,
    /// The CA certificate(s) that issued the node's TLS certificate (PEM or DER).
    #[arg(long, env = "SDK_RELAY_CA", value_name = "PEM")]
    pub ca: PathBuf,
}

/// The node answered, but refused or failed the request (a problem document, or any non-2xx answer).
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    /// The problem's title and detail, and one line per field issue.
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// A successful answer: where a new resource is, and the JSON body (`Null` when there is none).
pub struct Reply {
    pub location: Option<String>,
    pub body: Value,
}

/// A connection to one node's API: the TLS configuration and a small runtime to run requests on.
pub struct Api {
    base: String,
    token: String,
    tls: Arc<rustls::ClientConfig>,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// Reads the CA file and checks the options; nothing is sent yet.
    pub fn new(connection: &Connection) -> Result<Api> {
        let base = connection.api.trim_end_matches('/').to_owned();
        if !base.starts_with("https://") {
            bail!("--api {base}: the organisation API is only served over https://");
        }
        let token = connection.token.trim().to_owned();
        // hyper would refuse such a header only once the connection is open, as if the node were unreachable.
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            bail!(
                "--token must be the token `sdk-relay clients add` printed (visible ASCII, no spaces)"
            );
        }
        let path = &connection.ca;
        let bytes = std::fs::read(path).with_context(|| format!("--ca {}", path.display()))?;
        let roots = crate::pki::read_certificates(&bytes, &path.display().to_string())?;
        let tls = crate::pki::tls::client_config_with_roots(&roots)?;
        // One request at a time needs no worker threads.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        Ok(Api {
            base,
            token,
            tls,
            runtime,
        })
    }

    pub fn get(&self, path: &str) -> Result<Reply> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Reply> {
        self.call("POST", path, body)
    }

    pub fn delete(&self, path: &str) -> Result<Reply> {
        self.call("DELETE", path, None)
    }

    /// The absolute URL of an API path (a Location the node gave, say).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request. A non-2xx answer is a [`Refused`] error; no answer at all is any other error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = self.url(path);
        let mut headers = vec![
            ("authorization", format!("Bearer {}", self.token)),
            ("accept", "application/json".to_owned()),
        ];
        let body = match body {
            Some(value) => {
                headers.push(("content-type", "application/json".to_owned()));
                Bytes::from(serde_json::to_vec(value)?)
            }
            None => Bytes::new(),
        };
        let call = Call {
            method,
            url: &url,
            headers,
            body,
        };
        let answer = self
            .runtime
            .block_on(https::send(self.tls.clone(), call, TIMEOUT, ANSWER_LIMIT))
            .map_err(|e| {
                let context = format!("no answer from the node to {method}{}", hint(&e));
                anyhow::Error::new(e).context(context)
            })?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(answer.status, &answer.content_type, &answer.body).into());
        }
        let body = if answer.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.body)
                .with_context(|| format!("{method} {url}: the answer is not JSON"))?
        };
        Ok(Reply {
            location: answer.location,
            body,
        })
    }
}

/// What to check when the TLS handshake failed: almost always the wrong CA file (or the wrong host name).
fn hint(e: &https::ClientError) -> &'static str {
    match e {
        https::ClientError::Unreachable { detail, .. } if detail.starts_with("TLS") => {
            " (is --ca the CA that issued the node's TLS certificate, and --api its name?)"
        }
        _ => "",
    }
}

/// "HTTP 400 Bad Request: <detail>" and, below it, each field issue by its JSON pointer. An answer that is
/// not a problem document (a proxy's error page, say) is shown as text, shortened.
fn refused(status: u16, content_type: &str, body: &[u8]) -> Refused {
    let problem = content_type
        .contains("json")
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten()
        .filter(Value::is_object);
    let message = match problem {
        Some(p) => problem_text(status, &p),
        None => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(500).collect();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {text}")
            }
        }
    };
    Refused { status, message }
}

fn problem_text(status: u16, problem: &Value) -> String {
    let field = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let title = field(problem, "title");
    let detail = field(problem, "detail");
    let mut out = format!("HTTP {status}");
    if !title.is_empty() {
        out.push(' ');
        out.push_str(&title);
    }
    if !detail.is_empty() {
        out.push_str(": ");
        out.push_str(&detail);
    }
    let issues = problem.get("eventIssues").and_then(Value::as_array);
    for issue in issues.into_iter().flatten() {
        let at = field(issue, "in");
        let at = if at.is_empty() {
            "the body".to_owned()
        } else {
            at
        };
        out.push_str(&format!("\n  {at}: {}", field(issue, "detail")));
    }
    out
}

/// Prints an API command's error and maps it to the exit code: 1 when the node refused the request (4xx: the
/// request, token or id is wrong), 2 for usage and I/O errors, an unreachable node and the node's own
/// failures (5xx: trying again later may work).
pub fn finish(result: Result<u8>) -> ExitCode {
    match result {
        Err(e) => match e.downcast_ref::<Refused>() {
            Some(r) => {
                eprintln!("error: {}", r.message);
                if (400..500).contains(&r.status) {
                    ExitCode::from(exit::FOUND_PROBLEMS)
                } else {
                    ExitCode::from(exit::USAGE_OR_IO)
                }
            }
            None => super::finish(Err(e)),
        },
        ok => super::finish(ok),
    }
}

/// Percent-encodes a path segment or query component: everything but RFC 3986's unreserved characters, so an
/// id or filter value can never change the request's shape.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path of one message.
pub fn message_path(id: &str) -> String {
    format!("/v1/sdk/messages/{}", encode(id))
}

/// A string member of a JSON object, or "" (the node leaves out what it does not know).
pub fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Prints a value as indented JSON.
pub fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Rows as columns padded to their widest cell (the last column is not padded: it is free text).
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    (*c).to_owned()
                } else {
                    format!("{c:<width$}", width = widths[i])
                }
            })
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_names_status_title_detail_and_each_field() {
        let body = json!({
            "type": "urn:problem-type:sdk-relay:bad-request", "title": "Bad Request", "status": 400,
            "detail": "/data/attributes/recipient: not registered",
            "eventIssues": [
                {"typeCode": "MESSAGE_EXCHANGE_ERROR", "title": "the request is not valid",
                 "detail": "not registered", "in": "/data/attributes/recipient"},
                {"typeCode": "MESSAGE_EXCHANGE_ERROR", "title": "t", "detail": "not JSON", "in": ""}
            ]
        });
        let r = refused(
            400,
            "application/problem+json",
            &serde_json::to_vec(&body).unwrap(),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.message,
            "HTTP 400 Bad Request: /data/attributes/recipient: not registered\n  \
             /data/attributes/recipient: not registered\n  the body: not JSON"
        );
    }

    #[test]
    fn an_answer_that_is_no_problem_document_is_shown_as_text() {
        assert_eq!(
            refused(502, "text/html", b"  <h1>Bad gateway</h1>\n").message,
            "HTTP 502: <h1>Bad gateway</h1>"
        );
        assert_eq!(refused(404, "application/json", b"").message, "HTTP 404");
        assert_eq!(
            refused(400, "application/json", b"[1]").message,
            "HTTP 400: [1]"
        );
        let long = "x".repeat(2000);
        assert_eq!(
            refused(500, "text/plain", long.as_bytes()).message.len(),
            "HTTP 500: ".len() + 500
        );
    }

    #[test]
    fn only_unreserved_characters_pass_unencoded() {
        assert_eq!(encode("ff32-10_a.b~"), "ff32-10_a.b~");
        assert_eq!(encode("filter[messageStatus]"), "filter%5BmessageStatus%5D");
        assert_eq!(encode("../a b&c=d/é"), "..%2Fa%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(message_path("a/b?c"), "/v1/sdk/messages/a%2Fb%3Fc");
    }

    #[test]
    fn options_are_checked_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let connection = |api: &str, token: &str, ca: PathBuf| Connection {
            api: api.into(),
            token: token.into(),
            ca,
        };
        let missing = dir.path().join("missing.pem");
        let err = |c: Connection| format!("{:#}", Api::new(&c).err().unwrap());
        assert!(err(connection("http://127.0.0.1:1", "t", missing.clone())).contains("https://"));
        assert!(err(connection("https://h", "a b", missing.clone())).contains("--token"));
        assert!(err(connection("https://h", "", missing.clone())).contains("--token"));
        assert!(err(connection("https://h", "t", missing.clone())).contains("missing.pem"));
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "-----BEGIN NOTHING-----\n").unwrap();
        assert!(Api::new(&connection("https://h", "t", not_pem)).is_err());
    }
}
