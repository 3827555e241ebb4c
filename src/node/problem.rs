//! RFC 7807 problem documents for API clients, in the shape of the MT-MK recommendation's `Events`: a problem
//! with `eventIssues`, each naming the field it is about (`in`, a JSON pointer).

use serde::Serialize;

use super::json::{FieldError, FieldErrors};
use crate::clip::{MAX_LISTED, clip, clip_owned, echo};

/// Bytes of a problem's `detail`, whatever the caller put in it (a path, a value from the request).
pub const MAX_DETAIL: usize = 2048;
/// Bytes the listed `eventIssues` may take together in the answer, measured as serialized (escaping
/// included): what a client can act on in one round, and a bound on the answer whatever the request holds.
const ISSUE_BYTES: usize = 10 * 1024;
/// Bytes of one issue's detail.
const ISSUE_DETAIL: usize = 400;

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
    /// The detail is cut to [`MAX_DETAIL`]: it goes into the answer and into the audit log.
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:problem-type:sdk-relay:{kind}"),
            title: title.to_owned(),
            status,
            detail: clip_owned(detail.into(), MAX_DETAIL),
            issues: Vec::new(),
        }
    }

    /// 400 for a request whose fields are wrong, one issue per field.
    pub fn invalid_fields(errors: &[FieldError]) -> Problem {
        Problem::invalid_request(&FieldErrors {
            listed: errors.to_vec(),
            unlisted: 0,
        })
    }

    /// 400 for a request whose fields are wrong: one issue per field for the first [`MAX_LISTED`] (fewer when
    /// they are long), then one saying how many more there are, so the answer stays small whatever was sent.
    pub fn invalid_request(errors: &FieldErrors) -> Problem {
        let total = errors.total();
        let mut issues = Vec::new();
        let mut used = 0;
        for e in errors.listed.iter().take(MAX_LISTED) {
            let issue = Issue {
                type_code: "MESSAGE_EXCHANGE_ERROR".into(),
                title: "the request is not valid".into(),
                detail: clip(&e.detail, ISSUE_DETAIL).into_owned(),
                location: Some(echo(&e.pointer).into_owned()),
            };
            used += serialized_len(&issue);
            if used > ISSUE_BYTES {
                break;
            }
            issues.push(issue);
        }
        let mut detail = String::new();
        let mut shown = 0;
        for e in &issues {
            let part = format!(
                "{}{}: {}",
                if shown == 0 { "" } else { "; " },
                display_pointer(e.location.as_deref().unwrap_or_default()),
                e.detail
            );
            // Room is kept for the count of the rest, which must not be the part that gets cut.
            if serialized_len(&detail) + serialized_len(&part) > MAX_DETAIL - 64 {
                break;
            }
            detail.push_str(&part);
            shown += 1;
        }
        if shown < total {
            if shown > 0 {
                detail.push_str("; ");
            }
            detail.push_str(&and_more(total - shown));
        }
        if issues.len() < total {
            issues.push(Issue {
                type_code: "MESSAGE_EXCHANGE_ERROR".into(),
                title: "further problems, not listed".into(),
                detail: and_more(total - issues.len()),
                location: None,
            });
        }
        Problem {
            issues,
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

/// How a list that stops early says so.
fn and_more(n: usize) -> String {
    format!("…and {n} more")
}

/// The length of `v` in JSON, escaping included.
fn serialized_len(v: &impl Serialize) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX / 2, |b| b.len())
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the body"
    } else {
        pointer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(pointer: String, detail: &str) -> FieldError {
        FieldError {
            pointer,
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn a_few_problems_are_all_listed_with_nothing_more_said() {
        let p = Problem::invalid_fields(&[
            field("/a".into(), "is required"),
            field(String::new(), "not JSON"),
        ]);
        assert_eq!(p.detail, "/a: is required; the body: not JSON");
        assert_eq!(p.issues.len(), 2);
        assert!(!p.to_json().windows(3).any(|w| w == "…".as_bytes()));
    }

    #[test]
    fn many_problems_give_a_bounded_answer_that_counts_the_rest() {
        let listed: Vec<FieldError> = (0..MAX_LISTED)
            .map(|i| field(format!("/data/attributes/f{i}"), "unknown field"))
            .collect();
        let p = Problem::invalid_request(&FieldErrors {
            listed,
            unlisted: 99_980,
        });
        assert_eq!(p.issues.len(), MAX_LISTED + 1);
        let last = p.issues.last().unwrap();
        assert_eq!(last.detail, "…and 99980 more");
        assert_eq!(last.location, None);
        assert!(p.detail.ends_with("; …and 99980 more"), "{}", p.detail);
        assert!(p.to_json().len() < 16 * 1024);
    }

    #[test]
    fn long_and_escaped_problems_stop_at_the_byte_budget() {
        // Control characters take six bytes each once escaped in JSON.
        let nasty = "\u{1}".repeat(10_000);
        let listed: Vec<FieldError> = (0..MAX_LISTED)
            .map(|_| field(nasty.clone(), &nasty))
            .collect();
        let p = Problem::invalid_request(&FieldErrors {
            listed,
            unlisted: 5,
        });
        let json = p.to_json();
        assert!(json.len() < 16 * 1024, "{} bytes", json.len());
        let last = p.issues.last().unwrap();
        let listed = p.issues.len() - 1;
        assert!(listed < MAX_LISTED);
        assert_eq!(
            last.detail,
            format!("…and {} more", MAX_LISTED + 5 - listed)
        );
    }

    #[test]
    fn any_detail_is_cut() {
        let p = Problem::not_found(format!("no such path: /{}", "x".repeat(65_000)));
        assert!(p.detail.len() <= MAX_DETAIL + 3);
    }
}
