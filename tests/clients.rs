//! API clients: a token shown once and stored hashed, acting only for its organisation and functional
//! addresses, and gone the moment it is removed — each change in the audit log.

mod common;

use common::pki::{relay, relay_ok};
use sdk_relay::directory::addressbook::AddressBook;

#[test]
fn a_client_token_is_shown_once_stored_hashed_scoped_and_revocable() {
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
    ]);
    ok(&[
        "addressbook",
        "function",
        "add",
        "0203:goteborg.se",
        "socialtjanst",
        "--name",
        "Socialtjänst",
    ]);
    ok(&[
        "addressbook",
        "function",
        "add",
        "0203:goteborg.se",
        "skola",
        "--name",
        "Skola",
    ]);

    let made: serde_json::Value = serde_json::from_str(&ok(&[
        "clients",
        "add",
        "--org",
        "0203:goteborg.se",
        "--function",
        "socialtjanst",
        "--name",
        "Ärendesystem",
        "--json",
    ]))
    .unwrap();
    let token = made["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sdkr_") && token.len() > 40);

    // Stored only as a hash: the token is nowhere in the database or the audit log.
    for file in ["node.redb", "audit/segment-000000000000.log"] {
        let bytes = std::fs::read(d.join(file)).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{file} holds the token"
        );
    }
    assert!(!ok(&["clients", "list", "--json"]).contains(&token));

    let book = AddressBook::open(d).unwrap();
    let client = book
        .authenticate(&token)
        .unwrap()
        .expect("the token authenticates");
    assert!(client.may_act_for("0203:goteborg.se", Some("socialtjanst")));
    assert!(client.may_act_for("0203:Goteborg.SE", None));
    assert!(
        !client.may_act_for("0203:goteborg.se", Some("skola")),
        "not its functional address"
    );
    assert!(
        !client.may_act_for("0203:malmo.se", None),
        "not its organisation"
    );
    assert!(book.authenticate("sdkr_guess").unwrap().is_none());
    drop(book);

    // A functional address the organisation does not have is refused.
    let out = relay(
        d,
        &[
            "clients",
            "add",
            "--org",
            "0203:goteborg.se",
            "--function",
            "nope",
        ],
    );
    assert_ne!(out.status.code(), Some(0));

    ok(&["clients", "remove", made["client"]["id"].as_str().unwrap()]);
    assert!(
        AddressBook::open(d)
            .unwrap()
            .authenticate(&token)
            .unwrap()
            .is_none()
    );
    let audit = ok(&["audit", "list", "--kind", "admin.clients.add"]);
    assert!(audit.contains("clients add --org 0203:goteborg.se"));
    assert!(ok(&["audit", "list", "--kind", "admin.clients.remove"]).contains("clients remove"));
}
