//! The API client commands (`send`, `messages`, `queue`) as real processes against real nodes: a message with a
//! text and a PDF goes from A to B and its file is saved intact on B; a message to a stopped node waits in the
//! queue and can be dropped and deleted; refusals exit 1 with the node's reason, and an unreachable node or a
//! wrong CA exit 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::node::{Node, World};
use sdk_relay::pki::Role;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// The CLI with nothing inherited from the developer's environment that could change what it does.
fn bare(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sdk-relay"));
    for var in [
        "SDK_RELAY_API",
        "SDK_RELAY_TOKEN",
        "SDK_RELAY_CA",
        "SDK_RELAY_FROM",
        "SDK_RELAY_DATA_DIR",
    ] {
        c.env_remove(var);
    }
    c.args(args);
    c
}

/// Runs an API command against `node` with its client's token, the connection given as options.
fn cli(node: &Node, ca: &Path, args: &[&str]) -> Output {
    cli_as(node, &node.token, ca, args)
}

fn cli_as(node: &Node, token: &str, ca: &Path, args: &[&str]) -> Output {
    bare(args)
        .arg("--api")
        .arg(node.api_url())
        .arg("--token")
        .arg(token)
        .arg("--ca")
        .arg(ca)
        .output()
        .expect("run sdk-relay")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Insists the command succeeded; its standard output.
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn json(o: &Output) -> Value {
    let text = ok(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The messages in a `messages list --json` or `queue list --json` answer with this id.
fn with_id<'v>(listed: &'v Value, id: &str) -> Vec<&'v Value> {
    listed["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .filter(|m| m["id"] == id)
        .collect()
}

/// Polls `messages show ID --json` until the message has `status`; its `data`.
fn wait_status(node: &Node, ca: &Path, id: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let shown = json(&cli(node, ca, &["messages", "show", id, "--json"]));
        if shown["data"]["attributes"]["messageStatus"] == status {
            return shown["data"].clone();
        }
        assert!(
            start.elapsed() < WAIT,
            "{id} at {}: not {status} after {WAIT:?}: {shown:#}\n{}",
            node.name,
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn work_dir(world: &World) -> PathBuf {
    let dir = world.dir.path().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_message_sent_with_the_cli_arrives_and_its_file_is_saved_intact() {
    let world = World::new();
    let ca = world.tls_ca_file();
    let (mut a, mut b) = world.pair();
    a.start();
    b.start();
    let work = work_dir(&world);
    let pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".repeat(100);
    let pdf_path = work.join("kallelse.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();

    // The connection and the sender from the environment, as a client system would set them once.
    let sent = bare(&[
        "send",
        "--to",
        &b.org,
        "--function",
        "socialtjanst",
        "--from-function",
        "registrator",
        "--subject",
        "Kallelse till SIP-möte",
        "--text",
        "Hej! Se bifogad kallelse.",
        "--file",
        pdf_path.to_str().unwrap(),
    ])
    .env("SDK_RELAY_API", a.api_url())
    .env("SDK_RELAY_TOKEN", &a.token)
    .env("SDK_RELAY_CA", &ca)
    .env("SDK_RELAY_FROM", &a.org)
    .output()
    .unwrap();
    let out = ok(&sent);
    let lines: Vec<&str> = out.lines().collect();
    let id = lines[0].to_owned();
    assert_eq!(id.len(), 36, "{out}");
    assert_eq!(
        lines.get(1).copied(),
        Some(format!("Location: {}/v1/sdk/messages/{id}", a.api_url()).as_str()),
        "{out}"
    );

    let accepted = wait_status(&a, &ca, &id, "ACCEPTED");
    assert_eq!(accepted["attributes"]["direction"], "outbound");
    assert_eq!(accepted["attributes"]["recipient"], b.org.as_str());
    let shown = ok(&cli(&a, &ca, &["messages", "show", &id]));
    assert!(shown.contains("status        ACCEPTED"), "{shown}");
    assert!(
        shown.contains("subject       Kallelse till SIP-möte"),
        "{shown}"
    );
    // A sent message is kept sealed: the node knows its sender's functional address, not the recipient's.
    assert!(
        shown.contains(&format!("from          {} (registrator)", a.org)),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("to            {}\n", b.org)),
        "{shown}"
    );
    // The timeline starts with the scheduling and ends with the acceptance.
    let events: Vec<&str> = shown
        .lines()
        .skip_while(|l| *l != "events:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        events.first().is_some_and(|e| e.contains("SCHEDULED")),
        "{shown}"
    );
    assert!(
        events.last().is_some_and(|e| e.contains("ACCEPTED")),
        "{shown}"
    );

    // B lists it as received from A, and filters by functional address, direction and status.
    let listed = json(&cli(&b, &ca, &["messages", "list", "--json"]));
    let found = with_id(&listed, &id);
    assert_eq!(found.len(), 1, "{listed:#}");
    let attrs = &found[0]["attributes"];
    assert_eq!(attrs["direction"], "inbound");
    assert_eq!(attrs["sender"], a.org.as_str());
    let status = attrs["messageStatus"].as_str().unwrap().to_owned();
    for (filter, expected) in [
        (&["--function", "socialtjanst"][..], 1),
        (&["--function", "vard"][..], 0),
        (&["--direction", "inbound"][..], 1),
        (&["--direction", "outbound"][..], 0),
        (&["--status", status.as_str()][..], 1),
        (&["--status", "MESSAGE_EXCHANGE_ERROR"][..], 0),
    ] {
        let args = [&["messages", "list", "--json"][..], filter].concat();
        let listed = json(&cli(&b, &ca, &args));
        assert_eq!(
            with_id(&listed, &id).len(),
            expected,
            "{filter:?}: {listed:#}"
        );
    }
    let table = ok(&cli(&b, &ca, &["messages", "list"]));
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["inbound", status.as_str(), &a.org, "Kallelse till SIP-möte"] {
        assert!(row.contains(cell), "{cell} not in {row:?}");
    }

    // B shows the text and saves the PDF byte for byte, under its own name.
    let saved = work.join("saved");
    let shown = ok(&cli(
        &b,
        &ca,
        &[
            "messages",
            "show",
            &id,
            "--save-files",
            saved.to_str().unwrap(),
        ],
    ));
    assert!(shown.contains("    Hej! Se bifogad kallelse."), "{shown}");
    assert!(
        shown.contains(&format!(
            "file: kallelse.pdf (application/pdf, {} bytes)",
            pdf.len()
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("saved {}", saved.join("kallelse.pdf").display())),
        "{shown}"
    );
    assert_eq!(std::fs::read(saved.join("kallelse.pdf")).unwrap(), pdf);
    assert_eq!(std::fs::read_dir(&saved).unwrap().count(), 1);
}

#[test]
fn a_message_to_a_stopped_node_waits_in_the_queue_and_can_be_dropped_and_deleted() {
    let world = World::new();
    let ca = world.tls_ca_file();
    let (mut a, mut b) = world.pair();
    a.start();
    b.start();
    b.kill();

    let created = json(&cli(
        &a,
        &ca,
        &[
            "send",
            "--from",
            &a.org,
            "--to",
            &b.org,
            "--function",
            "vard",
            "--subject",
            "Till en nod som inte svarar",
            "--text",
            "Hallå?",
            "--confidential",
            "--json",
        ],
    ));
    let id = created["data"]["id"].as_str().expect("data.id").to_owned();
    assert_eq!(created["data"]["attributes"]["messageStatus"], "SCHEDULED");

    // The node tries, fails, and keeps it queued with the attempts counted.
    let start = Instant::now();
    let item = loop {
        let queued = json(&cli(&a, &ca, &["queue", "list", "--json"]));
        let found = with_id(&queued, &id);
        assert_eq!(found.len(), 1, "{queued:#}");
        if found[0]["attempts"].as_u64().unwrap_or(0) >= 1 {
            break found[0].clone();
        }
        assert!(
            start.elapsed() < WAIT,
            "no attempt: {queued:#}\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(item["recipient"], b.org.as_str());
    assert!(
        item["lastReason"].as_str().is_some_and(|r| !r.is_empty()),
        "{item:#}"
    );
    let table = ok(&cli(&a, &ca, &["queue", "list"]));
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(&b.org), "{row}");

    let retried = ok(&cli(&a, &ca, &["queue", "retry", &id]));
    assert!(
        retried.contains(&format!("message {id} will be tried again now")),
        "{retried}"
    );

    let dropped = ok(&cli(&a, &ca, &["queue", "drop", &id]));
    assert!(
        dropped.contains(&format!("message {id} dropped: MESSAGE_EXCHANGE_ERROR: ")),
        "{dropped}"
    );
    assert!(
        dropped.contains("dropped from the queue by API client"),
        "{dropped}"
    );

    let shown = json(&cli(&a, &ca, &["messages", "show", &id, "--json"]));
    let attrs = &shown["data"]["attributes"];
    assert_eq!(attrs["messageStatus"], "MESSAGE_EXCHANGE_ERROR");
    let last = attrs["events"].as_array().and_then(|e| e.last()).cloned();
    let last = last.expect("events");
    assert_eq!(last["typeCode"], "MESSAGE_EXCHANGE_ERROR");
    assert!(
        last["title"]
            .as_str()
            .is_some_and(|t| t.contains("dropped from the queue")),
        "{last:#}"
    );
    let queued = json(&cli(&a, &ca, &["queue", "list", "--json"]));
    assert!(with_id(&queued, &id).is_empty(), "{queued:#}");
    // Not queued any more: nothing to drop.
    let again = cli(&a, &ca, &["queue", "drop", &id]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));

    let deleted = ok(&cli(&a, &ca, &["messages", "delete", &id]));
    assert_eq!(deleted.trim(), format!("message {id} deleted"));
    let gone = cli(&a, &ca, &["messages", "show", &id]);
    assert_eq!(gone.status.code(), Some(1), "{}", stdout(&gone));
    assert!(stderr(&gone).contains("HTTP 404"), "{}", stderr(&gone));
    assert!(stdout(&gone).is_empty(), "{}", stdout(&gone));
}

#[test]
fn refusals_exit_1_with_the_nodes_reason_and_connection_failures_exit_2() {
    let world = World::new();
    let ca = world.tls_ca_file();
    let mut a = world.node(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
    );
    a.start();
    let send = |to: &str, extra: &[&str]| {
        let args = [
            &[
                "send",
                "--from",
                &a.org,
                "--to",
                to,
                "--function",
                "inkorg",
                "--subject",
                "Hej",
                "--text",
                "Hej",
            ][..],
            extra,
        ]
        .concat();
        cli(&a, &ca, &args)
    };

    let unauthorized = cli_as(&a, "sdkr_not-a-token", &ca, &["messages", "list"]);
    assert_eq!(unauthorized.status.code(), Some(1));
    assert!(
        stderr(&unauthorized).contains("HTTP 401 Unauthorized"),
        "{}",
        stderr(&unauthorized)
    );

    let nowhere = send("0203:nowhere.example.se", &[]);
    assert_eq!(nowhere.status.code(), Some(1), "{}", stdout(&nowhere));
    let text = stderr(&nowhere);
    assert!(text.contains("HTTP 400"), "{text}");
    assert!(text.contains("\n  /data/attributes/recipient: "), "{text}");
    assert!(text.contains("not registered"), "{text}");

    // Every wrong field is named, each on its own line.
    let wrong = send(
        "not-an-org",
        &["--conversation", "not-a-uuid", "--reply-to", "42"],
    );
    assert_eq!(wrong.status.code(), Some(1));
    let text = stderr(&wrong);
    for field in ["recipient", "conversationId", "refToMessageId"] {
        assert!(
            text.contains(&format!("\n  /data/attributes/{field}: ")),
            "{field}: {text}"
        );
    }

    // Nothing listens there: the node is unreachable, not refusing.
    let port = common::node::free_port();
    let dead = bare(&["messages", "list", "--token", &a.token, "--ca"])
        .arg(&ca)
        .args(["--api", &format!("https://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(dead.status.code(), Some(2));
    assert!(
        stderr(&dead).contains("no answer from the node"),
        "{}",
        stderr(&dead)
    );

    // A CA that did not issue the node's certificate: the TLS handshake fails and nothing is sent.
    let ap_ca = world.dir.path().join("ap-ca.pem");
    let (_, ap_root) = world
        .fed
        .trust_files()
        .into_iter()
        .find(|(role, _)| *role == Role::Ap)
        .unwrap();
    std::fs::copy(ap_root, &ap_ca).unwrap();
    let untrusted = cli(&a, &ap_ca, &["messages", "list"]);
    assert_eq!(untrusted.status.code(), Some(2));
    let text = stderr(&untrusted);
    assert!(text.contains("TLS"), "{text}");
    assert!(text.contains("is --ca the CA"), "{text}");

    // Usage errors: a missing file, no content at all, no token.
    let missing = send(&a.org, &["--file", "/no/such/file.pdf"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/no/such/file.pdf"));
    let empty = bare(&[
        "send",
        "--from",
        &a.org,
        "--to",
        &a.org,
        "--function",
        "x",
        "--subject",
        "s",
        "--token",
        "t",
        "--ca",
    ])
    .arg(&ca)
    .output()
    .unwrap();
    assert_eq!(empty.status.code(), Some(2));
    assert!(stderr(&empty).contains("--text"), "{}", stderr(&empty));
    let no_token = bare(&["queue", "list", "--ca"]).arg(&ca).output().unwrap();
    assert_eq!(no_token.status.code(), Some(2));
    assert!(
        stderr(&no_token).contains("--token"),
        "{}",
        stderr(&no_token)
    );
}

#[test]
fn every_api_command_explains_itself_with_an_example() {
    for command in [
        &["send"][..],
        &["messages"],
        &["messages", "list"],
        &["messages", "show"],
        &["messages", "delete"],
        &["queue"],
        &["queue", "list"],
        &["queue", "retry"],
        &["queue", "drop"],
    ] {
        let out = bare(&[command, &["--help"]].concat()).output().unwrap();
        let text = ok(&out);
        assert!(text.contains("Example"), "{command:?}: {text}");
        assert!(text.contains("sdk-relay "), "{command:?}: {text}");
        if command.len() > 1 || command == ["send"] {
            assert!(
                text.contains("--token") && text.contains("--ca"),
                "{command:?}"
            );
        }
    }
    // The token from the environment is never printed in the help.
    let out = bare(&["send", "--help"])
        .env("SDK_RELAY_TOKEN", "sdkr_secret-value")
        .output()
        .unwrap();
    assert!(
        !stdout(&out).contains("sdkr_secret-value"),
        "{}",
        stdout(&out)
    );
}
