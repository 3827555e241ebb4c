//! DIGG's rule files, by DIGG's ids, and the SDK prose rules they leave out.
//!
//! Each DIGG rule is translated from its Schematron source with the same context and test, evaluated the way
//! an XSLT 2 processor would (including where a test over several nodes is an error, which fails the assert).
//! Deliberate differences are listed in `docs/deliberate-differences.md`.

pub mod message;
pub mod receipt;
pub mod sdk;
pub mod xhe;

use crate::envelope::Violation;
use crate::xml::{El, names};

/// An element name: (namespace URI, local name).
pub(crate) type Name = (&'static str, &'static str);

/// XPath `normalize-space()` as the reference evaluator (elementpath) computes it: every Unicode white-space
/// character counts, not only XML's four (so a no-break space is stripped; see
/// docs/deliberate-differences.md).
pub(crate) fn normalize_space(s: &str) -> String {
    s.split(char::is_whitespace)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// XPath `normalize-space(child)` where `child` may select several nodes: more than one is a type error in
/// XPath 2.0, which makes the whole test fail (`None`).
pub(crate) fn normalize_space_of_one(children: &[El<'_, '_>]) -> Option<String> {
    match children {
        [] => Some(String::new()),
        [one] => Some(normalize_space(&one.string_value())),
        _ => None,
    }
}

/// `hits` as an XPath union yields them: in document order, each once.
pub(crate) fn in_document_order<'d, 'a>(
    root: El<'d, 'a>,
    mut hits: Vec<El<'d, 'a>>,
) -> Vec<El<'d, 'a>> {
    if hits.len() > 1 {
        let order = root.descendants_or_self();
        hits.sort_by_key(|h| order.iter().position(|o| o.same_node(h)));
        hits.dedup_by(|a, b| a.same_node(b));
    }
    hits
}

/// R2-XHE and R2-APP: every element with no child element and no text is a violation of `rule`, unless it is
/// in the xmldsig or xmlenc namespace, or `exempt` says so.
pub(crate) fn empty_elements(
    root: El<'_, '_>,
    rule: &str,
    exempt: impl Fn(&El<'_, '_>) -> bool,
    out: &mut Vec<Violation>,
) {
    for e in root.descendants_or_self() {
        if e.has_element_children() || e.has_non_whitespace_string_value() {
            continue;
        }
        if e.ns() == names::XENC || e.ns() == names::DS || exempt(&e) {
            continue;
        }
        out.push(Violation::new(
            rule,
            e.path(),
            format!("{} is empty; empty elements are not allowed", e.local()),
        ));
    }
}

/// A path of `(ns, local)` steps from `from`, all matches in document order.
pub(crate) fn select<'d, 'a>(from: El<'d, 'a>, steps: &[(&str, &str)]) -> Vec<El<'d, 'a>> {
    let mut current = vec![from];
    for (ns, local) in steps {
        current = current
            .iter()
            .flat_map(|e| e.children_named(ns, local).collect::<Vec<_>>())
            .collect();
    }
    current
}
