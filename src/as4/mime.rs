//! SOAP with Attachments: the `multipart/related` body of an AS4 message. The SOAP envelope is the root part
//! (`start`), each payload a part named by its Content-ID (`cid:` in `eb:PartInfo/@href`).

use base64::Engine;

use super::error::{EbmsError, ErrorCode};

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Without the angle brackets: `message` for `Content-ID: <message>` and `href="cid:message"`.
    pub content_id: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A parsed AS4 body: the SOAP envelope and the attachments in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    pub soap: Part,
    pub attachments: Vec<Part>,
}

/// Bounds on what the reader accepts.
#[derive(Debug, Clone, Copy)]
pub struct MimeLimits {
    pub max_parts: usize,
    pub max_header_bytes: usize,
    pub max_part_bytes: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_parts: 64,
            max_header_bytes: 8 * 1024,
            max_part_bytes: 256 * 1024 * 1024,
        }
    }
}

pub const SOAP_CONTENT_TYPE: &str = "application/soap+xml";
const ROOT_ID: &str = "root.message@sdk-relay";

/// Writes the body and returns it with its Content-Type header value.
pub fn write(soap: &[u8], attachments: &[Part]) -> (String, Vec<u8>) {
    let boundary = format!("MIMEBoundary_{}", uuid::Uuid::new_v4().simple());
    let content_type = format!(
        "multipart/related; boundary=\"{boundary}\"; type=\"{SOAP_CONTENT_TYPE}\"; start=\"<{ROOT_ID}>\""
    );
    let size: usize = soap.len()
        + attachments
            .iter()
            .map(|a| a.body.len() + 256)
            .sum::<usize>()
        + 512;
    let mut body = Vec::with_capacity(size);
    let mut part = |id: &str, ty: &str, bytes: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Type: {ty}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{id}>\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    part(
        ROOT_ID,
        &format!("{SOAP_CONTENT_TYPE}; charset=UTF-8"),
        soap,
    );
    for a in attachments {
        part(&a.content_id, &a.content_type, &a.body);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (content_type, body)
}

fn mime_error(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::MimeInconsistency, detail)
}

/// Reads an AS4 HTTP body. A plain `application/soap+xml` body (a signal, or a message without payloads) is a
/// SOAP part with no attachments.
pub fn read(content_type: &str, body: &[u8], limits: &MimeLimits) -> Result<Multipart, EbmsError> {
    let ty: mime::Mime = content_type
        .parse()
        .map_err(|e| mime_error(format!("Content-Type {content_type:?} does not parse: {e}")))?;
    if ty.essence_str() == SOAP_CONTENT_TYPE {
        return Ok(Multipart {
            soap: Part {
                content_id: String::new(),
                content_type: content_type.to_owned(),
                body: body.to_vec(),
            },
            attachments: Vec::new(),
        });
    }
    if ty.essence_str() != "multipart/related" {
        return Err(mime_error(format!(
            "Content-Type is {}, expected multipart/related (SOAP with attachments) or {SOAP_CONTENT_TYPE}",
            ty.essence_str()
        )));
    }
    let boundary = ty
        .get_param(mime::BOUNDARY)
        .ok_or_else(|| mime_error("multipart/related without a boundary"))?
        .as_str()
        .to_owned();
    if let Some(root_type) = ty.get_param("type")
        && root_type.as_str() != SOAP_CONTENT_TYPE
    {
        return Err(mime_error(format!(
            "the root part's type is {}, expected {SOAP_CONTENT_TYPE} (SOAP 1.2)",
            root_type.as_str()
        )));
    }
    let start = ty
        .get_param("start")
        .map(|s| strip_angles(s.as_str()).to_owned());
    let mut parts = split(body, &boundary, limits)?;
    if parts.is_empty() {
        return Err(mime_error("the multipart body has no parts"));
    }
    let root = match &start {
        Some(id) => parts
            .iter()
            .position(|p| &p.content_id == id)
            .ok_or_else(|| mime_error(format!("no part has the start Content-ID <{id}>")))?,
        None => 0,
    };
    let soap = parts.remove(root);
    let mut seen = std::collections::HashSet::new();
    for p in &parts {
        if p.content_id.is_empty() {
            return Err(mime_error("an attachment has no Content-ID"));
        }
        if !seen.insert(p.content_id.as_str()) {
            return Err(mime_error(format!(
                "two parts have Content-ID <{}>",
                p.content_id
            )));
        }
    }
    Ok(Multipart {
        soap,
        attachments: parts,
    })
}

fn strip_angles(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(haystack.get(from..)?, needle).map(|p| p + from)
}

/// Splits the body at `--boundary` delimiter lines; the preamble and epilogue are ignored.
fn split(body: &[u8], boundary: &str, limits: &MimeLimits) -> Result<Vec<Part>, EbmsError> {
    let delimiter = format!("--{boundary}");
    let first = find(body, delimiter.as_bytes(), 0)
        .ok_or_else(|| mime_error("the boundary never occurs in the body"))?;
    let mut at = first + delimiter.len();
    let inner = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding after the delimiter, then CRLF.
        let line_end =
            find(body, b"\r\n", at).ok_or_else(|| mime_error("a delimiter line does not end"))?;
        if !body[at..line_end].iter().all(|b| *b == b' ' || *b == b'\t') {
            return Err(mime_error("text after a boundary delimiter"));
        }
        let start = line_end + 2;
        let end = find(body, inner.as_bytes(), start)
            .ok_or_else(|| mime_error("a part is not closed by the boundary (truncated body?)"))?;
        if parts.len() == limits.max_parts {
            return Err(mime_error(format!(
                "more than {} MIME parts",
                limits.max_parts
            )));
        }
        parts.push(part(&body[start..end], limits)?);
        at = end + inner.len();
    }
}

fn part(raw: &[u8], limits: &MimeLimits) -> Result<Part, EbmsError> {
    let header_end = find(raw, b"\r\n\r\n", 0)
        .map(|h| (h, h + 4))
        .or_else(|| raw.starts_with(b"\r\n").then_some((0, 2)))
        .ok_or_else(|| mime_error("a part's headers do not end with an empty line"))?;
    if header_end.0 > limits.max_header_bytes {
        return Err(mime_error(format!(
            "a part's headers exceed {} bytes",
            limits.max_header_bytes
        )));
    }
    let headers = std::str::from_utf8(&raw[..header_end.0])
        .map_err(|_| mime_error("part headers are not UTF-8"))?;
    let content = &raw[header_end.1..];
    if content.len() > limits.max_part_bytes {
        return Err(mime_error(format!(
            "a part exceeds {} bytes",
            limits.max_part_bytes
        )));
    }
    let (mut id, mut ty, mut encoding) = (
        String::new(),
        String::from("application/octet-stream"),
        String::from("binary"),
    );
    for line in unfold(headers) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(mime_error(format!("malformed part header {line:?}")));
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-id" => id = strip_angles(value).to_owned(),
            "content-type" => ty = value.trim().to_owned(),
            "content-transfer-encoding" => encoding = value.trim().to_ascii_lowercase(),
            _ => {}
        }
    }
    let body = match encoding.as_str() {
        "binary" | "8bit" | "7bit" => content.to_vec(),
        "base64" => {
            let text: Vec<u8> = content
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| mime_error(format!("part <{id}> is not valid base64: {e}")))?
        }
        other => {
            return Err(EbmsError::new(
                ErrorCode::FeatureNotSupportedUnpackaging,
                format!(
                    "Content-Transfer-Encoding {other} is not supported (binary, 8bit, 7bit, base64 are)"
                ),
            ));
        }
    };
    Ok(Part {
        content_id: id,
        content_type: ty,
        body,
    })
}

/// Header lines with folded continuations joined.
fn unfold(headers: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in headers.split("\r\n") {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.to_owned()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(id: &str, body: &[u8]) -> Part {
        Part {
            content_id: id.into(),
            content_type: "application/octet-stream".into(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn written_bodies_read_back_in_order_with_binary_content_intact() {
        let payloads = vec![
            attachment(
                "message",
                b"\x1f\x8b\x08\x00\r\n--MIMEBoundary_fake\r\n\x00\xff",
            ),
            attachment("second", b""),
        ];
        let (ty, body) = write(b"<S12:Envelope/>", &payloads);
        let read = read(&ty, &body, &MimeLimits::default()).unwrap();
        assert_eq!(read.soap.body, b"<S12:Envelope/>");
        assert_eq!(read.attachments, payloads);
    }

    #[test]
    fn broken_bodies_are_mime_inconsistencies() {
        let (ty, body) = write(b"<S12:Envelope/>", &[attachment("message", b"abc")]);
        let truncated = &body[..body.len() - 30];
        assert_eq!(
            read(&ty, truncated, &MimeLimits::default())
                .unwrap_err()
                .code,
            ErrorCode::MimeInconsistency
        );
        let limits = MimeLimits {
            max_parts: 1,
            ..MimeLimits::default()
        };
        assert_eq!(
            read(&ty, &body, &limits).unwrap_err().code,
            ErrorCode::MimeInconsistency
        );
        let twice = write(b"<e/>", &[attachment("a", b"1"), attachment("a", b"2")]);
        assert!(
            read(&twice.0, &twice.1, &MimeLimits::default())
                .unwrap_err()
                .detail
                .contains("two parts")
        );
        assert_eq!(
            read("text/plain", &body, &MimeLimits::default())
                .unwrap_err()
                .code,
            ErrorCode::MimeInconsistency
        );
        // Found by fuzzing: a body that closes before its first part.
        let empty = read(
            "multipart/related; boundary=b",
            b"--b--\r\n",
            &MimeLimits::default(),
        );
        assert_eq!(empty.unwrap_err().code, ErrorCode::MimeInconsistency);
    }
}
