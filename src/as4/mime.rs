//! SOAP with Attachments: the `multipart/related` body of an AS4 message. The SOAP envelope is the root part
//! (`start`), each payload a part named by its Content-ID (`cid:` in `eb:PartInfo/@href`).
//!
//! Both directions stream: the reader keeps the SOAP part in memory (it is small and must be parsed) and
//! spools attachments (to disk above a threshold); the writer copies attachments from readers.

use std::io::{self, Read, Write};

use base64::Engine;

use super::error::{EbmsError, ErrorCode};
use super::spool::Spool;

/// One MIME part, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Without the angle brackets: `message` for `Content-ID: <message>` and `href="cid:message"`.
    pub content_id: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A parsed AS4 body, in memory: the SOAP envelope and the attachments in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    pub soap: Part,
    pub attachments: Vec<Part>,
}

/// One attachment as read from a stream.
#[derive(Debug)]
pub struct SpooledPart {
    pub content_id: String,
    pub content_type: String,
    /// The decoded content (transfer encoding removed).
    pub data: Spool,
}

/// A parsed AS4 body with its attachments spooled.
#[derive(Debug)]
pub struct Streamed {
    pub soap: Vec<u8>,
    pub soap_content_type: String,
    pub attachments: Vec<SpooledPart>,
}

/// Bounds on what the reader accepts.
#[derive(Debug, Clone, Copy)]
pub struct MimeLimits {
    pub max_parts: usize,
    pub max_header_bytes: usize,
    /// Largest attachment (after transfer decoding).
    pub max_part_bytes: u64,
    /// Largest SOAP part, which is held in memory and parsed.
    pub max_soap_bytes: usize,
    /// Attachments above this size are spooled to a temporary file.
    pub spool_threshold: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_parts: 64,
            max_header_bytes: 8 * 1024,
            max_part_bytes: 256 * 1024 * 1024,
            max_soap_bytes: 16 * 1024 * 1024,
            spool_threshold: super::spool::DEFAULT_THRESHOLD,
        }
    }
}

pub const SOAP_CONTENT_TYPE: &str = "application/soap+xml";
const ROOT_ID: &str = "root.message@sdk-relay";

/// Writes a multipart body part by part to `out`.
pub struct MimeWriter<'w> {
    out: &'w mut dyn Write,
    boundary: String,
}

impl<'w> MimeWriter<'w> {
    /// Writes the SOAP root part; returns the writer and the body's Content-Type header value.
    pub fn start(out: &'w mut dyn Write, soap: &[u8]) -> io::Result<(MimeWriter<'w>, String)> {
        let boundary = format!("MIMEBoundary_{}", uuid::Uuid::new_v4().simple());
        let content_type = format!(
            "multipart/related; boundary=\"{boundary}\"; type=\"{SOAP_CONTENT_TYPE}\"; start=\"<{ROOT_ID}>\""
        );
        let mut w = MimeWriter { out, boundary };
        w.part(ROOT_ID, &format!("{SOAP_CONTENT_TYPE}; charset=UTF-8"))?;
        w.out.write_all(soap)?;
        Ok((w, content_type))
    }

    /// Starts an attachment; its content is written next (to [`MimeWriter::content`]).
    pub fn part(&mut self, content_id: &str, content_type: &str) -> io::Result<()> {
        let lead = if content_id == ROOT_ID { "" } else { "\r\n" };
        write!(
            self.out,
            "{lead}--{}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n",
            self.boundary
        )
    }

    /// Where the current part's content goes.
    pub fn content(&mut self) -> &mut dyn Write {
        self.out
    }

    pub fn finish(self) -> io::Result<()> {
        write!(self.out, "\r\n--{}--\r\n", self.boundary)
    }
}

/// Writes a whole body in memory and returns it with its Content-Type header value.
pub fn write(soap: &[u8], attachments: &[Part]) -> (String, Vec<u8>) {
    let mut body = Vec::with_capacity(
        soap.len()
            + attachments
                .iter()
                .map(|a| a.body.len() + 256)
                .sum::<usize>()
            + 512,
    );
    // Writing to a Vec cannot fail.
    let content_type = (|| -> io::Result<String> {
        let (mut w, content_type) = MimeWriter::start(&mut body, soap)?;
        for a in attachments {
            w.part(&a.content_id, &a.content_type)?;
            w.content().write_all(&a.body)?;
        }
        w.finish()?;
        Ok(content_type)
    })()
    .unwrap_or_default();
    (content_type, body)
}

fn mime_error(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::MimeInconsistency, detail)
}

/// Reads an AS4 HTTP body in memory. A plain `application/soap+xml` body (a signal, or a message without
/// payloads) is a SOAP part with no attachments.
pub fn read(content_type: &str, body: &[u8], limits: &MimeLimits) -> Result<Multipart, EbmsError> {
    let limits = MimeLimits {
        spool_threshold: usize::MAX,
        ..*limits
    };
    let streamed = read_stream(content_type, &mut &body[..], &limits)?;
    let attachments = streamed
        .attachments
        .into_iter()
        .map(|p| {
            Ok(Part {
                content_id: p.content_id,
                content_type: p.content_type,
                body: p.data.into_bytes().map_err(|e| mime_error(e.to_string()))?,
            })
        })
        .collect::<Result<_, EbmsError>>()?;
    Ok(Multipart {
        soap: Part {
            content_id: String::new(),
            content_type: streamed.soap_content_type,
            body: streamed.soap,
        },
        attachments,
    })
}

enum BodyKind {
    Soap,
    Multipart {
        boundary: String,
        start: Option<String>,
    },
}

fn body_kind(content_type: &str) -> Result<BodyKind, EbmsError> {
    let ty: mime::Mime = content_type
        .parse()
        .map_err(|e| mime_error(format!("Content-Type {content_type:?} does not parse: {e}")))?;
    if ty.essence_str() == SOAP_CONTENT_TYPE {
        return Ok(BodyKind::Soap);
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
    Ok(BodyKind::Multipart { boundary, start })
}

/// Reads an AS4 HTTP body from a stream: the SOAP part into memory, attachments into spools.
pub fn read_stream(
    content_type: &str,
    body: &mut dyn Read,
    limits: &MimeLimits,
) -> Result<Streamed, EbmsError> {
    let (boundary, start) = match body_kind(content_type)? {
        BodyKind::Soap => {
            let mut soap = Vec::new();
            body.take(limits.max_soap_bytes as u64 + 1)
                .read_to_end(&mut soap)
                .map_err(|e| mime_error(format!("reading the body: {e}")))?;
            if soap.len() > limits.max_soap_bytes {
                return Err(mime_error(format!(
                    "the SOAP body exceeds {} bytes",
                    limits.max_soap_bytes
                )));
            }
            return Ok(Streamed {
                soap,
                soap_content_type: content_type.to_owned(),
                attachments: Vec::new(),
            });
        }
        BodyKind::Multipart { boundary, start } => (boundary, start),
    };
    let mut scanner = Scanner::new(body);
    let first = format!("--{boundary}");
    let inner = format!("\r\n--{boundary}");
    scanner
        .copy_until(first.as_bytes(), &mut io::sink(), 64 * 1024)
        .map_err(|e| e.or("the boundary never occurs in the body"))?;
    let mut soap: Option<(Vec<u8>, String)> = None;
    let mut root_id: Option<String> = None;
    let mut attachments: Vec<SpooledPart> = Vec::new();
    let mut count = 0;
    loop {
        if scanner
            .starts_with(b"--")
            .map_err(|e| e.or("the body ends after a delimiter"))?
        {
            break;
        }
        let mut padding = Vec::new();
        scanner
            .copy_until(b"\r\n", &mut padding, 1024)
            .map_err(|e| e.or("a delimiter line does not end"))?;
        if !padding.iter().all(|b| *b == b' ' || *b == b'\t') {
            return Err(mime_error("text after a boundary delimiter"));
        }
        if count == limits.max_parts {
            return Err(mime_error(format!(
                "more than {} MIME parts",
                limits.max_parts
            )));
        }
        count += 1;
        let headers = read_headers(&mut scanner, limits)?;
        let is_root = match &start {
            Some(id) => *id == headers.id,
            None => soap.is_none() && attachments.is_empty(),
        };
        // A second part claiming to be the root would replace the SOAP envelope (the last one won).
        if (is_root && soap.is_some()) || (!is_root && root_id.as_deref() == Some(&headers.id)) {
            return Err(mime_error(format!(
                "two parts have the root's Content-ID <{}>",
                crate::clip::echo(&headers.id)
            )));
        }
        if is_root {
            root_id = Some(headers.id.clone());
            let mut raw = Vec::new();
            scanner
                .copy_until(inner.as_bytes(), &mut raw, limits.max_soap_bytes as u64)
                .map_err(|e| {
                    e.or("the SOAP part is not closed by the boundary (truncated body?)")
                })?;
            soap = Some((decode_in_memory(raw, &headers)?, headers.content_type));
        } else {
            if headers.id.is_empty() {
                return Err(mime_error("an attachment has no Content-ID"));
            }
            if attachments.iter().any(|a| a.content_id == headers.id) {
                return Err(mime_error(format!(
                    "two parts have Content-ID <{}>",
                    headers.id
                )));
            }
            let mut data = Spool::new(limits.spool_threshold);
            copy_part(&mut scanner, inner.as_bytes(), &headers, &mut data, limits)?;
            attachments.push(SpooledPart {
                content_id: headers.id,
                content_type: headers.content_type,
                data,
            });
        }
    }
    let Some((soap, soap_content_type)) = soap else {
        return Err(mime_error(match start {
            Some(id) => format!("no part has the start Content-ID <{id}>"),
            None => "the multipart body has no parts".to_owned(),
        }));
    };
    Ok(Streamed {
        soap,
        soap_content_type,
        attachments,
    })
}

struct Headers {
    id: String,
    content_type: String,
    encoding: Encoding,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Binary,
    Base64,
}

fn read_headers(scanner: &mut Scanner<'_>, limits: &MimeLimits) -> Result<Headers, EbmsError> {
    let mut raw = Vec::new();
    if !scanner
        .starts_with(b"\r\n")
        .map_err(|e| e.or("a part ends in its headers"))?
    {
        scanner
            .copy_until(b"\r\n\r\n", &mut raw, limits.max_header_bytes as u64)
            .map_err(|e| e.or("a part's headers do not end with an empty line"))?;
    } else {
        scanner.consume(2);
    }
    let text = std::str::from_utf8(&raw).map_err(|_| mime_error("part headers are not UTF-8"))?;
    let mut headers = Headers {
        id: String::new(),
        content_type: "application/octet-stream".to_owned(),
        encoding: Encoding::Binary,
    };
    for line in unfold(text) {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(mime_error(format!("malformed part header {line:?}")));
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-id" => headers.id = strip_angles(value).to_owned(),
            "content-type" => headers.content_type = value.trim().to_owned(),
            "content-transfer-encoding" => {
                headers.encoding = match value.trim().to_ascii_lowercase().as_str() {
                    "binary" | "8bit" | "7bit" => Encoding::Binary,
                    "base64" => Encoding::Base64,
                    other => {
                        return Err(EbmsError::new(
                            ErrorCode::FeatureNotSupportedUnpackaging,
                            format!(
                                "Content-Transfer-Encoding {other} is not supported (binary, 8bit, 7bit, base64 are)"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(headers)
}

fn decode_in_memory(raw: Vec<u8>, headers: &Headers) -> Result<Vec<u8>, EbmsError> {
    match headers.encoding {
        Encoding::Binary => Ok(raw),
        Encoding::Base64 => {
            let text: Vec<u8> = raw
                .into_iter()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| mime_error(format!("part <{}> is not valid base64: {e}", headers.id)))
        }
    }
}

/// Copies one attachment's content into `data`, decoding base64 when the part says so.
fn copy_part(
    scanner: &mut Scanner<'_>,
    delimiter: &[u8],
    headers: &Headers,
    data: &mut Spool,
    limits: &MimeLimits,
) -> Result<(), EbmsError> {
    let truncated = "a part is not closed by the boundary (truncated body?)";
    match headers.encoding {
        Encoding::Binary => {
            scanner
                .copy_until(delimiter, data, limits.max_part_bytes)
                .map_err(|e| e.or(truncated))?;
        }
        Encoding::Base64 => {
            // Base64 parts are rare in AS4; decode them through a bounded raw spool.
            let mut raw = Spool::new(limits.spool_threshold);
            scanner
                .copy_until(delimiter, &mut raw, limits.max_part_bytes.saturating_mul(2))
                .map_err(|e| e.or(truncated))?;
            let reader = raw.reader().map_err(|e| mime_error(e.to_string()))?;
            let clean = WhitespaceFree(reader);
            let mut decoder =
                base64::read::DecoderReader::new(clean, &base64::engine::general_purpose::STANDARD);
            io::copy(&mut (&mut decoder).take(limits.max_part_bytes + 1), data).map_err(|e| {
                mime_error(format!("part <{}> is not valid base64: {e}", headers.id))
            })?;
            if data.len() > limits.max_part_bytes {
                return Err(mime_error(format!(
                    "a part exceeds {} bytes",
                    limits.max_part_bytes
                )));
            }
        }
    }
    Ok(())
}

/// Drops ASCII whitespace (line breaks in base64 content).
struct WhitespaceFree<R: Read>(R);

impl<R: Read> Read for WhitespaceFree<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                if !buf[i].is_ascii_whitespace() {
                    buf[kept] = buf[i];
                    kept += 1;
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

/// Why a scan stopped: the input ended, a limit was reached, or reading failed.
enum ScanError {
    Eof,
    Limit(u64),
    Io(io::Error),
}

impl ScanError {
    /// The ebMS error, with `eof` as the message when the input simply ended.
    fn or(self, eof: &str) -> EbmsError {
        match self {
            ScanError::Eof => mime_error(eof),
            ScanError::Limit(limit) => {
                mime_error(format!("a part or header exceeds {limit} bytes"))
            }
            ScanError::Io(e) => mime_error(format!("reading the body: {e}")),
        }
    }
}

/// A forward-only scanner over the body with a fixed buffer.
struct Scanner<'r> {
    input: &'r mut dyn Read,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

const SCAN_BUFFER: usize = 64 * 1024;

impl<'r> Scanner<'r> {
    fn new(input: &'r mut dyn Read) -> Self {
        Scanner {
            input,
            buf: vec![0u8; SCAN_BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// Reads more input after what is buffered; false at the end of the input.
    fn fill(&mut self) -> Result<bool, ScanError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScanError::Io(e)),
            }
        }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }

    fn starts_with(&mut self, prefix: &[u8]) -> Result<bool, ScanError> {
        while self.available().len() < prefix.len() {
            if !self.fill()? {
                return Err(ScanError::Eof);
            }
        }
        let yes = self.available().starts_with(prefix);
        if yes && prefix == b"--" {
            // The closing delimiter: nothing after it matters.
            self.consume(2);
        }
        Ok(yes)
    }

    /// Copies bytes into `sink` up to `needle`, which is consumed and not copied. At most `limit` bytes.
    fn copy_until(
        &mut self,
        needle: &[u8],
        sink: &mut dyn Write,
        limit: u64,
    ) -> Result<u64, ScanError> {
        let mut copied: u64 = 0;
        loop {
            if let Some(at) = memchr::memmem::find(self.available(), needle) {
                copied += at as u64;
                if copied > limit {
                    return Err(ScanError::Limit(limit));
                }
                sink.write_all(&self.buf[self.start..self.start + at])
                    .map_err(ScanError::Io)?;
                self.consume(at + needle.len());
                return Ok(copied);
            }
            // Keep a needle's length minus one: the needle may straddle the next read.
            let safe = self.available().len().saturating_sub(needle.len() - 1);
            copied += safe as u64;
            if copied > limit {
                return Err(ScanError::Limit(limit));
            }
            sink.write_all(&self.buf[self.start..self.start + safe])
                .map_err(ScanError::Io)?;
            self.consume(safe);
            if !self.fill()? {
                return Err(ScanError::Eof);
            }
        }
    }
}

fn strip_angles(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
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
        // A second part with the root's Content-ID used to replace the SOAP part (the last one won).
        let (ty2, body2) = write(b"<e/>", &[attachment("a", b"<forged/>")]);
        let forged = String::from_utf8(body2)
            .unwrap()
            .replace("Content-ID: <a>", &format!("Content-ID: <{ROOT_ID}>"));
        let err = read(&ty2, forged.as_bytes(), &MimeLimits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::MimeInconsistency);
        assert!(err.detail.contains("root's Content-ID"), "{err}");
        // Found by fuzzing: a body that closes before its first part.
        let empty = read(
            "multipart/related; boundary=b",
            b"--b--\r\n",
            &MimeLimits::default(),
        );
        assert_eq!(empty.unwrap_err().code, ErrorCode::MimeInconsistency);
    }

    /// Hands out the body a few bytes at a time, so every delimiter straddles reads somewhere.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_trickled_stream_reads_like_the_whole_body_and_large_parts_spill() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let payloads = vec![
            attachment("big", &big),
            attachment("small", b"\r\n--MIMEBoundary\r\n"),
        ];
        let (ty, body) = write(b"<S12:Envelope/>", &payloads);
        let limits = MimeLimits {
            spool_threshold: 1000,
            ..MimeLimits::default()
        };
        let mut streamed = read_stream(&ty, &mut Trickle(&body, 0), &limits).unwrap();
        assert_eq!(streamed.soap, b"<S12:Envelope/>");
        assert!(streamed.attachments[0].data.spilled());
        assert!(!streamed.attachments[1].data.spilled());
        let small = streamed
            .attachments
            .pop()
            .unwrap()
            .data
            .into_bytes()
            .unwrap();
        let large = streamed
            .attachments
            .pop()
            .unwrap()
            .data
            .into_bytes()
            .unwrap();
        assert_eq!(large, big);
        assert_eq!(small, b"\r\n--MIMEBoundary\r\n");
    }
}
