//! Just enough DNS to ask for NAPTR records over UDP (RFC 1035 messages, RFC 3403 NAPTR): what the SML
//! lookup needs, without a resolver library. Answers are parsed defensively (bounds, compression loops).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const TYPE_NAPTR: u16 = 35;
const CLASS_IN: u16 = 1;

/// One NAPTR record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    pub regexp: String,
    pub replacement: String,
}

/// Why a lookup gave no records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist (for the SML: the participant is not registered).
    #[error("{0} does not exist (NXDOMAIN)")]
    NoSuchName(String),
    #[error("DNS server {server} did not answer: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("malformed DNS answer: {0}")]
    Malformed(String),
    #[error("DNS error code {0}")]
    Rcode(u8),
}

/// Asks `server` for the NAPTR records of `name`.
pub fn naptr(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<Naptr>, DnsError> {
    let unreachable = |detail: String| DnsError::Unreachable {
        server: server.to_string(),
        detail,
    };
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    };
    let socket = UdpSocket::bind(bind).map_err(|e| unreachable(e.to_string()))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| unreachable(e.to_string()))?;
    let mut id = [0u8; 2];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| unreachable("no randomness".into()))?;
    let query = query(u16::from_be_bytes(id), name)?;
    socket
        .send_to(&query, server)
        .map_err(|e| unreachable(e.to_string()))?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, from) = socket
            .recv_from(&mut buf)
            .map_err(|e| unreachable(e.to_string()))?;
        // Ignore stray datagrams: only the server's answer to our id counts.
        if from == server && n >= 2 && buf[..2] == id {
            return parse_answer(&buf[..n], name);
        }
    }
}

/// A recursive-desired query for `name` IN NAPTR.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DnsError::Malformed(format!(
                "{name:?} is not a valid DNS name"
            )));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_NAPTR.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

fn malformed(what: &str) -> DnsError {
    DnsError::Malformed(what.to_owned())
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    msg.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| malformed("truncated"))
}

/// A (possibly compressed) domain name at `at`: the name and the position after it in the message.
pub fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), DnsError> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg
            .get(at)
            .ok_or_else(|| malformed("name runs past the message"))?;
        match len {
            0 => {
                return Ok((labels.join("."), end.unwrap_or(at + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                jumps += 1;
                if jumps > 16 {
                    return Err(malformed("compression loop"));
                }
                let pointer = (u16_at(msg, at)? & 0x3FFF) as usize;
                end.get_or_insert(at + 2);
                at = pointer;
            }
            l if l < 64 => {
                let bytes = msg
                    .get(at + 1..at + 1 + l as usize)
                    .ok_or_else(|| malformed("label runs past the message"))?;
                labels.push(String::from_utf8_lossy(bytes).into_owned());
                at += 1 + l as usize;
            }
            _ => return Err(malformed("unknown label type")),
        }
    }
}

fn char_string(msg: &[u8], at: usize) -> Result<(String, usize), DnsError> {
    let len = *msg.get(at).ok_or_else(|| malformed("truncated string"))? as usize;
    let bytes = msg
        .get(at + 1..at + 1 + len)
        .ok_or_else(|| malformed("string runs past the message"))?;
    Ok((String::from_utf8_lossy(bytes).into_owned(), at + 1 + len))
}

/// The NAPTR records of a response to a query for `name`.
pub fn parse_answer(msg: &[u8], name: &str) -> Result<Vec<Naptr>, DnsError> {
    if msg.len() < 12 {
        return Err(malformed("shorter than a DNS header"));
    }
    match msg[3] & 0x0F {
        0 => {}
        3 => return Err(DnsError::NoSuchName(name.to_owned())),
        rcode => return Err(DnsError::Rcode(rcode)),
    }
    let questions = u16_at(msg, 4)?;
    let answers = u16_at(msg, 6)?;
    let mut at = 12;
    for _ in 0..questions {
        at = read_name(msg, at)?.1 + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        let (_, after) = read_name(msg, at)?;
        let rtype = u16_at(msg, after)?;
        let rdlength = u16_at(msg, after + 8)? as usize;
        let rdata = after + 10;
        if msg.len() < rdata + rdlength {
            return Err(malformed("record data runs past the message"));
        }
        if rtype == TYPE_NAPTR {
            let order = u16_at(msg, rdata)?;
            let preference = u16_at(msg, rdata + 2)?;
            let (flags, p) = char_string(msg, rdata + 4)?;
            let (service, p) = char_string(msg, p)?;
            let (regexp, p) = char_string(msg, p)?;
            let (replacement, _) = read_name(msg, p)?;
            records.push(Naptr {
                order,
                preference,
                flags,
                service,
                regexp,
                replacement,
            });
        }
        at = rdata + rdlength;
    }
    Ok(records)
}

/// Applies a NAPTR regexp of the whole-string form BDXL uses (`!^.*$!https://smp.example/!`): the result is
/// the replacement. Other expressions are not supported here.
pub fn apply_regexp(regexp: &str) -> Option<String> {
    let delimiter = regexp.chars().next()?;
    let parts: Vec<&str> = regexp[delimiter.len_utf8()..].split(delimiter).collect();
    match parts.as_slice() {
        [pattern, replacement, ""] | [pattern, replacement, "i"] if *pattern == "^.*$" => {
            Some((*replacement).to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexps_of_the_bdxl_form_give_their_replacement() {
        assert_eq!(
            apply_regexp("!^.*$!https://smp.example.se/!").as_deref(),
            Some("https://smp.example.se/")
        );
        assert_eq!(apply_regexp("!^(.*)$!\\1!"), None);
        assert_eq!(apply_regexp(""), None);
    }

    #[test]
    fn a_compression_loop_is_malformed_not_a_hang() {
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(&[0xC0, 12]);
        assert!(matches!(read_name(&msg, 12), Err(DnsError::Malformed(_))));
    }
}
