//! The tamper-evident audit log: every kind of tampering is caught and named, concurrent writers keep one
//! chain, and a writer killed with SIGKILL leaves a log that verifies and takes further appends.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::{relay, stdout};
use sdk_relay::audit::{AuditLog, CheckpointSigner, Event, Options, Problem, verify};
use sdk_relay::pki::Purpose;

fn signer(data_dir: &Path) -> CheckpointSigner {
    let fed = common::pki::federation(&data_dir.join("fed"), "audit-test");
    let id = common::pki::issue_into(
        data_dir,
        &fed,
        Purpose::Ap,
        "AP0001-SDK-TEST",
        &common::pki::fast(),
    );
    let entry = sdk_relay::pki::KeyStore::open(data_dir).get(&id).unwrap();
    CheckpointSigner::new(&entry.key_pair().unwrap(), entry.leaf().unwrap().clone()).unwrap()
}

fn event(i: u64) -> Event {
    Event {
        kind: "message.received".into(),
        outcome: "ok".into(),
        message_id: Some(format!("msg-{}", i / 3)),
        org: Some("0203:göteborg.se".into()),
        peer_ap: Some("AP0045-SDK-TEST".into()),
        detail: format!("event {i}: Överförmyndarnämnden"),
        ..Event::default()
    }
}

/// 60 records in segments of 25, a checkpoint every 10 records and one at the end.
fn filled(dir: &Path) {
    let log = AuditLog::open(
        dir,
        Options {
            segment_records: 25,
            checkpoint_every: 10,
            ..Options::default()
        },
        Some(signer(dir)),
    )
    .unwrap();
    for i in 0..60 {
        log.append(event(i)).unwrap();
    }
    log.checkpoint().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn segment(dir: &Path, first: u64) -> std::path::PathBuf {
    dir.join(format!("audit/segment-{first:012}.log"))
}

fn edit_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    let text = if lines.is_empty() {
        String::new()
    } else {
        lines.join("\n") + "\n"
    };
    std::fs::write(path, text).unwrap();
}

#[test]
fn every_kind_of_tampering_is_caught_and_named_and_the_untouched_log_verifies() {
    let base = tempfile::tempdir().unwrap();
    filled(base.path());
    let report = verify(base.path()).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.records, 60);
    assert_eq!(report.anchored_to, Some(59));
    assert_eq!(report.signers, vec!["CN=AP0001-SDK-TEST".to_owned()]);

    type Tamper = fn(&Path);
    type Expected = fn(&Problem) -> bool;
    let cases: Vec<(&str, Tamper, Expected)> = vec![
        (
            "one byte of record 30 changed",
            |d| {
                let path = segment(d, 25);
                let mut bytes = std::fs::read(&path).unwrap();
                let line_start = bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .nth(4)
                    .unwrap()
                    .0
                    + 1;
                let at = line_start
                    + bytes[line_start..]
                        .windows(5)
                        .position(|w| w == b"event")
                        .unwrap()
                    + 6;
                bytes[at] = b'9';
                std::fs::write(&path, bytes).unwrap();
            },
            |p| matches!(p, Problem::Changed { seq: 30, .. }),
        ),
        (
            "record 12 deleted",
            |d| {
                edit_lines(&segment(d, 0), |l| {
                    l.remove(12);
                })
            },
            |p| *p == Problem::Removed { seq: 12 },
        ),
        (
            "records 20 and 21 swapped",
            |d| edit_lines(&segment(d, 0), |l| l.swap(20, 21)),
            |p| *p == Problem::Reordered { seq: 20 },
        ),
        (
            "the last segment cut short",
            |d| {
                let path = segment(d, 50);
                let len = std::fs::metadata(&path).unwrap().len();
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                file.set_len(len / 2).unwrap();
            },
            |p| {
                matches!(
                    p,
                    Problem::Truncated {
                        checkpoint_seq: 59,
                        ..
                    }
                )
            },
        ),
        (
            "a checkpoint's signature replaced",
            |d| {
                edit_lines(&d.join("audit/checkpoints.log"), |l| {
                    let sig = l[2].find("\"signature\":\"").unwrap() + 13;
                    let mut chars: Vec<char> = l[2].chars().collect();
                    chars[sig + 10] = if chars[sig + 10] == 'A' { 'B' } else { 'A' };
                    l[2] = chars.into_iter().collect();
                })
            },
            |p| matches!(p, Problem::BadCheckpointSignature { seq: 29, .. }),
        ),
    ];
    for (name, tamper, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(base.path(), dir.path());
        tamper(dir.path());
        let report = verify(dir.path()).unwrap();
        let problem = report
            .problem
            .unwrap_or_else(|| panic!("{name}: not detected"));
        assert!(expected(&problem), "{name}: wrong finding: {problem}");
        // The CLI says the same, and exits 1.
        let out = relay(dir.path(), &["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            stdout(&out).contains(&problem.to_string()),
            "{name}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_records: 100,
        checkpoint_every: 50,
        ..Options::default()
    };
    let shared = AuditLog::open(dir.path(), options, Some(signer(dir.path()))).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let log = &shared;
            s.spawn(move || {
                for i in 0..50 {
                    log.append(event(t * 1000 + i)).unwrap();
                }
            });
        }
        // Two more writers with their own handle, as separate processes would have: the lock file orders them.
        for t in 4..6 {
            let path = dir.path().to_owned();
            s.spawn(move || {
                let own = AuditLog::open(&path, options, None).unwrap();
                for i in 0..50 {
                    own.append_batch(vec![event(t * 1000 + i), event(t * 1000 + i + 500)])
                        .unwrap();
                }
            });
        }
    });
    let report = verify(dir.path()).unwrap();
    assert_eq!(report.problem, None, "{:?}", report.problem);
    assert_eq!(report.records, 4 * 50 + 2 * 100);
}

#[test]
fn a_writer_killed_mid_append_leaves_a_log_that_verifies_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    signer(d);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("--data-dir")
        .arg(d)
        .args([
            "audit",
            "append",
            "--kind",
            "load.test",
            "--detail",
            "Ödmjukt",
            "--repeat",
            "1000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it write for a while, then SIGKILL it mid-stream.
    let started = Instant::now();
    while std::fs::metadata(segment(d, 0)).map_or(0, |m| m.len()) < 200_000
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let report = verify(d).unwrap();
    assert_eq!(report.problem, None, "{:?}", report.problem);
    let before = report.last_seq.expect("records were written");
    assert!(report.records > 100);

    // Appending continues after the crash, on the same chain.
    let log = AuditLog::open(d, Options::default(), Some(signer(&d.join("again")))).unwrap();
    let seq = log.append(event(1)).unwrap();
    assert_eq!(seq, before + 1);
    log.checkpoint().unwrap();
    let report = verify(d).unwrap();
    assert_eq!(report.problem, None, "{:?}", report.problem);
    assert_eq!(report.last_seq, Some(before + 1));
    assert!(!report.incomplete_tail);
}

#[test]
fn auditors_list_show_and_export_with_swedish_characters_intact() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let shown = stdout(&relay(dir.path(), &["audit", "show", "msg-4"]));
    assert!(shown.starts_with("message msg-4: 3 event(s)"), "{shown}");
    assert!(shown.contains("Överförmyndarnämnden"));
    let listed = stdout(&relay(
        dir.path(),
        &["audit", "list", "--message-id", "msg-4", "--json"],
    ));
    assert_eq!(listed.lines().count(), 3);
    let csv = relay(
        dir.path(),
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--org",
            "0203:göteborg.se",
        ],
    );
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert_eq!(text.lines().count(), 61);
    assert!(text.contains("0203:göteborg.se") && text.contains("Överförmyndarnämnden"));
    assert_eq!(
        relay(dir.path(), &["audit", "show", "nope"]).status.code(),
        Some(1)
    );
}

#[test]
fn the_index_finds_a_message_without_reading_the_log_and_catches_up_with_new_records() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let index = sdk_relay::audit::AuditIndex::open(dir.path()).unwrap();
    let of_4 = index.records_of(Some("msg-4"), None).unwrap();
    assert_eq!(
        of_4.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![12, 13, 14]
    );
    // New records are indexed on the next query; nothing is indexed twice.
    let log = AuditLog::open(dir.path(), Options::default(), None).unwrap();
    log.append(Event {
        message_id: Some("msg-4".into()),
        ..event(99)
    })
    .unwrap();
    assert_eq!(index.records_of(Some("msg-4"), None).unwrap().len(), 4);
    assert_eq!(index.catch_up().unwrap(), 0);
    // Lost index: rebuilt from the log.
    drop(index);
    std::fs::remove_file(dir.path().join("audit/index.redb")).unwrap();
    let rebuilt = sdk_relay::audit::AuditIndex::open(dir.path()).unwrap();
    assert_eq!(rebuilt.records_of(Some("msg-4"), None).unwrap().len(), 4);
}

#[test]
fn administrative_changes_are_logged_and_reads_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fed = d.join("fed");
    for args in [
        vec![
            "certs",
            "federation",
            "create",
            "--dir",
            fed.to_str().unwrap(),
            "--env",
            "audit-test",
            "--key",
            "rsa2048",
        ],
        vec![
            "certs",
            "issue",
            "ap",
            "--federation",
            fed.to_str().unwrap(),
            "--cn",
            "AP0001-SDK-TEST",
            "--key",
            "rsa2048",
        ],
        vec![
            "trust",
            "import",
            "--env",
            "audit-test",
            "--federation",
            fed.to_str().unwrap(),
        ],
        vec![
            "addressbook",
            "org",
            "add",
            "0203:goteborg.se",
            "--name",
            "Göteborgs Stad",
        ],
        vec!["addressbook", "org", "list"],
        vec!["certs", "list"],
    ] {
        let out = relay(d, &args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            common::pki::stderr(&out)
        );
    }
    let listed = stdout(&relay(d, &["audit", "list", "--json"]));
    let kinds: Vec<String> = listed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "admin.certs.federation.create",
            "admin.certs.issue",
            "admin.trust.import",
            "admin.addressbook.org.add"
        ]
    );
    assert!(
        listed.contains("0203:goteborg.se") && listed.contains("\"actor_kind\":\"administrator\"")
    );
    assert_eq!(verify(d).unwrap().problem, None);
}

#[test]
fn pruning_keeps_a_log_that_verifies_from_a_signed_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let options = Options {
        segment_records: 25,
        checkpoint_every: 1_000,
        ..Options::default()
    };
    let log = AuditLog::open(d, options, Some(signer(d))).unwrap();
    for i in 0..100 {
        log.append(event(i)).unwrap();
    }
    let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(
        log.prune(future).unwrap(),
        75,
        "every segment but the current one"
    );
    let report = verify(d).unwrap();
    assert_eq!(report.problem, None, "{:?}", report.problem);
    assert_eq!((report.first_seq, report.records), (Some(75), 25));
    // The index follows, and appending goes on.
    assert_eq!(log.append(event(100)).unwrap(), 100);
    let index = sdk_relay::audit::AuditIndex::open(d).unwrap();
    assert_eq!(
        index.records_of(Some("msg-33"), None).unwrap().len(),
        2,
        "records 99 and 100"
    );
    // Without the signed anchor, the missing beginning is a removal.
    edit_lines(&d.join("audit/checkpoints.log"), |l| {
        l.retain(|c| !c.contains("\"seq\":74,"))
    });
    assert_eq!(
        verify(d).unwrap().problem,
        Some(Problem::Removed { seq: 74 })
    );
    // Pruning without the node's key is refused: nothing could anchor what is left.
    let unsigned = AuditLog::open(d, options, None).unwrap();
    assert!(unsigned.prune(future).is_err());
}

#[test]
fn tail_follows_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = AuditLog::open(d, Options::default(), None).unwrap();
    for i in 0..5 {
        log.append(event(i)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("--data-dir")
        .arg(d)
        .args(["audit", "tail", "-n", "2", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut read_line = || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        line
    };
    assert!(read_line().starts_with("#3 "));
    assert!(read_line().starts_with("#4 "));
    log.append(Event {
        detail: "appended while following".into(),
        ..event(5)
    })
    .unwrap();
    let followed = read_line();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        followed.starts_with("#5 ") && followed.contains("appended while following"),
        "{followed}"
    );
}

#[test]
fn a_checkpoint_is_also_written_when_the_last_one_is_old() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let options = Options {
        checkpoint_every: 1_000,
        checkpoint_interval: time::Duration::ZERO,
        ..Options::default()
    };
    let log = AuditLog::open(d, options, Some(signer(d))).unwrap();
    log.append(event(0)).unwrap();
    assert_eq!(
        verify(d).unwrap().checkpoints,
        0,
        "the count rule alone starts the chain of checkpoints"
    );
    log.checkpoint().unwrap();
    log.append(event(1)).unwrap();
    log.append(event(2)).unwrap();
    let report = verify(d).unwrap();
    assert_eq!((report.checkpoints, report.anchored_to), (3, Some(2)));
}
