//! `sdk-relay addressbook`: hosting organisations and functional addresses, and finding them with and without
//! Swedish characters.

mod common;

use common::pki::{relay, relay_ok, stderr};

#[test]
fn organisations_and_functional_addresses_are_added_found_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = |args: &[&str]| relay_ok(d, args);
    ok(&[
        "addressbook",
        "org",
        "add",
        "0203:goteborg.se",
        "--name",
        "Göteborgs Stad",
        "--org-number",
        "2120001355",
    ]);
    ok(&[
        "addressbook",
        "org",
        "add",
        "0203:region-b.example.se",
        "--name",
        "Region Blekinge",
    ]);
    ok(&[
        "addressbook",
        "function",
        "add",
        "0203:goteborg.se",
        "socialtjanst-nord",
        "--name",
        "Socialtjänsten Nordost",
    ]);
    ok(&[
        "addressbook",
        "function",
        "add",
        "0203:goteborg.se",
        "overformyndare",
        "--name",
        "Överförmyndarnämnden",
        "--inactive",
    ]);

    // With and without Swedish characters, in either direction.
    for query in ["goteborg", "Göteborg", "GÖTEBORGS"] {
        let found: serde_json::Value =
            serde_json::from_str(&ok(&["addressbook", "search", query, "--json"])).unwrap();
        assert_eq!(
            found["organisations"][0]["id"], "0203:goteborg.se",
            "{query}"
        );
    }
    let found: serde_json::Value =
        serde_json::from_str(&ok(&["addressbook", "search", "socialtjanst", "--json"])).unwrap();
    assert_eq!(found["functional_addresses"][0]["id"], "socialtjanst-nord");
    let found: serde_json::Value =
        serde_json::from_str(&ok(&["addressbook", "search", "överförmyndar", "--json"])).unwrap();
    assert_eq!(found["functional_addresses"][0]["active"], false);
    assert!(ok(&["addressbook", "search", "212000-1355"]).contains("Göteborgs Stad (212000-1355)"));

    let shown: serde_json::Value = serde_json::from_str(&ok(&[
        "addressbook",
        "org",
        "show",
        "0203:goteborg.se",
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["functional_addresses"].as_array().unwrap().len(), 2);

    // Errors: a duplicate, a bad id, an unknown organisation, nothing found.
    let dup = relay(
        d,
        &[
            "addressbook",
            "org",
            "add",
            "0203:goteborg.se",
            "--name",
            "Again",
        ],
    );
    assert_eq!(dup.status.code(), Some(2));
    assert!(stderr(&dup).contains("already in the address book"));
    let bad = relay(
        d,
        &["addressbook", "org", "add", "goteborg.se", "--name", "X"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("0203:example.se"));
    let orphan = relay(
        d,
        &[
            "addressbook",
            "function",
            "add",
            "0203:nobody.se",
            "x",
            "--name",
            "X",
        ],
    );
    assert_eq!(orphan.status.code(), Some(1));
    assert!(stderr(&orphan).contains("org add"));
    assert_eq!(
        relay(d, &["addressbook", "search", "malmö"]).status.code(),
        Some(1)
    );

    assert!(
        ok(&["addressbook", "org", "remove", "0203:goteborg.se"]).contains("2 functional address")
    );
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["addressbook", "function", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);
    assert_eq!(
        relay(d, &["addressbook", "org", "show", "0203:goteborg.se"])
            .status
            .code(),
        Some(1)
    );
}
