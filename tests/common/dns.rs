//! A tiny DNS server for the SML tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// (order, service, regexp) of one NAPTR record.
pub type Record = (u16, &'static str, String);

/// How the server misbehaves, as real ones and forgers do.
#[derive(Clone, Copy, Default)]
pub struct Quirks {
    /// Answers over UDP carry the question only, with TC set: the client must ask again over TCP.
    pub truncate_udp: bool,
    /// The first query for each name gets NXDOMAIN (as a forged answer would), later ones the truth.
    pub deny_first: bool,
}

/// A tiny authoritative DNS server on loopback: NAPTR answers for the names in `zone`, NXDOMAIN otherwise.
/// Written here from RFC 1035/3403, independently of the client under test.
pub fn dns_server(zone: Vec<(String, Vec<Record>)>) -> SocketAddr {
    dns_server_with(zone, Quirks::default()).0
}

/// [`dns_server`] on UDP and TCP at one port, with `quirks`; also how many queries it has had.
pub fn dns_server_with(
    zone: Vec<(String, Vec<Record>)>,
    quirks: Quirks,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).unwrap();
    let zone = Arc::new(zone);
    let asked = Arc::new(AtomicUsize::new(0));
    let denied = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let answer = {
        let (zone, asked, denied) = (zone.clone(), asked.clone(), denied.clone());
        move |query: &[u8], over_udp: bool| -> Vec<u8> {
            asked.fetch_add(1, Ordering::SeqCst);
            let name = question_name(query);
            let fresh = denied.lock().unwrap().insert(name.clone());
            let records = zone
                .iter()
                .find(|(z, _)| *z == name)
                .map(|(_, r)| r.clone())
                .filter(|_| !(quirks.deny_first && fresh));
            respond(query, records, quirks.truncate_udp && over_udp)
        }
    };
    let udp_answer = answer.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&udp_answer(&buf[..n], true), from);
        }
    });
    std::thread::spawn(move || {
        for mut stream in tcp.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                // RFC 1035 §4.2.2: each message is preceded by its two-byte length.
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                    if stream.read_exact(&mut query).is_err() {
                        return;
                    }
                    let reply = answer(&query, false);
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    if stream.write_all(&framed).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, asked)
}

/// The question name: labels from byte 12, lower-cased.
fn question_name(query: &[u8]) -> String {
    let (mut labels, mut at) = (Vec::new(), 12);
    while at < query.len() && query[at] != 0 {
        let len = query[at] as usize;
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + len]).to_lowercase());
        at += 1 + len;
    }
    labels.join(".")
}

fn respond(query: &[u8], records: Option<Vec<Record>>, truncated: bool) -> Vec<u8> {
    let mut at = 12;
    while query[at] != 0 {
        at += 1 + query[at] as usize;
    }
    let question_end = at + 5;
    let mut answer = query[..2].to_vec();
    let rcode = if records.is_some() { 0 } else { 3 };
    // QR, AA, RD (+ TC); RA and the rcode.
    answer.extend_from_slice(&[if truncated { 0x86 } else { 0x84 }, 0x80 | rcode, 0, 1]);
    let records = if truncated {
        Vec::new()
    } else {
        records.unwrap_or_default()
    };
    answer.extend_from_slice(&(records.len() as u16).to_be_bytes());
    answer.extend_from_slice(&[0, 0, 0, 0]);
    answer.extend_from_slice(&query[12..question_end]);
    for (order, service, regexp) in records {
        let mut rdata = Vec::new();
        rdata.extend_from_slice(&order.to_be_bytes());
        rdata.extend_from_slice(&10u16.to_be_bytes());
        for s in ["U", service, regexp.as_str()] {
            rdata.push(s.len() as u8);
            rdata.extend_from_slice(s.as_bytes());
        }
        rdata.push(0);
        answer.extend_from_slice(&[0xC0, 12, 0, 35, 0, 1, 0, 0, 0x0E, 0x10]);
        answer.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        answer.extend_from_slice(&rdata);
    }
    answer
}
