//! `/metrics` stays a valid Prometheus exposition with a bounded label set, whatever error codes peers send
//! (issue 20): a peer's Error signal names its own `errorCode`, which used to be copied into a label value
//! unescaped. The judge is the Python `prometheus-client` parser, not our own reading.

use std::path::{Path, PathBuf};
use std::process::Command;

use sdk_relay::node::Metrics;

/// A Python with `prometheus-client`, made once per test run.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prometheus-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3");
        assert!(ok.success(), "python3 -m venv failed");
        let ok = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "prometheus-client==0.21.1",
            ])
            .status()
            .expect("pip");
        assert!(
            ok.success(),
            "pip install prometheus-client failed (PyPI must be reachable)"
        );
    }
    python
}

/// The families and samples the Python parser reads from `text`, as `name{labels} value` lines.
fn parsed(text: &str) -> Vec<String> {
    let script = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in f.samples:\n\
        \x20       print(s.name, sorted(s.labels.items()), s.value)\n";
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the exposition does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn hostile_error_codes_leave_the_exposition_valid_and_the_label_set_bounded() {
    let metrics = Metrics::default();
    let hostile = [
        "EBMS:0004\"} 1\nsdk_relay_as4_sent_total 999",
        "x\\",
        "\n",
        "",
        "EBMS:0004",
        "http-400",
        "retry",
    ];
    for code in hostile {
        metrics.error(code);
    }
    for i in 0..10_000 {
        metrics.error(&format!("EBMS:{i:05}"));
    }
    let text = metrics.render(&[]);
    let samples = parsed(&text);
    let errors: Vec<&String> = samples
        .iter()
        .filter(|s| s.starts_with("sdk_relay_errors_total "))
        .collect();
    // EBMS:0004, http-400, retry, and everything else (10 000 made-up codes, four hostile) as one `other`.
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|s| s.contains("'other')") && s.ends_with(" 10004.0")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|s| s.contains("'EBMS:0004')") && s.ends_with(" 1.0")),
        "{errors:#?}"
    );
    // The injected line did not become a sample.
    assert!(
        samples.contains(&"sdk_relay_as4_sent_total [] 0.0".to_owned()),
        "{samples:#?}"
    );
    assert!(!text.contains("999"));
}
