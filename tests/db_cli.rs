//! `sdk-relay db` and the `[store]` section, as an operator uses them against a real PostgreSQL (`.ci/postgres`;
//! `SDK_RELAY_TEST_POSTGRES`): the configuration names what is wrong, `db migrate` creates and then leaves the
//! schema alone, `db status` shows the version, the queue and the nodes, and a schema behind the binary is
//! reported, not silently migrated.
#![cfg(feature = "postgres")]

use std::path::Path;
use std::process::{Command, Output};

use sdk_relay::config::StoreConfig;
use sdk_relay::directory::addressbook::AddressBook;
use sdk_relay::store::pg::{PgStore, schema};
use serde_json::Value;

fn url() -> String {
    std::env::var("SDK_RELAY_TEST_POSTGRES").unwrap_or_else(|_| {
        "postgresql://sdk_relay_test:sdk_relay_test@127.0.0.1:5432/sdk_relay_test".into()
    })
}

fn relay(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .expect("run sdk-relay")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `init`'s configuration with `store` as its `[store]` section.
fn node_config(dir: &Path, store: &str) -> std::path::PathBuf {
    let out = relay(
        dir,
        &[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--name",
            "kommun-a-1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let path = dir.join("sdk-relay.toml");
    let template = std::fs::read_to_string(&path).unwrap();
    let (before, _) = template
        .split_once("[store]")
        .expect("init writes a [store] section");
    std::fs::write(&path, format!("{before}[store]\n{store}")).unwrap();
    path
}

#[test]
fn the_configuration_names_each_wrong_store_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(
        dir.path(),
        "kind = \"postgres\"\nschema = \"Bad-Name\"\npool_size = 0\ntls = \"verify-full\"\n",
    );
    let out = relay(
        dir.path(),
        &["config", "check", "--config", config.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let said = text(&out);
    for key in [
        "[store] url",
        "[store] schema",
        "[store] pool_size",
        "[store] tls",
    ] {
        assert!(said.contains(key), "{key} not named in: {said}");
    }
}

#[test]
fn migrate_creates_the_schema_once_and_status_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("cli_{}", uuid::Uuid::new_v4().simple());
    let config = node_config(
        dir.path(),
        &format!(
            "kind = \"postgres\"\nurl = \"{}\"\nschema = \"{schema}\"\ntls = \"disable\"\n",
            url()
        ),
    );
    let config = config.to_str().unwrap();
    // Before anything: status says the schema is behind and changes nothing.
    let out = relay(dir.path(), &["db", "status", "--config", config]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("run `sdk-relay db migrate`"),
        "{}",
        text(&out)
    );
    let out = relay(dir.path(), &["db", "migrate", "--config", config]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("migrated from version 0 to {}", schema::latest())),
        "{}",
        text(&out)
    );
    let out = relay(dir.path(), &["db", "migrate", "--config", config]);
    assert!(text(&out).contains("nothing to do"), "{}", text(&out));

    let out = relay(dir.path(), &["db", "status", "--config", config, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["version"], schema::latest());
    assert_eq!(status["schema"], schema.as_str());
    assert_eq!(status["queue_due"], 0);
    assert_eq!(status["nodes"], serde_json::json!([]));
    let human = text(&relay(dir.path(), &["db", "status", "--config", config]));
    assert!(human.contains("oldest waiting: none"), "{human}");

    // Without --config and without a node that ever started here, db says what to give it.
    let out = relay(dir.path(), &["db", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--config"), "{}", text(&out));
}

/// Two data directories of nodes on one schema (as `store.toml` records after their first start): what an
/// administrator changes through either is the other's address book at once — organisations, functional
/// addresses and API clients — with no node stopped, and each change is in the one audit chain.
#[test]
fn the_address_book_and_api_clients_are_one_for_every_node_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig {
        kind: "postgres".into(),
        url: Some(url()),
        schema: format!("cli_{}", uuid::Uuid::new_v4().simple()),
        tls: "disable".into(),
        ..StoreConfig::default()
    };
    PgStore::open(&store, None, None).expect("migrate the test schema (is .ci/postgres up?)");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for data in [&a, &b] {
        std::fs::create_dir_all(data.join("data")).unwrap();
        sdk_relay::store::remember(&data.join("data"), &store).unwrap();
    }
    let ok = |data: &Path, args: &[&str]| {
        let out = relay(data, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        out
    };
    let json = |data: &Path, args: &[&str]| -> Value {
        serde_json::from_slice(&ok(data, args).stdout).unwrap()
    };

    ok(
        &a,
        &[
            "addressbook",
            "org",
            "add",
            "0203:kommun-a.se",
            "--name",
            "Kommun A",
        ],
    );
    // B sees A's organisation: a functional address under it is accepted there.
    ok(
        &b,
        &[
            "addressbook",
            "function",
            "add",
            "0203:kommun-a.se",
            "socialtjanst",
            "--name",
            "Socialtjänsten",
        ],
    );
    let functions = json(&a, &["addressbook", "function", "list", "--json"]);
    assert_eq!(functions.as_array().map(Vec::len), Some(1), "{functions}");
    assert_eq!(functions[0]["id"], "socialtjanst");
    // Adding it again through A is refused: one book, not two copies.
    let again = relay(
        &a,
        &[
            "addressbook",
            "function",
            "add",
            "0203:kommun-a.se",
            "socialtjanst",
            "--name",
            "x",
        ],
    );
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already in the address book"),
        "{}",
        text(&again)
    );

    // A client made through A authenticates through B's book; removed through B, A no longer knows it.
    let made = json(
        &a,
        &["clients", "add", "--org", "0203:kommun-a.se", "--json"],
    );
    let token = made["token"].as_str().unwrap();
    let id = made["client"]["id"].as_str().unwrap();
    let seen = AddressBook::open(&b.join("data"))
        .unwrap()
        .authenticate(token)
        .unwrap();
    assert_eq!(seen.map(|c| c.org), Some("0203:kommun-a.se".to_owned()));
    ok(&b, &["clients", "remove", id]);
    let book_a = AddressBook::open(&a.join("data")).unwrap();
    assert_eq!(book_a.authenticate(token).unwrap(), None);

    // Removing the organisation through B takes its functional address with it, for A too.
    ok(&b, &["addressbook", "org", "remove", "0203:kommun-a.se"]);
    assert!(book_a.organisations().unwrap().is_empty());
    assert!(book_a.functions(None).unwrap().is_empty());
    // Nothing went to a data directory's own database.
    assert!(!a.join("data/node.redb").exists() && !b.join("data/node.redb").exists());

    // Every change, through either, is a record of the one chain, and it verifies.
    let listed = text(&ok(&a, &["audit", "list", "--json"]));
    for kind in [
        "admin.addressbook.org.add",
        "admin.addressbook.function.add",
        "admin.clients.add",
        "admin.clients.remove",
        "admin.addressbook.org.remove",
    ] {
        assert!(listed.contains(kind), "no {kind} record in {listed}");
    }
    ok(&b, &["audit", "verify"]);

    // db status counts the one book: an organisation with an address and a client, added through A.
    ok(
        &a,
        &[
            "addressbook",
            "org",
            "add",
            "0203:kommun-c.se",
            "--name",
            "Kommun C",
        ],
    );
    ok(
        &a,
        &[
            "addressbook",
            "function",
            "add",
            "0203:kommun-c.se",
            "arkiv",
            "--name",
            "Arkiv",
        ],
    );
    ok(&a, &["clients", "add", "--org", "0203:kommun-c.se"]);
    let status = json(&b, &["db", "status", "--json"]);
    assert_eq!(
        status["address_book"],
        serde_json::json!([
            ["addressbook_functions", 1],
            ["addressbook_organisations", 1],
            ["api_clients", 1]
        ]),
        "{status}"
    );
    let human = text(&ok(&b, &["db", "status"]));
    assert!(
        human.contains(
            "1 organisation(s), 1 functional address(es), 1 API client(s), 0 SMP publication(s)"
        ),
        "{human}"
    );
}
