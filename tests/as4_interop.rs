//! Interoperability with an independent AS4 implementation: the PyPI package `as4` (0.2.0), configured with
//! the SDK profile's values by `tests/interop/as4_peer.py`. It is installed in a virtual environment under
//! the test target directory the first time (PyPI must be reachable, as in CI); `AS4_PEER_PYTHON` may name
//! an interpreter that already has it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::o2o::{Party, party};
use sdk_relay::as4::pack::{self, ReceivePolicy};
use sdk_relay::as4::wssec::ApSigner;
use sdk_relay::pki::{Checker, Purpose, RevocationPolicy, Role, TrustStore};

const DOC_ID: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

/// A Python with `as4` 0.2.0, made once per test run.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("AS4_PEER_PYTHON") {
            return PathBuf::from(p);
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("as4-venv");
        let python = venv.join("bin/python");
        if !python.exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3");
            assert!(ok.success(), "python3 -m venv failed");
            let ok = Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "as4==0.2.0"])
                .status()
                .expect("pip");
            assert!(
                ok.success(),
                "pip install as4==0.2.0 failed (PyPI must be reachable)"
            );
        }
        python
    })
}

fn peer(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, serde_json::Value, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/as4_peer.py");
    let out = Command::new(python())
        .arg(script)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("run the as4 peer");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("peer output: {stdout} {stderr}"));
    (out.status.success(), json, stderr)
}

/// Runs a peer command with the peer's own AP key (`theirs`, AP0002), for a message from `from` to `to`.
fn peer_as_theirs(
    n: &Net,
    command: &str,
    from: &str,
    to: &str,
    extra: &[&dyn AsRef<std::ffi::OsStr>],
) -> (bool, serde_json::Value, String) {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &command,
        &"--key",
        &n.theirs.key_pem,
        &"--cert",
        &n.theirs.cert_pem,
        &"--from",
        &from,
        &"--to",
        &to,
    ];
    args.extend_from_slice(extra);
    peer(&args)
}

struct Net {
    dir: tempfile::TempDir,
    ours: Party,
    theirs: Party,
    anchor: PathBuf,
    intermediate: PathBuf,
    data_dir: PathBuf,
}

fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let fed = common::pki::federation(&dir.path().join("fed"), "interop");
    let data_dir = dir.path().join("node");
    common::pki::trust_federation(&data_dir, &fed);
    let files = fed.trust_files();
    let file = |name: &str| {
        files
            .iter()
            .find(|(r, f)| *r == Role::Ap && f.to_string_lossy().contains(name))
            .map(|(_, f)| f.clone())
            .expect("AP CA file")
    };
    Net {
        ours: party(dir.path(), &fed, Purpose::Ap, "AP0001-SDK-TEST", "ours"),
        theirs: party(dir.path(), &fed, Purpose::Ap, "AP0002-SDK-TEST", "theirs"),
        anchor: file("ap-root"),
        intermediate: file("ap-ca"),
        data_dir,
        dir,
    }
}

#[test]
fn a_message_the_as4_package_builds_is_unpacked_by_us_and_our_receipt_satisfies_it() {
    let n = net();
    let d = n.dir.path();
    let payload = common::o2o::clear_envelope();
    std::fs::write(d.join("payload.xml"), &payload).unwrap();
    let action = format!("busdox-docid-qns::{DOC_ID}");
    let (ok, report, stderr) = peer_as_theirs(
        &n,
        "send",
        "AP0002-SDK-TEST",
        "AP0001-SDK-TEST",
        &[
            &"--to-cert",
            &n.ours.cert_pem,
            &"--action",
            &action,
            &"--original-sender",
            &"0203:region-b.example.se",
            &"--final-recipient",
            &"0203:kommun-a.example.se",
            &"--payload",
            &d.join("payload.xml"),
            &"--out-body",
            &d.join("body"),
            &"--out-type",
            &d.join("type"),
            &"--state",
            &d.join("state.json"),
        ],
    );
    assert!(ok, "{report} {stderr}");

    let trust = TrustStore::open(&n.data_dir).load().unwrap();
    let checker = Checker::new(&trust, RevocationPolicy::default());
    let env = common::pki::env("interop");
    let policy = ReceivePolicy::new(&checker, &env);
    let body = std::fs::read(d.join("body")).unwrap();
    let content_type = std::fs::read_to_string(d.join("type")).unwrap();
    let received = pack::unpack(&content_type, &body, &policy, &n.ours.payload_key())
        .expect("we unpack theirs");
    assert_eq!(received.payloads.len(), 1);
    assert_eq!(received.payloads[0].1, payload.as_bytes());
    assert_eq!(received.message.from.id, "AP0002-SDK-TEST");
    assert_eq!(received.message.action, action);
    assert_eq!(received.message.original_sender, "0203:region-b.example.se");

    let receipt = pack::receipt(
        &received,
        &ApSigner::new(&n.ours.key, n.ours.cert.clone()).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("receipt.xml"), &receipt).unwrap();
    let (ok, report, stderr) = peer_as_theirs(
        &n,
        "check-receipt",
        "AP0002-SDK-TEST",
        "AP0001-SDK-TEST",
        &[
            &"--to-cert",
            &n.ours.cert_pem,
            &"--state",
            &d.join("state.json"),
            &"--receipt",
            &d.join("receipt.xml"),
        ],
    );
    assert!(ok, "the as4 package refused our receipt: {report} {stderr}");
    assert_eq!(report["acknowledged"], true);
}

#[test]
fn a_message_we_pack_is_accepted_by_the_as4_package_and_its_receipt_verifies_here() {
    let n = net();
    let d = n.dir.path();
    let payload = common::o2o::clear_envelope();
    let message = common::as4::message(1);
    let signer = ApSigner::new(&n.ours.key, n.ours.cert.clone()).unwrap();
    let packed = pack::pack(&message, &[payload.as_bytes()], &signer, &n.theirs.cert).unwrap();
    std::fs::write(d.join("body"), &packed.body).unwrap();
    std::fs::write(d.join("type"), &packed.content_type).unwrap();
    let (ok, report, stderr) = peer_as_theirs(
        &n,
        "receive",
        "AP0001-SDK-TEST",
        "AP0002-SDK-TEST",
        &[
            &"--anchor",
            &n.anchor,
            &"--intermediate",
            &n.intermediate,
            &"--body",
            &d.join("body"),
            &"--type",
            &d.join("type"),
            &"--out-payload",
            &d.join("payload.out"),
            &"--out-receipt",
            &d.join("receipt.xml"),
        ],
    );
    assert!(ok, "the as4 package refused our message: {report} {stderr}");
    assert_eq!(
        std::fs::read(d.join("payload.out")).unwrap(),
        payload.as_bytes()
    );
    assert_eq!(
        report["properties"]["finalRecipient"],
        "0203:region-b.example.se"
    );
    let receipt = std::fs::read(d.join("receipt.xml")).unwrap();
    pack::verify_receipt(&receipt, &packed, &n.theirs.cert).expect("their receipt verifies here");
}
