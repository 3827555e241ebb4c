//! No amplification (issue 18, item 7): what a node answers to a refused request, and what it writes to its
//! audit log about it, stays small however large the request. Problems are listed up to a cap and the rest
//! counted; every value repeated back is cut.

mod common;

use std::path::Path;

use common::node::{
    MESSAGE_DOC, Node, World, ebms_errors, key_of, post_as4, sealed_xhe, send_packed,
};
use sdk_relay::as4::ebms::{MPC_DEFAULT, UserMessage};
use sdk_relay::pki::Purpose;
use serde_json::{Value, json};

/// What a refusal may cost in answer bytes, whatever the request held.
const ANSWER_BOUND: usize = 16 * 1024;
/// What one audit record of a refusal may take on disk (its detail is cut to 2 KB, the rest is fixed fields).
const RECORD_BOUND: usize = 4 * 1024;
const DETAIL_BOUND: usize = 2048 + 3;

/// The raw lines of a node's audit log (its segment files), as written to disk.
fn audit_lines(node: &Node) -> Vec<String> {
    let dir = node.data.join("audit");
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_segment(p))
        .collect();
    segments.sort();
    assert!(
        !segments.is_empty(),
        "no audit segment in {}",
        dir.display()
    );
    segments
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn is_segment(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".log"))
}

/// The audit records of `kind`, each with its size on disk; at least `expected` of them.
fn records(node: &Node, kind: &str, expected: usize) -> Vec<(usize, Value)> {
    let found: Vec<(usize, Value)> = audit_lines(node)
        .into_iter()
        .filter(|l| l.contains(&format!("\"{kind}\"")))
        .map(|l| {
            (
                l.len(),
                serde_json::from_str(&l).expect("an audit line is JSON"),
            )
        })
        .collect();
    assert!(
        found.len() >= expected,
        "{} {kind} records, expected at least {expected}",
        found.len()
    );
    found
}

fn detail_of(record: &Value) -> &str {
    record["detail"]
        .as_str()
        .or_else(|| record["event"]["detail"].as_str())
        .expect("a detail")
}

fn assert_bounded_records(node: &Node, kind: &str, expected: usize) {
    for (size, record) in records(node, kind, expected) {
        let detail = detail_of(&record);
        eprintln!("{kind} record: {size} bytes, detail {} bytes", detail.len());
        assert!(size < RECORD_BOUND, "a {size}-byte {kind} record");
        assert!(
            detail.len() <= DETAIL_BOUND,
            "a {}-byte detail",
            detail.len()
        );
    }
}

/// N in the `…and N more` that ends a capped list.
fn and_more(text: &str) -> usize {
    let (_, tail) = text
        .rsplit_once("…and ")
        .unwrap_or_else(|| panic!("no '…and N more' in {text:?}"));
    tail.trim_end_matches(" more")
        .parse()
        .unwrap_or_else(|_| panic!("no count in {tail:?}"))
}

#[test]
fn api_refusals_stay_small_however_large_the_request() {
    let world = World::new();
    let (mut a, b) = world.pair();
    a.start();
    let rt = &world.rt;

    // 100 000 unknown members: each is a problem, but only the first ones are listed.
    let mut body = common::node::message_to(&a, &b, "Hej", "text");
    let attributes = body["data"]["attributes"].as_object_mut().unwrap();
    for i in 0..100_000 {
        attributes.insert(format!("unknown{i:06}"), json!("x"));
    }
    let request = serde_json::to_vec(&body).unwrap();
    let answer = a.call(rt, "POST", "/v1/sdk/messages", Some(&request));
    eprintln!(
        "100 000 unknown fields: {} request bytes, {} answer bytes",
        request.len(),
        answer.body.len()
    );
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.len() < ANSWER_BOUND,
        "a {}-byte answer",
        answer.body.len()
    );
    let problem: Value = serde_json::from_slice(&answer.body).unwrap();
    let issues = problem["eventIssues"].as_array().unwrap();
    let named: Vec<&str> = issues.iter().filter_map(|i| i["in"].as_str()).collect();
    assert!(!named.is_empty() && named.len() <= 20, "{named:?}");
    assert!(
        named
            .iter()
            .all(|p| p.starts_with("/data/attributes/unknown"))
    );
    let last = issues.last().unwrap();
    assert!(last.get("in").is_none(), "{last}");
    assert_eq!(
        named.len() + and_more(last["detail"].as_str().unwrap()),
        100_000,
        "listed and counted problems add up to all of them"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(and_more(detail) > 99_000, "{detail}");

    // One member with a 1 MB name: named by its start.
    let mut body = common::node::message_to(&a, &b, "Hej", "text");
    body["data"]["attributes"][&"n".repeat(1 << 20)] = json!(1);
    let answer = a.post(rt, &body);
    eprintln!("a 1 MB field name: {} answer bytes", answer.body.len());
    assert_eq!(answer.status, 400);
    assert!(answer.body.len() < ANSWER_BOUND);
    let problem: Value = serde_json::from_slice(&answer.body).unwrap();
    let pointer = problem["eventIssues"][0]["in"].as_str().unwrap();
    assert!(pointer.starts_with("/data/attributes/nnn") && pointer.ends_with('…'));

    // A long path, without a token and with one: the URI is as long as HTTP lets it be.
    let path = format!("/v1/sdk/messages/{}", "p".repeat(60_000));
    let answer = a.call_as(rt, "", "GET", &path, None);
    assert_eq!(answer.status, 401);
    assert!(answer.body.len() < ANSWER_BOUND);
    let answer = a.call(rt, "GET", &format!("/v2/{}", "p".repeat(60_000)), None);
    assert_eq!(answer.status, 404);
    eprintln!("a 60 KB path: {} answer bytes", answer.body.len());
    assert!(answer.body.len() < ANSWER_BOUND);

    assert!(a.stop());
    assert_bounded_records(&a, "api.unauthorized", 1);
    // The unknown fields, the long name, the unknown path.
    assert_bounded_records(&a, "api.refused", 3);
}

#[test]
fn as4_refusals_stay_small_however_large_the_header_values() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (_, xhe) = sealed_xhe(&a, &b, |x| x);

    // An 8 MB mpc: signed as sent, then swapped in. The P-Mode check comes before the signature's, so what
    // it says reaches whoever sent it, authenticated or not.
    let message = UserMessage::sdk(
        &a.ap_id,
        &b.ap_id,
        MESSAGE_DOC,
        &a.org,
        &b.org,
        "c0ffee00-0000-4000-8000-000000000018",
    );
    let (pair, cert) = key_of(&a, Purpose::Ap);
    let signer = sdk_relay::as4::wssec::ApSigner::new(&pair, cert).unwrap();
    let (_, b_ap) = key_of(&b, Purpose::Ap);
    let mut packed = sdk_relay::as4::pack::pack(&message, &[&xhe], &signer, &b_ap).unwrap();
    let huge = "m".repeat(8 << 20);
    packed.body = replace_once(&packed.body, MPC_DEFAULT.as_bytes(), huge.as_bytes());
    let answer = send_packed(&world, &a, &b, &packed);
    eprintln!(
        "an 8 MB mpc: {} request bytes, {} answer bytes",
        packed.body.len(),
        answer.body.len()
    );
    assert!(
        answer.body.len() < ANSWER_BOUND,
        "a {}-byte answer",
        answer.body.len()
    );
    let errors = ebms_errors(&answer);
    assert!(
        errors.len() == 1
            && errors[0].starts_with("EBMS:0010")
            && errors[0].contains("(8388608 bytes)"),
        "{errors:?}"
    );

    // An 8 MB MessageId, correctly signed: refused before it could be repeated in the signal or the log.
    let (answer, _) = post_as4(&world, &a, &b, &xhe, |m| {
        m.message_id = format!("{}@kommun-a", "i".repeat(8 << 20));
    });
    eprintln!("an 8 MB MessageId: {} answer bytes", answer.body.len());
    assert!(
        answer.body.len() < ANSWER_BOUND,
        "a {}-byte answer",
        answer.body.len()
    );
    let errors = ebms_errors(&answer);
    assert!(
        errors.len() == 1 && errors[0].starts_with("EBMS:0009"),
        "{errors:?}"
    );
    assert!(b.list(&world.rt, "").is_empty(), "nothing was taken in");

    assert!(b.stop());
    assert_bounded_records(&b, "as4.refused", 2);
}

fn replace_once(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the value to replace");
    [&haystack[..at], with, &haystack[at + needle.len()..]].concat()
}
