//! `MessageConstraints.xml` for SDK Meddelande v3, by its pattern ids.

use crate::envelope::Violation;
use crate::envelope::ids;
use crate::xml::El;
use crate::xml::names::MSG3 as NS;

/// Run every MessageConstraints pattern on a `messagePayload` element (standalone or inside an XHE).
pub fn check(payload: El<'_, '_>, out: &mut Vec<Violation>) {
    let all = payload.descendants_or_self();
    // verifyNonEmptyElements: every descendant of messagePayload, whatever its namespace.
    for e in all.iter().skip(1) {
        if !e.has_non_whitespace_string_value() {
            out.push(Violation::new(
                "verifyNonEmptyElements",
                e.path(),
                format!(
                    "{} is included but empty; every element must have a value",
                    e.local()
                ),
            ));
        }
    }
    let named = |local: &'static str| all.iter().filter(move |e| e.is(NS, local));
    for h in named("messageHeader") {
        if h.children_named(NS, "conversationId").count() != 1 {
            out.push(Violation::new(
                "conversationIdMustExist",
                h.path(),
                "messageHeader must have exactly one conversationId (for a new conversation, use the messageId)",
            ));
        }
    }
    for (pattern, parent) in [
        ("recipientIdvalue", "recipientID"),
        ("senderIdvalue", "senderID"),
    ] {
        for root in named(parent).flat_map(|p| p.children_named(NS, "root").collect::<Vec<_>>()) {
            if root.string_value() != ids::PARTY_SCHEME {
                out.push(Violation::new(
                    pattern,
                    root.path(),
                    format!(
                        "{parent}/root must be '{}' but is '{}'",
                        ids::PARTY_SCHEME,
                        root.string_value()
                    ),
                ));
            }
        }
    }
    for e in named("creationDateTime") {
        if !is_sdk_timestamp(&e.string_value()) {
            out.push(Violation::new(
                "creationDateTime",
                e.path(),
                format!(
                    "'{}' does not match YYYY-MM-DDThh:mm:ss.sZ (UTC, 1-3 fraction digits)",
                    e.string_value()
                ),
            ));
        }
    }
    for (pattern, local) in [
        ("MessageId", "messageId"),
        ("conversationId", "conversationId"),
        ("refToMessageId", "refToMessageId"),
    ] {
        for e in named(local) {
            if !ids::is_uuid(&e.string_value()) {
                out.push(Violation::new(
                    pattern,
                    e.path(),
                    format!("'{}' is not a valid UUID", e.string_value()),
                ));
            }
        }
    }
    for h in named("messageHeader") {
        for label in h.children_named(NS, "label") {
            let len = label.string_value().chars().count();
            if len > 256 {
                out.push(Violation::new(
                    "subjectlabel",
                    label.path(),
                    format!("the subject is {len} characters, over the maximum of 256"),
                ));
            }
        }
    }
    for f in named("ContentFiles") {
        for c in f.children_named(NS, "content") {
            let ok = c
                .first_char_of_string_value()
                .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '+' || ch == '/');
            if !ok {
                out.push(Violation::new(
                    "contentFiles",
                    c.path(),
                    "content must be base64 encoded (RFC 4648)",
                ));
            }
        }
    }
    for s in named("subOrganization") {
        for org in s.children_named(NS, "organizationId") {
            for root in org.children_named(NS, "root") {
                if root.string_value() != ids::FUNCTIONAL_ADDRESS_ROOT {
                    out.push(Violation::new(
                        "subOrgRoot",
                        root.path(),
                        format!(
                            "organizationId/root must be '{}'",
                            ids::FUNCTIONAL_ADDRESS_ROOT
                        ),
                    ));
                }
            }
        }
    }
}

/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.[0-9]{1,3}Z$`, where `.` is any character but a
/// line break (as in XPath regular expressions).
fn is_sdk_timestamp(v: &str) -> bool {
    let c: Vec<char> = v.chars().collect();
    let digit = |i: usize| c.get(i).is_some_and(|ch| ch.is_ascii_digit());
    let at = |i: usize, ch: char| c.get(i) == Some(&ch);
    if c.len() < 22 || c.len() > 24 {
        return false;
    }
    let fixed = (0..4).all(digit)
        && at(4, '-')
        && (5..7).all(digit)
        && at(7, '-')
        && (8..10).all(digit)
        && at(10, 'T')
        && (11..13).all(digit)
        && at(13, ':')
        && (14..16).all(digit)
        && at(16, ':')
        && (17..19).all(digit)
        && !matches!(c[19], '\n' | '\r');
    let frac = c.len() - 21;
    fixed && (20..20 + frac).all(digit) && at(c.len() - 1, 'Z')
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_pattern() {
        assert!(super::is_sdk_timestamp("2019-08-22T07:27:15.433Z"));
        assert!(super::is_sdk_timestamp("2019-08-22T07:27:15.4Z"));
        assert!(super::is_sdk_timestamp("2019-08-22T07:27:15x4Z"));
        assert!(!super::is_sdk_timestamp("2019-08-22T07:27:15Z"));
        assert!(!super::is_sdk_timestamp("2019-08-22T07:27:15.4333Z"));
        assert!(!super::is_sdk_timestamp("2019-08-22T07:27:15.433+01:00"));
    }
}
