//! `sdk-relay validate` as a user runs it: output formats, standard input and exit codes.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn relay(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("finished");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn doc(rel: &str) -> String {
    common::sdk_docs().join(rel).to_string_lossy().into_owned()
}

#[test]
fn valid_files_exit_zero() {
    let (code, out, _) = relay(
        &[
            "validate",
            &doc("xhe/examples/XHE-tm-base.xml"),
            &doc("receipt/examples/Kvittens_RE-SIG.xml"),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("XHE-tm-base.xml: xhe: valid"), "{out}");
    assert!(out.contains("Kvittens_RE-SIG.xml: receipt: valid"), "{out}");
}

#[test]
fn an_invalid_file_lists_rule_location_and_message_and_exits_one() {
    let (code, out, _) = relay(
        &[
            "validate",
            &doc("xhe/examples/XHE-tm-base.xml"),
            &doc("message-v3/testdata/TF2.4.2.xml"),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("senderIdvalue  /messagePayload/message/messageHeader/sender/senderID/root  "),
        "{out}"
    );
}

#[test]
fn json_gives_one_object_per_file() {
    let (code, out, _) = relay(
        &[
            "validate",
            "--json",
            &doc("message-v3/testdata/TF2.4.1.xml"),
            &doc("message-v3/testdata/min.xml"),
        ],
        None,
    );
    assert_eq!(code, 1);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["doctype"], "message-v3");
    assert_eq!(lines[0]["valid"], false);
    let rules: Vec<&str> = lines[0]["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["rule"].as_str().expect("rule"))
        .collect();
    assert!(
        rules.contains(&"XSD-DATATYPE") && rules.contains(&"conversationId"),
        "{rules:?}"
    );
    for v in lines[0]["violations"].as_array().expect("violations") {
        assert!(
            v["location"]
                .as_str()
                .is_some_and(|l| l.starts_with("/messagePayload/"))
        );
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(lines[1]["valid"], true);
    assert_eq!(lines[1]["violations"].as_array().map(Vec::len), Some(0));
}

#[test]
fn dash_reads_standard_input() {
    let bytes = std::fs::read(doc("receipt/examples/Kvittens_AP-Accepterat.xml")).expect("read");
    let (code, out, _) = relay(&["validate", "-"], Some(&bytes));
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("-: receipt: valid"), "{out}");
}

#[test]
fn unreadable_unknown_or_malformed_input_exits_two() {
    let (code, out, _) = relay(&["validate", "/nonexistent/file.xml"], None);
    assert_eq!(code, 2);
    assert!(out.contains("cannot read"), "{out}");
    let (code, out, _) = relay(
        &["validate", &doc("message-v3/examples/xhe_unencrypted.xml")],
        None,
    );
    assert_eq!(code, 2);
    assert!(out.contains("is not an XHE"), "{out}");
    let (code, out, _) = relay(&["validate", "-"], Some(b"<a><b></a>"));
    assert_eq!(code, 2);
    assert!(out.contains("not well-formed"), "{out}");
}

#[test]
fn usage_errors_exit_two_and_help_shows_examples() {
    let (code, _, err) = relay(&["validate"], None);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = relay(&["validate", "--help"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("Examples:") && out.contains("sdk-relay validate --json"),
        "{out}"
    );
}
