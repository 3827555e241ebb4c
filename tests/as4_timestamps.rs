//! The dateTimes the as4 module writes (`wsu:Created`, `wsu:Expires`, `eb:Timestamp`) have exactly three
//! fraction digits, and the signed `wsu:Timestamp` of what comes in is judged against the clock (issue 19
//! points 3 and 4).

mod common;

use common::as4::{message, net, send, signer, xhe};
use proptest::prelude::*;
use sdk_relay::as4::ErrorCode;
use sdk_relay::as4::pack::{self, ReceivePolicy};
use sdk_relay::as4::wssec::xml_datetime;
use sdk_relay::pki::{Checker, RevocationPolicy};
use time::{Duration, OffsetDateTime};

/// `YYYY-MM-DDThh:mm:ss.fffZ`, nothing else.
fn is_millisecond_utc(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// The text of every `<tag>…</tag>` in `xml`.
fn values<'x>(xml: &'x str, tag: &str) -> Vec<&'x str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close).expect("closed");
        found.push(&after[..end]);
        rest = &after[end..];
    }
    found
}

fn assert_three_digits(xml: &str, what: &str) {
    for tag in ["wsu:Created", "wsu:Expires", "eb:Timestamp"] {
        let found = values(xml, tag);
        // Exactly one each, so the check below cannot pass on a document that has none.
        assert_eq!(found.len(), 1, "{what}: {tag} {found:?}");
        for v in found {
            assert!(is_millisecond_utc(v), "{what}: {tag} {v:?}");
        }
    }
}

#[test]
fn a_thousand_packs_and_receipts_write_every_timestamp_with_three_fraction_digits() {
    let n = net();
    let payload = xhe();
    let receiver = signer(&n.receiver);
    for i in 0..1000 {
        let packed = send(&n, &n.sender, &[&payload]);
        let soap = String::from_utf8_lossy(&packed.body);
        assert_three_digits(&soap, &format!("pack {i}"));
        let received: pack::Received = pack::Received {
            message: message(1),
            payloads: Vec::new(),
            signer: n.sender.cert.clone(),
            references: packed.references.clone(),
        };
        let receipt = pack::receipt(&received, &receiver).unwrap();
        assert_three_digits(&receipt, &format!("receipt {i}"));
    }
}

proptest! {
    #[test]
    fn any_instant_in_any_offset_is_written_as_utc_milliseconds(
        seconds in 0i64..253_402_300_799,
        nanos in 0u32..1_000_000_000,
        offset_minutes in -1439i32..1439,
    ) {
        let utc = OffsetDateTime::from_unix_timestamp(seconds).unwrap() + Duration::nanoseconds(nanos.into());
        let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
        let written = xml_datetime(utc.to_offset(offset));
        prop_assert!(is_millisecond_utc(&written), "{written}");
        // The same instant, truncated (never rounded into the next second) to milliseconds.
        let read = OffsetDateTime::parse(&written, &time::format_description::well_known::Rfc3339).unwrap();
        prop_assert_eq!(read.unix_timestamp(), utc.unix_timestamp());
        prop_assert_eq!(read.millisecond(), utc.millisecond());
    }
}

fn unpack_at(
    n: &common::as4::Net,
    packed: &pack::Packed,
    at: OffsetDateTime,
    skew: Option<std::time::Duration>,
) -> Result<pack::Received, pack::Refused> {
    let checker = Checker::new(&n.trust, RevocationPolicy::default());
    let mut policy = ReceivePolicy::new(&checker, &n.env);
    if let Some(skew) = skew {
        policy = policy.with_clock_skew(skew);
    }
    policy.at = at;
    pack::unpack(
        &packed.content_type,
        &packed.body,
        &policy,
        &n.receiver.payload_key(),
    )
}

// pack writes Created = now and Expires = now + 5 min; judging the message at another instant stands in for
// a message signed at another time, without touching the signature.

#[test]
fn a_message_whose_timestamp_has_expired_is_refused_with_policy_noncompliance() {
    let n = net();
    let packed = send(&n, &n.sender, &[&xhe()]);
    let later = OffsetDateTime::now_utc() + Duration::minutes(6);
    let refused = unpack_at(&n, &packed, later, None).unwrap_err();
    assert_eq!(refused.error.code, ErrorCode::PolicyNoncompliance);
    assert!(
        refused.error.detail.contains("expired"),
        "{}",
        refused.error
    );
    assert_eq!(
        refused.message_id.as_deref(),
        Some(packed.message_id.as_str())
    );
    // Before it expires, the same message is taken in.
    let earlier = OffsetDateTime::now_utc() + Duration::minutes(4);
    unpack_at(&n, &packed, earlier, None).expect("not yet expired");
}

#[test]
fn a_message_created_five_minutes_in_the_future_is_refused_but_within_the_skew_accepted() {
    let n = net();
    let packed = send(&n, &n.sender, &[&xhe()]);
    let now = OffsetDateTime::now_utc();
    let refused = unpack_at(&n, &packed, now - Duration::minutes(5), None).unwrap_err();
    assert_eq!(refused.error.code, ErrorCode::PolicyNoncompliance);
    assert!(refused.error.detail.contains("future"), "{}", refused.error);
    // 30 s ahead is within the default 60 s.
    unpack_at(&n, &packed, now - Duration::seconds(30), None).expect("within the default skew");
    // A wider configured skew takes the five minutes; a narrower one refuses the 30 s.
    unpack_at(
        &n,
        &packed,
        now - Duration::minutes(5),
        Some(std::time::Duration::from_secs(400)),
    )
    .expect("within a 400 s skew");
    let refused = unpack_at(
        &n,
        &packed,
        now - Duration::seconds(30),
        Some(std::time::Duration::from_secs(10)),
    )
    .unwrap_err();
    assert_eq!(refused.error.code, ErrorCode::PolicyNoncompliance);
}

#[test]
fn a_receipt_whose_timestamp_has_expired_or_lies_in_the_future_is_refused() {
    let n = net();
    let packed = send(&n, &n.sender, &[&xhe()]);
    let received = common::as4::receive(&n, &packed.content_type, &packed.body).unwrap();
    let receipt = pack::receipt(&received, &signer(&n.receiver)).unwrap();
    let skew = std::time::Duration::from_secs(60);
    let verify = |at: OffsetDateTime, skew: std::time::Duration| {
        pack::verify_receipt_at(receipt.as_bytes(), &packed, &n.receiver.cert, at, skew)
    };
    let now = OffsetDateTime::now_utc();
    verify(now, skew).expect("fresh");
    pack::verify_receipt(receipt.as_bytes(), &packed, &n.receiver.cert)
        .expect("fresh, default skew");
    let expired = verify(now + Duration::minutes(6), skew).unwrap_err();
    assert_eq!(expired.code, ErrorCode::PolicyNoncompliance);
    assert!(expired.detail.contains("expired"), "{expired}");
    let future = verify(now - Duration::minutes(5), skew).unwrap_err();
    assert_eq!(future.code, ErrorCode::PolicyNoncompliance);
    assert!(future.detail.contains("future"), "{future}");
    verify(now - Duration::seconds(30), skew).expect("within the skew");
    verify(
        now - Duration::minutes(5),
        std::time::Duration::from_secs(400),
    )
    .expect("within a wider skew");
}

fn config_with(text: &str) -> sdk_relay::config::NodeConfig {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let path = dir.path().join("sdk-relay.toml");
    std::fs::write(&path, text).unwrap();
    match sdk_relay::config::NodeConfig::load(&path) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn clock_skew_seconds_defaults_to_60_and_is_bounded() {
    let template = sdk_relay::config::template("kommun-a-1", "qa", "data");
    assert!(template.contains("\nclock_skew_seconds = 60\n"));
    assert_eq!(config_with(&template).as4.clock_skew_seconds, 60);
    let without = template.replace("\nclock_skew_seconds = 60\n", "\n");
    assert_eq!(config_with(&without).as4.clock_skew_seconds, 60);
    let wider = template.replace("clock_skew_seconds = 60", "clock_skew_seconds = 300");
    assert_eq!(config_with(&wider).as4.clock_skew_seconds, 300);
    let mut config = config_with(&template);
    config.as4.clock_skew_seconds = 7200;
    let problems = config.problems();
    assert!(
        problems.iter().any(|p| p.contains("clock_skew_seconds")),
        "{problems:?}"
    );
}
