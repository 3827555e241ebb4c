//! A tiny DNS server for the SML tests.

/// A tiny authoritative DNS server on loopback: NAPTR answers for the names in `zone`, NXDOMAIN otherwise.
/// Written here from RFC 1035/3403, independently of the client under test.
/// (order, service, regexp) of one NAPTR record.
pub type Record = (u16, &'static str, String);

pub fn dns_server(zone: Vec<(String, Vec<Record>)>) -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let query = &buf[..n];
            // The question name: labels from byte 12.
            let (mut labels, mut at) = (Vec::new(), 12);
            while query[at] != 0 {
                let len = query[at] as usize;
                labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + len]).to_lowercase());
                at += 1 + len;
            }
            let question_end = at + 5;
            let name = labels.join(".");
            let records = zone
                .iter()
                .find(|(z, _)| *z == name)
                .map(|(_, r)| r.clone());
            let mut answer = query[..2].to_vec();
            let rcode = if records.is_some() { 0 } else { 3 };
            answer.extend_from_slice(&[0x84, 0x80 | rcode, 0, 1]);
            answer.extend_from_slice(&(records.as_ref().map_or(0, Vec::len) as u16).to_be_bytes());
            answer.extend_from_slice(&[0, 0, 0, 0]);
            answer.extend_from_slice(&query[12..question_end]);
            for (order, service, regexp) in records.unwrap_or_default() {
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
            let _ = socket.send_to(&answer, from);
        }
    });
    addr
}
