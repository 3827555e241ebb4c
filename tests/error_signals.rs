//! Error signals the way Domibus sends and reads them (issue 19 point 5).
//!
//! - Ours: a SOAP 1.2 Fault whose header carries the eb:Error, signed like a receipt, `eb:ErrorDetail`
//!   exactly `NOT_SERVICED` where the transport profile §2.5 asks for it, and no Rust Debug text in details.
//!   (Santuario verifies the signature in `tests/domibus_dialect.rs`.)
//! - A peer's, read by a sending node: signed by a real node (verified), and unsigned from a Domibus-like
//!   peer that holds the receiving AP's TLS key — in a Fault with HTTP 500, and as a plain SignalMessage.
//!   Each is final (MESSAGE_EXCHANGE_ERROR) and the record says whether it was signed; one about another
//!   message is not an answer and is retried.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::as4::{net, send, signer};
use common::node::{Node, World, message_to};
use sdk_relay::as4::EbmsError;
use sdk_relay::as4::ebms;
use sdk_relay::as4::error::FaultCode;
use sdk_relay::as4::error_signal::{self, Signature};
use sdk_relay::envelope::ids::{PayloadKind, TransportModel};
use sdk_relay::xml::names::{EB, S12};
use sdk_relay::xml::{Limits, parse};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn our_error_signal_is_a_signed_soap_fault_with_the_profiles_detail() {
    let n = net();
    let not_served = EbmsError::not_serviced("0203:region-c.example.se");
    let xml = error_signal::write_signed(
        Some("m-1@ap0001"),
        std::slice::from_ref(&not_served),
        FaultCode::Sender,
        &signer(&n.receiver),
    )
    .unwrap();
    let doc = parse(&xml, &Limits::default()).unwrap();
    let all = doc.root().descendants_or_self();
    let text_of = |ns: &str, local: &str| -> String {
        all.iter()
            .find(|e| e.is(ns, local))
            .unwrap_or_else(|| panic!("no {local} in {xml}"))
            .text()
    };
    // SOAP 1.2 part 1 §5.4: Code/Value is a QName in the envelope namespace.
    assert_eq!(text_of(S12, "Value"), "S12:Sender");
    assert!(!text_of(S12, "Text").is_empty());
    // Transport profile §2.5 [c]: the detail is the token alone; the words go in eb:Description.
    assert_eq!(text_of(EB, "ErrorDetail"), "NOT_SERVICED");
    assert!(text_of(EB, "Description").contains("0203:region-c.example.se"));
    let error = all.iter().find(|e| e.is(EB, "Error")).unwrap();
    assert_eq!(error.attr("errorCode"), Some("EBMS:0004"));
    assert_eq!(error.attr("severity"), Some("failure"));
    assert_eq!(error.attr("refToMessageInError"), Some("m-1@ap0001"));

    // Read back as a sender would, against the receiving AP's certificate: verified, in a Fault.
    let read = |body: &str, cert| error_signal::read(body.as_bytes(), "m-1@ap0001", cert);
    let ok = read(&xml, &n.receiver.cert).unwrap().unwrap();
    assert_eq!(ok.signature, Signature::Verified);
    assert!(ok.fault);
    assert_eq!(
        ok.errors,
        vec![("EBMS:0004".to_owned(), "NOT_SERVICED".to_owned())]
    );
    assert!(ok.provenance().contains("signed by the peer AP (verified)"));
    // The same signal judged against another AP's certificate, or with its Fault changed: not verified.
    let stranger = read(&xml, &n.stranger.cert).unwrap().unwrap();
    assert!(
        matches!(stranger.signature, Signature::Invalid(_)),
        "{stranger:?}"
    );
    let changed = xml.replacen("S12:Sender</", "S12:Receiver</", 1);
    assert!(matches!(
        read(&changed, &n.receiver.cert).unwrap().unwrap().signature,
        Signature::Invalid(_)
    ));
    // Unsigned, in a Fault (Domibus) or as a plain SignalMessage: read, and said to be unsigned.
    let unsigned = error_signal::write_unsigned(
        Some("m-1@ap0001"),
        std::slice::from_ref(&not_served),
        FaultCode::Sender,
    );
    let u = read(&unsigned, &n.receiver.cert).unwrap().unwrap();
    assert_eq!((u.signature.clone(), u.fault), (Signature::Absent, true));
    assert!(u.provenance().contains("unsigned, authentic by mutual TLS"));
    let plain = ebms::envelope(
        &[&ebms::write_error(
            Some("m-1@ap0001"),
            std::slice::from_ref(&not_served),
        )],
        "_body",
    );
    let p = read(&plain, &n.receiver.cert).unwrap().unwrap();
    assert_eq!((p.signature, p.fault), (Signature::Absent, false));
    // Without RefToMessageId (a peer that could not read the id) it is still an answer; about another
    // message it is not; and a body without eb:Error is no Error signal at all.
    let anonymous = ebms::envelope(
        &[&ebms::write_error(None, std::slice::from_ref(&not_served))],
        "_body",
    );
    assert!(read(&anonymous, &n.receiver.cert).unwrap().is_ok());
    let other = error_signal::read(unsigned.as_bytes(), "m-2@ap0001", &n.receiver.cert).unwrap();
    assert!(other.is_err(), "{other:?}");
    assert!(read("<a/>", &n.receiver.cert).is_none());
}

/// Details a peer reads name absent values in words, never as Rust's `None` or `Some("…")`.
#[test]
fn error_details_carry_no_rust_debug_text() {
    let n = net();
    let packed = send(&n, &n.sender, &[&common::as4::xhe()]);
    let body = String::from_utf8_lossy(&packed.body).into_owned();
    let cut = |attr_start: &str| -> Vec<u8> {
        let at = body
            .find(attr_start)
            .unwrap_or_else(|| panic!("{attr_start}"));
        let end = at + body[at..].find('"').unwrap() + 1;
        let end = end + body[end..].find('"').unwrap() + 1;
        let mut b = body.clone();
        b.replace_range(at..end, "");
        b.into_bytes()
    };
    let cases = [
        // SignedInfo's canonicalization with no Algorithm; the signature method likewise.
        cut(" Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\""),
        cut(" Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\""),
        // eb:Service without its type.
        cut(" type=\"urn:fdc:digg.se:edelivery:process\""),
    ];
    for (i, case) in cases.iter().enumerate() {
        let refused = common::as4::receive(&n, &packed.content_type, case)
            .err()
            .unwrap_or_else(|| panic!("case {i} was accepted"));
        let detail = &refused.error.detail;
        assert!(detail.contains("(absent)"), "case {i}: {detail}");
        assert!(
            !detail.contains("None") && !detail.contains("Some("),
            "case {i}: {detail}"
        );
    }
}

fn sending_in_base(text: &mut String) {
    *text = text.replacen("[node]\n", "[node]\ntransport_model = \"tm-base\"\n", 1);
}

fn publish_base(world: &World, node: &Node) {
    for kind in [PayloadKind::Message, PayloadKind::Receipt] {
        world.publish(
            node,
            &kind.document_id(TransportModel::Base),
            &node.as4_url(),
        );
    }
}

/// Message `id` at `node` as its API shows it, events and their reasons included.
fn reason(world: &World, node: &Node, id: &str) -> String {
    node.message(&world.rt, id).to_string()
}

#[test]
fn a_signed_refusal_from_a_real_node_is_final_and_recorded_as_verified() {
    let world = World::new();
    let mut a = world.node_with(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
        sending_in_base,
    );
    // B is registered for Bas, but (as in qa and prod) does not take it: NOT_SERVICED.
    let mut b = world.node_with(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
        |t| *t = t.replacen("[node]\n", "[node]\naccept_tm_base = false\n", 1),
    );
    publish_base(&world, &a);
    publish_base(&world, &b);
    a.start();
    b.start();
    let answer = a.post(&world.rt, &message_to(&a, &b, "Bas", "Hej"));
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let id = common::node::created_id(&answer);
    a.wait_status(&world.rt, &id, "MESSAGE_EXCHANGE_ERROR", WAIT);
    let why = reason(&world, &a, &id);
    assert!(
        why.contains("EBMS:0004 NOT_SERVICED") && why.contains("signed by the peer AP (verified)"),
        "{why}"
    );
    assert!(why.contains("in a SOAP Fault"), "{why}");
    assert!(a.stop());
    assert!(
        common::node::audit_text(&a).contains("signed by the peer AP (verified)"),
        "the audit log says the refusal was signed"
    );
    assert!(b.stop());
}

/// How the Domibus-like peer answers.
#[derive(Clone, Copy, Debug)]
enum Answering {
    /// HTTP 500, an unsigned SOAP Fault with the eb:Error in the header (Domibus's shape).
    Fault,
    /// HTTP 200, an unsigned plain SignalMessage.
    Plain,
    /// HTTP 500, a Fault about another message.
    AboutAnother,
}

/// A TLS endpoint with `node`'s TLS key on `node`'s AS4 port (the node itself is not started): it reads
/// each request's eb:MessageId and answers per `mode`.
fn domibus_like_peer(rt: &tokio::runtime::Runtime, node: &Node, mode: Arc<Mutex<Answering>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let acceptor = common::pki::tls_acceptor(&node.data);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", node.as4_port)))
        .unwrap();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, mode) = (acceptor.clone(), mode.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 65536];
                // Headers, then Content-Length bytes of body.
                let body_len = loop {
                    let Ok(n) = tls.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        break end + 4 + len;
                    }
                };
                while request.len() < body_len {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let message_id = text
                    .split("<eb:MessageId>")
                    .nth(1)
                    .and_then(|t| t.split('<').next())
                    .unwrap_or_default()
                    .to_owned();
                let mode = *mode.lock().unwrap();
                let error = EbmsError::new(
                    sdk_relay::as4::ErrorCode::FailedAuthentication,
                    "PolicyException: the signature could not be validated",
                );
                let (status, body) = match mode {
                    Answering::Fault => (
                        "500 Internal Server Error",
                        error_signal::write_unsigned(
                            Some(&message_id),
                            &[error],
                            FaultCode::Sender,
                        ),
                    ),
                    Answering::Plain => (
                        "200 OK",
                        ebms::envelope(&[&ebms::write_error(Some(&message_id), &[error])], "_b"),
                    ),
                    Answering::AboutAnother => (
                        "500 Internal Server Error",
                        error_signal::write_unsigned(
                            Some("another@domibus"),
                            &[error],
                            FaultCode::Sender,
                        ),
                    ),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/soap+xml; charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
}

#[test]
fn unsigned_refusals_from_a_domibus_like_peer_are_final_and_recorded_as_unsigned() {
    let world = World::new();
    let (mut a, b) = world.pair();
    let mode = Arc::new(Mutex::new(Answering::Fault));
    domibus_like_peer(&world.rt, &b, mode.clone());
    a.start();
    let mut sent = Vec::new();
    for (answering, wanted) in [
        (Answering::Fault, "in a SOAP Fault"),
        (Answering::Plain, "authentic by mutual TLS"),
    ] {
        *mode.lock().unwrap() = answering;
        let answer = a.post(&world.rt, &message_to(&a, &b, "Från Domibus", "Hej"));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let id = common::node::created_id(&answer);
        a.wait_status(&world.rt, &id, "MESSAGE_EXCHANGE_ERROR", WAIT);
        let why = reason(&world, &a, &id);
        assert!(
            why.contains("EBMS:0101") && why.contains("unsigned, authentic by mutual TLS"),
            "{answering:?}: {why}"
        );
        assert!(why.contains(wanted), "{answering:?}: {why}");
        sent.push(id);
    }
    // A Fault about another message is not this message's answer: it waits for another attempt.
    *mode.lock().unwrap() = Answering::AboutAnother;
    let answer = a.post(&world.rt, &message_to(&a, &b, "Från Domibus", "Hej"));
    let id = common::node::created_id(&answer);
    a.wait_status(&world.rt, &id, "SCHEDULED_FOR_RESEND", WAIT);
    let why = reason(&world, &a, &id);
    assert!(why.contains("refers to another@domibus"), "{why}");
    assert!(a.stop());
    let audit = common::node::audit_text(&a);
    assert!(
        audit.matches("unsigned, authentic by mutual TLS").count() >= 2,
        "{audit}"
    );
}
