//! `sdk-relay init` writes a configuration that checks; `config check` names each broken key and how to fix it.

mod common;

use common::pki::{relay, stderr, stdout};

#[test]
fn init_writes_a_configuration_that_checks_and_broken_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conf = d.join("node/sdk-relay.toml");
    let p = conf.to_str().unwrap();
    let out = relay(
        d,
        &[
            "init",
            "--dir",
            d.join("node").to_str().unwrap(),
            "--name",
            "kommun-a-1",
            "--environment",
            "qa",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.join("node/data").is_dir());
    let out = relay(d, &["config", "check", "--config", p]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("environment qa"));
    // Not overwritten without --force.
    let again = relay(d, &["init", "--dir", d.join("node").to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));

    let text = std::fs::read_to_string(&conf).unwrap();
    let broken = text
        .replace("listen = \"0.0.0.0:8444\"", "listen = \"8444\"")
        .replace("ap_id = \"AP0001-SDK-QA\"", "ap_id = \"kommun-a\"")
        .replace("# sml_zone = ", "sml_zone = ")
        .replace("as4_message_bytes = 167772160", "as4_message_bytes = 1000");
    std::fs::write(&conf, broken).unwrap();
    let out = relay(d, &["config", "check", "--config", p]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    for expected in [
        "[as4] listen = \"8444\" is not an address and port",
        "[as4] ap_id = \"kommun-a\" must be the CN of the AP certificate",
        "[smp] give either url",
        "[limits] as4_message_bytes must be at least",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    // A key that does not exist is named too.
    std::fs::write(&conf, text.replace("[retry]", "[retry]\nretries = 3")).unwrap();
    let out = relay(d, &["config", "check", "--config", p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("retries"), "{}", stdout(&out));
}

#[test]
fn transport_models_are_checked_and_bas_is_refused_by_default_in_qa() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let node = d.join("node");
    let out = relay(
        d,
        &[
            "init",
            "--dir",
            node.to_str().unwrap(),
            "--environment",
            "qa",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = node.join("sdk-relay.toml");
    let p = conf.to_str().unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    let with = |line: &str| text.replacen("[node]\n", &format!("[node]\n{line}\n"), 1);
    let check = |config: String| {
        std::fs::write(&conf, config).unwrap();
        relay(d, &["config", "check", "--config", p])
    };
    // In qa, sending in Bas needs Bas answers taken, which qa does not do unless told.
    let out = check(with("transport_model = \"tm-base\""));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("needs accept_tm_base = true"),
        "{}",
        stdout(&out)
    );
    let out = check(with("transport_model = \"tm-base\"\naccept_tm_base = true"));
    assert!(out.status.success(), "{}", stdout(&out));
    let out = check(with("transport_model = \"tm-extended\""));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("[node] transport_model = \"tm-extended\" must be"),
        "{}",
        stdout(&out)
    );
    // And the defaults by environment.
    let node_in = |environment: &str| sdk_relay::config::Node {
        name: "n".into(),
        environment: environment.into(),
        data_dir: "d".into(),
        log_format: "text".into(),
        transport_model: None,
        accept_tm_base: None,
    };
    assert!(!node_in("qa").accepts_tm_base());
    assert!(!node_in("prod").accepts_tm_base());
    assert!(node_in("open-test").accepts_tm_base());
    assert_eq!(
        node_in("open-test").sending_model(),
        sdk_relay::envelope::ids::TransportModel::BaseExtSigEnc
    );
}
