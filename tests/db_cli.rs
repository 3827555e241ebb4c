//! `sdk-relay db` and the `[store]` section, as an operator uses them against a real PostgreSQL (`.ci/postgres`;
//! `SDK_RELAY_TEST_POSTGRES`): the configuration names what is wrong, `db migrate` creates and then leaves the
//! schema alone, `db status` shows the version, the queue and the nodes, and a schema behind the binary is
//! reported, not silently migrated.
#![cfg(feature = "postgres")]

use std::path::Path;
use std::process::{Command, Output};

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
        text(&out).contains("migrated from version 0 to 1"),
        "{}",
        text(&out)
    );
    let out = relay(dir.path(), &["db", "migrate", "--config", config]);
    assert!(text(&out).contains("nothing to do"), "{}", text(&out));

    let out = relay(dir.path(), &["db", "status", "--config", config, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["version"], 1);
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
