//! Fetching CRLs from their distribution points. CRLs are signed, so plain HTTP is how CAs publish them
//! (DIGG's are at `http(s)://…/crl/*.crl`); this is a minimal, bounded HTTP/1.1 GET for `http://` URLs.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::PkiError;

/// Largest CRL accepted (DIGG's are a few KB; SITHS's are larger).
pub const MAX_CRL_BYTES: u64 = 32 * 1024 * 1024;

/// Every CRL distribution point named in a trusted CA certificate or one of the node's own certificates,
/// each once.
pub fn distribution_points(data_dir: &std::path::Path) -> Result<Vec<String>, PkiError> {
    let trust = super::TrustStore::open(data_dir).load()?;
    let mut urls: Vec<String> = trust
        .certs
        .iter()
        .flat_map(|c| c.info.crl_distribution_points.iter().cloned())
        .collect();
    for entry in super::KeyStore::open(data_dir).entries()? {
        if let Some(info) = entry.info() {
            urls.extend(info.crl_distribution_points);
        }
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}

/// GETs `url` (http only; `crl update` fetches https ones with rustls) with a timeout and a size bound, returning the body of a 200 answer.
pub fn fetch(url: &str, timeout: Duration) -> Result<Vec<u8>, PkiError> {
    let fail = |detail: String| PkiError::Fetch {
        url: url.to_owned(),
        detail,
    };
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        fail("this client fetches http:// distribution points (`crl update` takes https through rustls)".into())
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host_port = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve {authority}: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("{authority} has no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: sdk-relay/{}\r\nAccept: application/pkix-crl\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut response = Vec::new();
    stream
        .take(MAX_CRL_BYTES + 64 * 1024)
        .read_to_end(&mut response)
        .map_err(|e| fail(e.to_string()))?;
    parse_response(&response).map_err(fail)
}

fn parse_response(response: &[u8]) -> Result<Vec<u8>, String> {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP header")?;
    let head = std::str::from_utf8(&response[..end]).map_err(|_| "HTTP header is not text")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("server answered {status:?}"));
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "content-length" => length = value.parse::<usize>().ok(),
                _ => {}
            }
        }
    }
    let body = &response[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    if body.len() as u64 > MAX_CRL_BYTES {
        return Err(format!("larger than {MAX_CRL_BYTES} bytes"));
    }
    if let Some(n) = length
        && n != body.len()
    {
        return Err(format!(
            "body has {} bytes, Content-Length said {n}",
            body.len()
        ));
    }
    Ok(body)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_chunked_bodies_and_refuses_errors() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").unwrap(),
            b"abc"
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n").unwrap(),
            b"abc"
        );
        assert!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n")
                .unwrap_err()
                .contains("404")
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
    }
}
