//! RFC 7807 problem documents for API clients, in the shape of the MT-MK recommendation's `Events`: a problem
//! with `eventIssues`, each naming the field it is about (`in`, a JSON pointer).

use serde::Serialize;

use super::json::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    #[serde(rename = "typeCode")]
    pub type_code: String,
    pub title: String,
    pub detail: String,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(rename = "eventIssues", skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
}

pub const CONTENT_TYPE: &str = "application/problem+json";

impl Problem {
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:problem-type:sdk-relay:{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            issues: Vec::new(),
        }
    }

    /// 400 for a request whose fields are wrong, one issue per field.
    pub fn invalid_fields(errors: &[FieldError]) -> Problem {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", display_pointer(&e.pointer), e.detail))
            .collect::<Vec<_>>()
            .join("; ");
        Problem {
            issues: errors
                .iter()
                .map(|e| Issue {
                    type_code: "MESSAGE_EXCHANGE_ERROR".into(),
                    title: "the request is not valid".into(),
                    detail: e.detail.clone(),
                    location: Some(e.pointer.clone()),
                })
                .collect(),
            ..Problem::new(400, "bad-request", "Bad Request", detail)
        }
    }

    /// 400 about one field.
    pub fn field(pointer: &str, detail: impl Into<String>) -> Problem {
        Problem::invalid_fields(&[FieldError {
            pointer: pointer.to_owned(),
            detail: detail.into(),
        }])
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            401,
            "unauthorized",
            "Unauthorized",
            "give a bearer token made by `sdk-relay clients add` (Authorization: Bearer sdkr_…)",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not-found", "Not Found", detail)
    }

    pub fn too_large(limit: u64) -> Problem {
        Problem::new(
            413,
            "too-large",
            "Payload Too Large",
            format!(
                "the request is larger than this node's limit of {limit} bytes ([limits] api_message_bytes)"
            ),
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "unavailable", "Service Unavailable", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(500, "internal", "Internal Server Error", detail)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the body"
    } else {
        pointer
    }
}
