//! The `certs`, `trust` and `crl` commands as administrators use them, checked against DIGG's real CA files
//! and against OpenSSL (CSR verification, `openssl ca`, PKCS#12 export).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pki::*;
use serde_json::Value;

/// (environment, folder role pairs) of DIGG's published chains.
const DIGG: [(&str, &[(&str, &str)]); 3] = [
    (
        "open-test",
        &[
            ("ap", "Certifikatskedja Accesspunkt"),
            ("smp", "Certifikatskedja SMP"),
            ("tls", "Certifikatskedjor mTLS"),
            ("o2o", "Certifikatskedjor O2O"),
        ],
    ),
    (
        "qa",
        &[
            ("ap", "Certifikatskedja Accesspunkt"),
            ("smp", "Certifikatskedja SMP"),
            ("tls", "Certifikatskedja mTLS"),
            ("o2o", "Certifikatskedjor O2O"),
        ],
    ),
    (
        "prod",
        &[
            ("ap", "Certifikatskedja Accesspunkt"),
            ("smp", "Certifikatskedja SMP"),
            ("tls", "Certifikatskedja mTLS"),
            ("o2o", "Certifikatskedjor O2O"),
        ],
    ),
];

fn certificate_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cer" || x == "crt"))
        .collect();
    files.sort();
    files
}

/// What OpenSSL says about a certificate file: (SHA-256 fingerprint lower-case hex, notAfter date, subject).
fn openssl_facts(file: &Path) -> (String, String, String) {
    let bytes = std::fs::read(file).unwrap();
    let form = if bytes.starts_with(b"-----BEGIN") {
        "PEM"
    } else {
        "DER"
    };
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ])
        .args([
            "-subject",
            "-nameopt",
            "RFC2253,-esc_msb",
            "-inform",
            form,
            "-in",
        ])
        .arg(file)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl x509 {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .trim()
            .to_owned()
    };
    (
        field("sha256 Fingerprint=").replace(':', "").to_lowercase(),
        field("notAfter=")[..10].to_owned(),
        field("subject="),
    )
}

#[test]
fn digg_ca_files_import_with_the_right_subjects_roles_and_validity() {
    let certs = common::sdk_docs().join("certs");
    for (env, folders) in DIGG {
        let node = tempfile::tempdir().unwrap();
        let mut expected = Vec::new();
        for (role, folder) in folders {
            let files = certificate_files(&certs.join(env).join("CAs").join(folder));
            assert!(!files.is_empty(), "{env}/{folder}");
            let mut args: Vec<String> = vec![
                "trust".into(),
                "import".into(),
                "--env".into(),
                env.into(),
                "--role".into(),
                (*role).into(),
            ];
            args.extend(files.iter().map(|f| f.display().to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = relay(node.path(), &args);
            assert!(out.status.success(), "{env}/{role}: {}", stderr(&out));
            for f in files {
                expected.push((role.to_string(), openssl_facts(&f)));
            }
        }
        let out = relay(node.path(), &["trust", "list", "--json", "--env", env]);
        assert!(out.status.success());
        let listed: Value = serde_json::from_str(&stdout(&out)).expect("trust list --json");
        let listed = listed.as_array().unwrap();
        assert_eq!(
            listed.len(),
            expected.len(),
            "{env}: one entry per file and role"
        );
        for (role, (sha256, not_after, subject)) in &expected {
            let found = listed
                .iter()
                .find(|c| c["sha256"] == sha256.as_str() && c["role"] == role.as_str())
                .unwrap_or_else(|| panic!("{env}: {subject} not listed as {role}"));
            assert_eq!(found["env"], *env);
            assert!(
                found["not_after"]
                    .as_str()
                    .unwrap()
                    .starts_with(not_after.as_str()),
                "{env} {subject}"
            );
            let cn = subject.split(',').next().unwrap().trim_start_matches("CN=");
            assert_eq!(found["common_name"], cn, "{env}");
        }
        // DIGG's AP intermediate is listed as issued by the AP root of the same environment.
        let ap_ca = listed
            .iter()
            .find(|c| c["role"] == "ap" && c["self_signed"] == false)
            .expect("an AP intermediate");
        assert!(
            ap_ca["common_name"]
                .as_str()
                .unwrap()
                .starts_with("Accesspunkt CA-")
        );

        // With trust but no keys: list says so, check names each missing purpose and fails.
        let out = relay(node.path(), &["certs", "list"]);
        assert!(out.status.success());
        assert!(stdout(&out).contains("no keys"));
        let out = relay(node.path(), &["certs", "check"]);
        assert_eq!(out.status.code(), Some(1));
        for purpose in ["ap", "tls", "o2o-sign", "o2o-encrypt"] {
            assert!(
                stdout(&out).contains(&format!("no active {purpose} key")),
                "{}",
                stdout(&out)
            );
        }
    }
}

#[test]
fn digg_pkcs12_trust_store_imports() {
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    let store = common::sdk_docs().join("certs/qa/Truststores/as4-sdk-qa-truststore.p12");
    let import = |node: &str, password: &str| {
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        let args = [
            "trust",
            "import",
            "--env",
            "qa",
            "--role",
            "ap",
            "--password-file",
        ];
        let mut args: Vec<&str> = args.to_vec();
        args.extend([pw.to_str().unwrap(), store.to_str().unwrap()]);
        relay(&tmp.path().join(node), &args)
    };
    let out = import("node", "p@ssword");
    assert!(out.status.success(), "{}", stderr(&out));
    // SDK §7.3: the AS4 trust store holds the AP root, the AP intermediate and the SMP root.
    let text = stdout(&out);
    for cn in [
        "Accesspunkt CA-SDK-QA",
        "Rot CA eDelivery Accesspunkt - QA",
        "Rot CA eDelivery SMP-QA",
    ] {
        assert!(text.contains(cn), "{text}");
    }
    let out = import("node2", "wrong");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));
}

struct Node {
    tmp: tempfile::TempDir,
    outputs: Vec<String>,
}

impl Node {
    fn dir(&self) -> PathBuf {
        self.tmp.path().join("node")
    }
    fn fed(&self) -> PathBuf {
        self.tmp.path().join("fed")
    }
    /// Runs a command that must succeed, keeping its output for the "no key material" scan.
    fn ok(&mut self, args: &[&str]) -> String {
        let out = relay(&self.dir(), args);
        self.outputs.push(stdout(&out) + &stderr(&out));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    }
    /// Runs `certs check` and returns (exit code, output).
    fn check(&mut self, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["certs", "check"];
        args.extend_from_slice(extra);
        let out = relay(&self.dir(), &args);
        self.outputs.push(stdout(&out) + &stderr(&out));
        (out.status.code().unwrap(), stdout(&out))
    }
}

/// A node with ap, tls, o2o-sign and o2o-encrypt keys from a CLI-made test federation, fully trusted.
fn healthy_node() -> Node {
    let mut node = Node {
        tmp: tempfile::tempdir().unwrap(),
        outputs: Vec::new(),
    };
    let fed = node.fed().display().to_string();
    node.ok(&[
        "certs",
        "federation",
        "create",
        "--env",
        "test",
        "--dir",
        &fed,
        "--key",
        "rsa2048",
    ]);
    node.ok(&["trust", "import", "--env", "test", "--federation", &fed]);
    node.ok(&[
        "certs",
        "issue",
        "ap",
        "--federation",
        &fed,
        "--cn",
        "AP0001-SDK-TEST",
        "--key",
        "rsa2048",
    ]);
    node.ok(&[
        "certs",
        "issue",
        "tls",
        "--federation",
        &fed,
        "--cn",
        "localhost",
        "--dns",
        "127.0.0.1",
        "--key",
        "rsa2048",
    ]);
    node.ok(&[
        "certs",
        "issue",
        "o2o",
        "--federation",
        &fed,
        "--subject",
        "CN=Kommun A,O=Kommun A,C=SE",
        "--key",
        "rsa2048",
    ]);
    node
}

#[test]
fn certs_check_is_zero_when_healthy_and_names_each_problem() {
    let mut node = healthy_node();
    let (code, out) = node.check(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok:"), "{out}");

    let list: Value = serde_json::from_str(&node.ok(&["certs", "list", "--json"])).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ap-1", "tls-1", "o2o-sign-1", "o2o-encrypt-1"]);
    for e in list.as_array().unwrap() {
        assert_eq!(e["status"]["status"], "ok", "{e}");
        assert_eq!(e["state"], "active");
        assert!(e["days_left"].as_i64().unwrap() >= 364);
        assert_eq!(e["certificate"]["sha256"].as_str().unwrap().len(), 64);
    }
    let human = node.ok(&["certs", "list"]);
    for word in [
        "ap-1  ap  active  env=test  status=ok",
        "subject",
        "issuer",
        "serial",
        "sha256",
        "days left",
    ] {
        assert!(human.contains(word), "{word}: {human}");
    }

    // Expiring within the warning window.
    let (code, out) = node.check(&["--warn-days", "400"]);
    assert_eq!(code, 1);
    assert!(out.contains("expiring: ap-1"), "{out}");

    // Expired (and then the CRLs are out of date too).
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(400))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, out) = node.check(&["--at", &later]);
    assert_eq!(code, 1);
    assert!(out.contains("expired: ap-1"), "{out}");
    assert!(out.contains("crl-out-of-date"), "{out}");

    // Revoked by its CA, once the node has the new CRL (TF-02).
    let fed = node.fed().display().to_string();
    let node_dir = node.dir().display().to_string();
    node.ok(&[
        "certs",
        "federation",
        "revoke",
        "--dir",
        &fed,
        "--data-dir",
        &node_dir,
        "ap-1",
    ]);
    node.ok(&["crl", "import", &format!("{fed}/ap-ca/crl.pem")]);
    let (code, out) = node.check(&[]);
    assert_eq!(code, 1);
    assert!(out.contains("revoked: ap-1"), "{out}");

    // Untrusted: the TLS CAs are removed from the trust store.
    let trust: Value = serde_json::from_str(&node.ok(&["trust", "list", "--json"])).unwrap();
    for ca in trust
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "tls")
    {
        node.ok(&["trust", "remove", &ca["sha256"].as_str().unwrap()[..12]]);
    }
    let (code, out) = node.check(&[]);
    assert_eq!(code, 1);
    assert!(out.contains("untrusted: tls-1"), "{out}");

    // No active key for a purpose.
    node.ok(&["certs", "retire", "o2o-sign-1"]);
    let (code, out) = node.check(&[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("no-active-key: no active o2o-sign key"),
        "{out}"
    );

    assert_no_key_material(&node);
}

/// Every output of every command is free of private key material.
fn assert_no_key_material(node: &Node) {
    let mut key_lines = Vec::new();
    for entry in walk(node.tmp.path()) {
        if entry.file_name().is_some_and(|n| n == "key.pem") {
            let text = std::fs::read_to_string(&entry).unwrap();
            key_lines.extend(
                text.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .map(str::to_owned),
            );
        }
    }
    assert!(key_lines.len() > 50, "found the key files");
    for out in &node.outputs {
        assert!(!out.contains("PRIVATE KEY"), "{out}");
        for line in &key_lines {
            assert!(!out.contains(line.as_str()), "key material printed");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn csr_verifies_with_openssl_and_an_openssl_ca_certificate_pairs_with_its_key() {
    let mut node = healthy_node();
    let work = node.tmp.path().to_owned();
    node.ok(&[
        "certs",
        "csr",
        "--purpose",
        "ap",
        "--env",
        "test",
        "--subject",
        "CN=AP,O=Kommun A,OU=AP-operatör,C=SE",
        "--key",
        "rsa2048",
        "--out",
        work.join("ap.csr").to_str().unwrap(),
    ]);
    let verified = openssl(
        &["req", "-verify", "-noout", "-text", "-in", "ap.csr"],
        &work,
    );
    assert!(
        verified.contains("verify OK")
            || verified.contains("Certificate request self-signature verify OK"),
        "{verified}"
    );
    assert!(verified.contains("Public-Key: (2048 bit)"), "{verified}");
    let list: Value = serde_json::from_str(&node.ok(&["certs", "list", "--json"])).unwrap();
    let pending = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "ap-2")
        .expect("pending entry");
    assert_eq!(pending["state"], "pending");

    // A minimal `openssl ca` run with the federation's AP CA.
    std::fs::write(work.join("index.txt"), "").unwrap();
    std::fs::write(work.join("serial"), "1000\n").unwrap();
    std::fs::write(
        work.join("ca.cnf"),
        "[ca]\ndefault_ca = fed\n[fed]\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\n\
         certificate = fed/ap-ca/cert.pem\nprivate_key = fed/ap-ca/key.pem\ndefault_md = sha256\n\
         policy = any\ndefault_days = 90\nunique_subject = no\nx509_extensions = ap\n\
         [any]\ncommonName = supplied\n[ap]\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\nsubjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    openssl(
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-subj",
            "/C=SE/O=Kommun A/CN=AP0002-SDK-TEST",
            "-in",
            "ap.csr",
            "-out",
            "signed.pem",
            "-notext",
        ],
        &work,
    );
    let mut chain = std::fs::read(work.join("signed.pem")).unwrap();
    chain.extend(std::fs::read(work.join("fed/ap-ca/cert.pem")).unwrap());
    std::fs::write(work.join("chain.pem"), chain).unwrap();
    let out = node.ok(&["certs", "import", work.join("chain.pem").to_str().unwrap()]);
    assert!(
        out.contains("ap-2  next  certificate paired with its pending key"),
        "{out}"
    );
    let list: Value = serde_json::from_str(&node.ok(&["certs", "list", "--json"])).unwrap();
    let paired = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "ap-2")
        .unwrap();
    assert_eq!(paired["status"]["status"], "ok", "{paired}");
    assert_eq!(paired["certificate"]["common_name"], "AP0002-SDK-TEST");

    // The same certificate again has no pending key left to pair with.
    let out = relay(
        &node.dir(),
        &["certs", "import", work.join("chain.pem").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no pending key matches"),
        "{}",
        stderr(&out)
    );
    assert_no_key_material(&node);
}

#[test]
fn a_pkcs12_from_openssl_imports() {
    let mut node = healthy_node();
    let work = node.tmp.path().to_owned();
    let fed = node.fed().display().to_string();
    node.ok(&[
        "certs",
        "issue",
        "tls",
        "--federation",
        &fed,
        "--cn",
        "node.example",
        "--key",
        "rsa2048",
        "--out",
        work.join("issued").to_str().unwrap(),
    ]);
    openssl(
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "issued/key.pem",
            "-in",
            "issued/cert.pem",
            "-certfile",
            "fed/tls-ca/cert.pem",
            "-passout",
            "pass:hemligt lösen",
            "-out",
            "tls.p12",
        ],
        &work,
    );
    std::fs::write(work.join("pw"), "hemligt lösen\n").unwrap();
    let out = node.ok(&[
        "certs",
        "import",
        "--purpose",
        "tls",
        "--env",
        "test",
        "--password-file",
        work.join("pw").to_str().unwrap(),
        work.join("tls.p12").to_str().unwrap(),
    ]);
    assert!(out.contains("tls-2  next"), "{out}");
    let list: Value = serde_json::from_str(&node.ok(&["certs", "list", "--json"])).unwrap();
    let imported = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "tls-2")
        .unwrap();
    assert_eq!(imported["certificate"]["common_name"], "node.example");
    assert_eq!(imported["status"]["status"], "ok", "{imported}");
    // The imported key is the one in the PKCS#12 file, stored 0600.
    let stored = std::fs::read_to_string(node.dir().join("keys/tls/tls-2/key.pem")).unwrap();
    let original = openssl(&["pkey", "-in", "issued/key.pem", "-pubout"], &work);
    let stored_path = node.dir().join("keys/tls/tls-2/key.pem");
    let from_store = openssl(
        &["pkey", "-in", stored_path.to_str().unwrap(), "-pubout"],
        &work,
    );
    assert_eq!(original, from_store);
    assert!(stored.contains("PRIVATE KEY"));
    assert_no_key_material(&node);
}

#[test]
fn crl_update_fetches_from_the_distribution_points() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let fed_dir = tmp.path().join("fed");
    let node = tmp.path().join("node");
    let run = |args: &[&str]| {
        let out = relay(&node, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    run(&[
        "certs",
        "federation",
        "create",
        "--env",
        "test",
        "--dir",
        fed_dir.to_str().unwrap(),
        "--key",
        "rsa2048",
        "--crl-url",
        &base,
    ]);
    let fed_for_server = fed_dir.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 2048];
            let n = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            let ca = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .trim_end_matches(".crl")
                .to_owned();
            match std::fs::read(fed_for_server.join(&ca).join(format!("{ca}.crl"))) {
                Ok(body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                    );
                }
            }
        }
    });
    // Trust the CAs only (no CRLs yet): hard-fail says the revocation status is unknown.
    let fed = sdk_relay::pki::federation::Federation::open(&fed_dir).unwrap();
    for (role, file) in fed.trust_files() {
        run(&[
            "trust",
            "import",
            "--env",
            "test",
            "--role",
            role.as_str(),
            file.to_str().unwrap(),
        ]);
    }
    run(&[
        "certs",
        "issue",
        "ap",
        "--federation",
        fed_dir.to_str().unwrap(),
        "--cn",
        "AP0001-SDK-TEST",
        "--key",
        "rsa2048",
    ]);
    let list = run(&["certs", "list"]);
    assert!(list.contains("status=revocation-unknown"), "{list}");

    let out = run(&["crl", "update", "--timeout", "5"]);
    assert!(out.contains("Test Accesspunkt CA TEST"), "{out}");
    assert!(out.contains("Test AP Root CA TEST"), "{out}");
    let list = run(&["certs", "list"]);
    assert!(list.contains("status=ok"), "{list}");

    // The CA revokes; `crl update` brings the news.
    run(&[
        "certs",
        "federation",
        "revoke",
        "--dir",
        fed_dir.to_str().unwrap(),
        "--data-dir",
        node.to_str().unwrap(),
        "ap-1",
    ]);
    run(&["crl", "update"]);
    let list = run(&["certs", "list"]);
    assert!(list.contains("status=revoked"), "{list}");
}

#[test]
fn clear_errors_for_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let node = tmp.path().join("node");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "trust",
                "import",
                "--env",
                "QA",
                "--role",
                "ap",
                junk.to_str().unwrap(),
            ],
            "environment name",
        ),
        (
            vec![
                "trust",
                "import",
                "--env",
                "qa",
                "--role",
                "peer",
                junk.to_str().unwrap(),
            ],
            "unknown role",
        ),
        (
            vec![
                "trust",
                "import",
                "--env",
                "qa",
                "--role",
                "ap",
                junk.to_str().unwrap(),
            ],
            "junk.pem",
        ),
        (vec!["certs", "activate", "ap-7"], "no such key entry"),
        (
            vec![
                "certs",
                "csr",
                "--purpose",
                "tls",
                "--env",
                "qa",
                "--subject",
                "CN=not a host name",
            ],
            "DNS name",
        ),
        (
            vec![
                "certs",
                "csr",
                "--purpose",
                "ap",
                "--env",
                "qa",
                "--subject",
                "O=x",
            ],
            "needs a CN",
        ),
        (vec!["crl", "import", junk.to_str().unwrap()], "junk.pem"),
        (vec!["trust", "remove", "abc"], "at least 8 hex digits"),
    ];
    for (args, expected) in cases {
        let out = relay(&node, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A leaf certificate is not a trust anchor.
    let fed = tmp.path().join("fed");
    let f = federation(&fed, "test");
    let (_, chain) = f
        .issue(
            sdk_relay::pki::Purpose::Ap,
            &subject("AP0001-SDK-TEST"),
            &fast(),
        )
        .unwrap();
    let leaf = tmp.path().join("leaf.pem");
    std::fs::write(&leaf, sdk_relay::pki::cert::to_pem(&chain[..1])).unwrap();
    let out = relay(
        &node,
        &[
            "trust",
            "import",
            "--env",
            "test",
            "--role",
            "ap",
            leaf.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a CA certificate"),
        "{}",
        stderr(&out)
    );
}

/// Issue 20: a command run without `--data-dir` in a directory with no `./sdk-relay-data` used to make one,
/// with a fresh audit log and keys no node uses. It now stops, names the option, and leaves nothing behind;
/// an existing `./sdk-relay-data` is still the default.
#[test]
fn no_data_directory_is_made_by_a_command_that_was_not_given_one() {
    let cwd = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
            .args(args)
            .current_dir(cwd.path())
            .env_remove("SDK_RELAY_DATA_DIR")
            .output()
            .unwrap()
    };
    for args in [
        &[
            "addressbook",
            "org",
            "add",
            "0203:kommun-a.example.se",
            "--name",
            "Kommun A",
        ][..],
        &["certs", "list"],
        &["audit", "verify"],
        &["clients", "list"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--data-dir"),
            "{args:?}: {}",
            stderr(&out)
        );
        let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
    // Where ./sdk-relay-data exists it is the default, as before.
    std::fs::create_dir(cwd.path().join("sdk-relay-data")).unwrap();
    let out = run(&[
        "addressbook",
        "org",
        "add",
        "0203:kommun-a.example.se",
        "--name",
        "Kommun A",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(cwd.path().join("sdk-relay-data/node.redb").exists());
    // Commands that keep no state need no data directory.
    let out = run(&["validate", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
