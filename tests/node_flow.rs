//! Two relay nodes as real processes on loopback: a message with text and a PDF goes from Kommun A to Region
//! B; B's mailbox has it intact; A sees WAITING_FOR_RECEIPT then ACCEPTED; both audit logs show the timeline
//! and verify.

mod common;

use std::time::Duration;

use common::node::{World, created_id, message_to, with_file};
use common::pki::relay;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_message_with_a_pdf_goes_from_a_to_b_and_comes_back_accepted() {
    let world = World::new();
    let rt = &world.rt;
    let mut a = world.node_with(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
        |c| {
            *c = c.replace(
                "data_dir = \"data\"",
                "data_dir = \"data\"\nlog_format = \"json\"",
            )
        },
    );
    let mut b = world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst", "vard"],
    );
    a.start();
    b.start();

    let pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".repeat(200);
    let body = with_file(
        message_to(
            &a,
            &b,
            "Kallelse till SIP-möte",
            "Hej! Se bifogad **kallelse**.",
        ),
        "kallelse.pdf",
        "application/pdf",
        &pdf,
    );
    let id = created_id(&a.post(rt, &body));

    let accepted = a.wait_status(rt, &id, "ACCEPTED", WAIT);
    let path: Vec<&str> = accepted["attributes"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["typeCode"].as_str().unwrap())
        .collect();
    assert_eq!(path.first(), Some(&"SCHEDULED"), "{path:?}");
    assert_eq!(path.last(), Some(&"ACCEPTED"), "{path:?}");
    // The transport receipt may be overtaken by the Meddelandekvittens, but when both are recorded the
    // transport one comes first.
    if let Some(w) = path.iter().position(|s| *s == "WAITING_FOR_RECEIPT") {
        assert!(w < path.len() - 1, "{path:?}");
    }

    // B's mailbox: the message, NEW, with its content intact.
    let inbox = b.list(
        rt,
        "filter[recipientAttention.subOrganization.extension]=socialtjanst",
    );
    assert_eq!(inbox.len(), 1, "{inbox:#?}");
    let got = b.message(rt, &id);
    let attrs = &got["attributes"];
    assert_eq!(attrs["messageStatus"], "NEW");
    assert_eq!(attrs["label"], "Kallelse till SIP-möte");
    assert_eq!(attrs["sender"], a.org.as_str());
    let doc = &attrs["digitalDocument"][0];
    assert_eq!(doc["contentTextBody"][0], "Hej! Se bifogad **kallelse**.");
    let file = &doc["contentFiles"][0];
    assert_eq!(file["fileName"], "kallelse.pdf");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, pdf);
    assert!(
        b.list(
            rt,
            "filter[recipientAttention.subOrganization.extension]=vard"
        )
        .is_empty()
    );

    // Operations: health without a token on the API; metrics and probes on the admin listener only.
    assert_eq!(a.call_as(rt, "", "GET", "/healthz", None).status, 200);
    assert_eq!(a.call_as(rt, "", "GET", "/metrics", None).status, 401);
    assert_eq!(rt.block_on(a.admin_get("/readyz")).unwrap().0, 200);
    assert_eq!(rt.block_on(a.admin_get("/v1/sdk/messages")).unwrap().0, 404);
    let (status, metrics) = rt.block_on(a.admin_get("/metrics")).unwrap();
    assert_eq!(status, 200);
    for line in [
        "sdk_relay_messages{status=\"ACCEPTED\"} 1",
        "sdk_relay_queue_depth 0",
        "sdk_relay_as4_sent_total 1",
        "sdk_relay_send_latency_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
    assert!(
        metrics.contains("sdk_relay_certificate_days_left{purpose=\"ap\"} 36"),
        "{metrics}"
    );

    // Something that is not TLS at A's AS4 port: the handshake failure is logged with the peer.
    {
        use std::io::Write;
        let mut junk = std::net::TcpStream::connect(("127.0.0.1", a.as4_port)).unwrap();
        junk.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let _ = std::io::Read::read(&mut junk, &mut [0u8; 64]);
    }

    // Both stop cleanly; their audit logs verify and tell the story.
    assert!(a.stop(), "{}", a.log());
    assert!(b.stop(), "{}", b.log());
    // A logs structured JSON lines.
    let log = a.log();
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    // tracing events with the message and the peer as fields, so a collector can select on them.
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events.iter().any(|v| v["message_id"] == id.as_str()
            && v["peer"] == "AP0002-SDK-TEST"
            && v["message"].as_str().unwrap_or("").starts_with("delivered")),
        "{log}"
    );
    assert!(
        events.iter().any(|v| v["message"] == "TLS handshake failed"
            && v["listener"] == "as4"
            && v["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("127.0.0.1:"))),
        "{log}"
    );
    for (node, kinds) in [
        (
            &a,
            &[
                "message.scheduled",
                "message.waiting_for_receipt",
                "message.accepted",
            ][..],
        ),
        (
            &b,
            &["message.new", "message.scheduled", "message.submitted"][..],
        ),
    ] {
        let out = relay(&node.data, &["audit", "verify"]);
        assert!(
            out.status.success(),
            "{}: {}",
            node.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = relay(&node.data, &["audit", "list", "--json"]);
        let text = String::from_utf8_lossy(&listed.stdout);
        for kind in kinds {
            assert!(text.contains(kind), "{}: no {kind} in {text}", node.name);
        }
        assert!(text.contains(&id), "{}", node.name);
    }
}

#[test]
fn sigterm_lets_work_in_progress_finish_and_the_rest_continues_after_a_restart() {
    let world = World::new();
    let rt = &world.rt;
    let (mut a, mut b) = world.pair();
    a.start();
    b.start();
    let ids: Vec<String> = (0..20)
        .map(|i| created_id(&a.post(rt, &message_to(&a, &b, &format!("Drain {i}"), "Hej"))))
        .collect();
    // Stop A with its queue still busy: it must exit cleanly, not be cut off.
    assert!(a.stop(), "{}", a.log());
    assert!(a.log().contains("stopped"), "{}", a.log());
    a.start();
    for id in &ids {
        a.wait_status(rt, id, "ACCEPTED", WAIT);
    }
    let inbox = b.list(rt, "filter[direction]=inbound");
    assert_eq!(inbox.len(), ids.len());
    assert!(a.stop() && b.stop());
    for node in [&a, &b] {
        assert!(relay(&node.data, &["audit", "verify"]).status.success());
    }
}
