//! Shared by the integration tests: where DIGG's artefacts are, the independent oracle, and a small owned XML
//! tree for making mutants.
#![allow(dead_code)]

pub mod as4;
pub mod dns;
pub mod node;
pub mod o2o;
pub mod pki;
pub mod stored;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `../shared` beside the checkout (or `SDK_SHARED_DIR`). These tests compare against DIGG's own artefacts;
/// without them they cannot say anything, so they fail rather than skip.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("SDK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("sdk-docs").is_dir() && dir.join("tools/oracle").is_file(),
        "DIGG's artefacts are missing: expected sdk-docs/ and tools/oracle under {} (set SDK_SHARED_DIR){}",
        dir.display(),
        if std::env::var_os("CI").is_some() {
            " — CI must provide them"
        } else {
            ""
        }
    );
    dir
}

pub fn sdk_docs() -> PathBuf {
    shared_dir().join("sdk-docs")
}

/// Every DIGG example and test-data file of the three document types.
pub fn digg_documents() -> Vec<PathBuf> {
    let docs = sdk_docs();
    let mut files = Vec::new();
    for sub in [
        "xhe/examples",
        "message-v3/examples",
        "message-v3/testdata",
        "receipt/examples",
    ] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(docs.join(sub))
            .unwrap_or_else(|e| panic!("cannot list {sub}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        here.sort();
        files.extend(here);
    }
    assert!(
        files.len() >= 13,
        "expected DIGG's examples, found {}",
        files.len()
    );
    files
}

/// The oracle's verdict on one file.
#[derive(Debug, Clone)]
pub struct Oracle {
    pub file: String,
    pub doctype: Option<String>,
    pub well_formed: bool,
    pub xsd_valid: bool,
    pub valid: bool,
    /// (id, location) of each failed Schematron assert.
    pub failures: Vec<(String, String)>,
    pub raw: Value,
}

/// Run `oracle validate` on `files`, split over two processes (the machine has two cores).
pub fn oracle_validate(files: &[PathBuf]) -> Vec<Oracle> {
    let oracle = shared_dir().join("tools/oracle");
    let half = files.len().div_ceil(2).max(1);
    let children: Vec<_> = files
        .chunks(half)
        .map(|chunk| {
            Command::new("python3")
                .arg(&oracle)
                .arg("validate")
                .args(chunk)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run python3 ../shared/tools/oracle")
        })
        .collect();
    let mut out = Vec::new();
    for child in children {
        let res = child.wait_with_output().expect("oracle finished");
        let code = res.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "oracle failed to run (exit {code}): {}",
            String::from_utf8_lossy(&res.stderr)
        );
        for line in String::from_utf8_lossy(&res.stdout).lines() {
            let v: Value = serde_json::from_str(line).expect("oracle prints JSON lines");
            out.push(Oracle {
                file: v["file"].as_str().unwrap_or_default().to_owned(),
                doctype: v["doctype"].as_str().map(str::to_owned),
                well_formed: v["well_formed"].as_bool().unwrap_or(false),
                xsd_valid: v["xsd_valid"].as_bool().unwrap_or(false),
                valid: v["valid"].as_bool().unwrap_or(false),
                failures: v["schematron"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|f| {
                                (
                                    f["id"].as_str().unwrap_or_default().to_owned(),
                                    f["location"].as_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                raw: v,
            });
        }
    }
    assert_eq!(out.len(), files.len(), "one oracle verdict per file");
    out
}

/// If `xml` is an XHE whose payload is a plain SDK message or receipt, that payload as a standalone
/// document, so the oracle can judge the inner layer too.
pub fn plain_sdk_payload(xml: &[u8]) -> Option<String> {
    let doc = sdk_relay::xml::parse_bytes(xml, &sdk_relay::xml::Limits::default()).ok()?;
    let root = doc.root();
    if sdk_relay::envelope::DocType::of(root) != Some(sdk_relay::envelope::DocType::Xhe) {
        return None;
    }
    let inner = sdk_relay::envelope::rules::sdk::plain_payload(root)?;
    match sdk_relay::envelope::DocType::of(inner) {
        Some(sdk_relay::envelope::DocType::MessageV3)
        | Some(sdk_relay::envelope::DocType::Receipt) => Some(inner.to_standalone_xml()),
        _ => None,
    }
}

/// DIGG rule ids (not `context-error`, which is the oracle's own report of an XPath error).
pub fn digg_rule_ids(o: &Oracle) -> Vec<String> {
    let mut ids: Vec<String> = o
        .failures
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| id != "context-error")
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `oracle verify`: xmlsec1's verdict on a document's XML signature (embedded certificate only).
pub fn oracle_verify(path: &Path) -> Option<bool> {
    let out = Command::new(shared_dir().join("tools/oracle"))
        .arg("verify")
        .arg(path)
        .output()
        .expect("run the oracle");
    let report: Value = serde_json::from_slice(&out.stdout).expect("oracle JSON");
    report["signature_valid"].as_bool()
}
