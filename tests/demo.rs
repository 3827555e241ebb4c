//! `sdk-relay demo` as a user runs it: the binary alone, its output and exit code; with `--keep`, the
//! printed commands to send more and to stop the nodes must work as printed.

use std::process::Command;
use std::time::{Duration, Instant};

fn relay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = relay().args(args).output().expect("run sdk-relay");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_demo_runs_to_the_end_with_accepted_rejected_and_verified_audit_logs() {
    let (code, out, err) = run(&["demo"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for expected in [
        "#1  SCHEDULED → WAITING_FOR_RECEIPT → ACCEPTED",
        "#2  SCHEDULED → WAITING_FOR_RECEIPT → ACCEPTED",
        "#3  SCHEDULED → WAITING_FOR_RECEIPT → REJECTED",
        "#4  SCHEDULED → WAITING_FOR_RECEIPT → ACCEPTED",
        "REJECTED: BV not-found: the functional address \"ekonomi\" does not exist at 0203:region-b.example.se",
        "vardplan.pdf byte-identical",
        "✓ Kommun A: audit log verifies",
        "✓ Region B: audit log verifies",
        "message.accepted",
        "every message ended as expected and both audit logs verify",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    assert!(!out.contains('✗'), "{out}");
    // The nodes were stopped cleanly, so each log ends in a signed checkpoint.
    assert_eq!(
        out.matches("1 checkpoints, anchored to record").count(),
        2,
        "{out}"
    );
    // The temporary directory is gone afterwards.
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("Working in "))
        .expect("the working directory");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was left behind");
}

/// The process is gone (or a zombie whose parent, the demo, has exited).
fn gone(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2) == Some("Z"))
        .unwrap_or(true)
}

#[test]
fn with_keep_the_printed_commands_send_more_and_stop_the_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let demo_dir = demo.to_str().unwrap();
    let (code, out, err) = run(&["demo", "--dir", demo_dir, "--keep"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let exports: Vec<(String, String)> = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("export "))
        .expect("an export line")
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let kill_line = out
        .lines()
        .skip_while(|l| !l.starts_with("Stop them"))
        .nth(1)
        .expect("a kill line")
        .trim()
        .to_owned();
    let pids: Vec<String> = kill_line
        .strip_prefix("kill ")
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(pids.len(), 3, "two nodes and the SMP: {kill_line}");
    let stop = || {
        let _ = Command::new("kill").args(&pids).status();
    };

    // The send command as printed (its continuation line joined), with the printed environment.
    let send_line = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("sdk-relay send"))
        .take(2)
        .map(|l| l.trim().trim_end_matches('\\').trim())
        .collect::<Vec<_>>()
        .join(" ");
    let args: Vec<String> = shell_words(&send_line)[1..].to_vec();
    let sent = relay().args(&args).envs(exports.clone()).output().unwrap();
    if !sent.status.success() {
        stop();
    }
    assert!(
        sent.status.success(),
        "{send_line}: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let id = String::from_utf8_lossy(&sent.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let start = Instant::now();
    let accepted = loop {
        let listed = relay()
            .args(["messages", "list"])
            .envs(exports.clone())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&listed.stdout).into_owned();
        if text
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("ACCEPTED"))
        {
            break true;
        }
        if start.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let killed = Command::new("sh")
        .args(["-c", &kill_line])
        .status()
        .unwrap();
    assert!(
        accepted,
        "the message sent with the printed command was not ACCEPTED"
    );
    assert!(killed.success(), "{kill_line}");
    let start = Instant::now();
    while !pids.iter().all(|p| gone(p)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still running after `{kill_line}`"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The nodes stopped cleanly: their audit logs still verify.
    for node in ["kommun-a", "region-b"] {
        let data = demo.join(node).join("data");
        let (code, out, err) = run(&["--data-dir", data.to_str().unwrap(), "audit", "verify"]);
        assert_eq!(code, 0, "{node}: {out}{err}");
    }

    let (code, _, err) = run(&["demo", "--dir", demo_dir]);
    assert_eq!(code, 2, "a used directory is refused");
    assert!(err.contains("is not empty"), "{err}");
}

/// Splits a command line as a POSIX shell would for the simple quoting the demo prints ('…').
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            _ => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}
