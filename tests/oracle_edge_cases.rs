//! Hand-picked edge cases of the datatypes, whitespace, CDATA, xsi attributes, IDs, wildcards and
//! well-formedness, each a one-line edit of a DIGG example (`tests/data/edge_cases.tsv`: name, base file
//! under sdk-docs, text to replace, replacement; `\n`, `\t`, `\r` escaped). Our verdict must equal the
//! oracle's on every case, but for the deliberate differences of docs/deliberate-differences.md.

mod common;

use sdk_relay::envelope;
use sdk_relay::xml::Limits;

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\r", "\r")
}

#[test]
fn edge_cases_agree_with_the_oracle() {
    let table = include_str!("data/edge_cases.tsv");
    let docs = common::sdk_docs();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cases = Vec::new();
    for line in table.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, base, old, new] = cols.as_slice() else {
            panic!("bad line in edge_cases.tsv: {line}");
        };
        let text = std::fs::read_to_string(docs.join(base)).expect("base document");
        let old = unescape(old);
        assert!(text.contains(&old), "{name}: {base} lacks {old:?}");
        let path = tmp.path().join(format!("{name}.xml"));
        std::fs::write(&path, text.replacen(&old, &unescape(new), 1)).expect("write case");
        cases.push((name.to_string(), path));
    }
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let files: Vec<_> = cases.iter().map(|(_, p)| p.clone()).collect();
    let verdicts = common::oracle_validate(&files);
    let mut failures = Vec::new();
    for ((name, path), oracle) in cases.iter().zip(&verdicts) {
        let bytes = std::fs::read(path).expect("read case");
        match envelope::check_bytes(&bytes, &Limits::default()) {
            Err(e) => {
                if oracle.well_formed && oracle.doctype.is_some() {
                    failures.push(format!(
                        "{name}: we refuse ({e}), the oracle reads it: {}",
                        oracle.raw
                    ));
                }
            }
            Ok((_, violations)) => {
                if !oracle.well_formed || oracle.doctype.is_none() {
                    failures.push(format!(
                        "{name}: the oracle refuses the input, we read it: {}",
                        oracle.raw
                    ));
                    continue;
                }
                let ours = violations.is_empty();
                let deliberate = !ours && violations.iter().all(|v| v.rule.starts_with("SDK-"));
                if ours != oracle.valid && !deliberate {
                    failures.push(format!(
                        "{name}: ours={ours} oracle={}\n  ours: {violations:?}\n  oracle: {}",
                        oracle.valid, oracle.raw
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
