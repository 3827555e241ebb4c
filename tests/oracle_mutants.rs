//! Mutants of DIGG's examples (delete, duplicate, empty, re-value, reorder elements; wrong namespaces; bad
//! attribute values), judged by us and by the official oracle. Verdicts must agree on every mutant except
//! where one of our deliberate differences (docs/deliberate-differences.md) explains it; each such difference
//! is named and counted. Every DIGG rule id the oracle reports, we report too.

mod common;

use std::collections::BTreeMap;

use common::tree::{Item, Node};
use sdk_relay::envelope::{self, Violation};
use sdk_relay::xml::Limits;

const MUTANTS: usize = 1000;

/// Rules that exist only on our side, from the SDK prose (see docs/deliberate-differences.md).
fn is_deliberate(v: &Violation) -> bool {
    v.rule.starts_with("SDK-") || (v.rule == "R11-XHE" && v.location.contains("/ToParty/"))
}

/// A small deterministic generator, so a failure names a mutant that can be made again.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const VALUES: &[&str] = &[
    "",
    "   ",
    "x",
    "true",
    "false",
    "1",
    "yes",
    "2024-13-01T00:00:00Z",
    "2024-02-30T10:00:00Z",
    "2024-01-01T10:00:00",
    "2024-01-01T10:00:00.123Z",
    "2024-01-01T10:00:00+01:00",
    "2021-04-15",
    "12:00:00Z",
    "12:00:00",
    "not-a-uuid",
    "7bc5576a-3f87-4cf5-a0c5-277da06fcacb",
    "0203:other.example.se",
    "DOCUMENTID",
    "FEDERATIONID",
    "PROCESSID",
    "urn:fdc:digg.se:edelivery:federation:sdk",
    "urn:fdc:digg.se:edelivery:federation:prod",
    "bdx:noprocess",
    "iso6523-actorid-upis",
    "Q{urn:example}other",
    "application/pdf",
    "ACCEPTED",
    "REJECTED",
    "SV",
    "XX",
    "QUJD",
    "!notbase64",
    "1.0",
    "2.0",
    "urn:riv:infrastructure:messaging:functionalAddress",
    "\u{a0}",
    "ACCEPTED\u{a0}",
    "\u{3000}1.0",
];

const ATTR_VALUES: &[&str] = &[
    "",
    "x",
    "iso6523-actorid-upis",
    " iso6523-actorid-upis ",
    "urn:other",
    "sv_SE",
];

fn mutate(doc: &Node, rng: &mut Rng) -> Option<(String, Node)> {
    let paths = doc.element_paths();
    let path = rng.pick(&paths).clone();
    let mut m = doc.clone();
    let (parent_path, idx) = path.split_at(path.len() - 1);
    let idx = idx[0];
    let target = doc.at(&path);
    let what = target.local.clone();
    let op = rng.below(9);
    let label = match op {
        0 => {
            m.at_mut(parent_path).content.remove(idx);
            format!("delete {what}")
        }
        1 => {
            let copy = Item::El(target.clone());
            m.at_mut(parent_path).content.insert(idx + 1, copy);
            format!("duplicate {what}")
        }
        2 => {
            m.at_mut(&path).content.clear();
            format!("empty {what}")
        }
        3 | 4 => {
            if target.has_element_children() {
                return None;
            }
            let v = rng.pick(VALUES);
            m.at_mut(&path).content = vec![Item::Text((*v).to_owned())];
            format!("re-value {what} = {v:?}")
        }
        5 => {
            let parent = m.at_mut(parent_path);
            let next = (idx + 1..parent.content.len())
                .find(|j| matches!(parent.content[*j], Item::El(_)))?;
            parent.content.swap(idx, next);
            format!("reorder {what} with its next sibling")
        }
        6 => {
            let n = m.at_mut(&path);
            n.prefix = "wrong".into();
            n.decls
                .push(("wrong".into(), "urn:example:wrong-namespace".into()));
            format!("wrong namespace on {what}")
        }
        7 => {
            let n = m.at_mut(&path);
            match rng.below(3) {
                0 if !n.attrs.is_empty() => {
                    let i = rng.below(n.attrs.len());
                    let v = rng.pick(ATTR_VALUES);
                    n.attrs[i].1 = (*v).to_owned();
                    format!("attribute {}={v:?} on {what}", n.attrs[i].0)
                }
                1 if !n.attrs.is_empty() => {
                    let i = rng.below(n.attrs.len());
                    let gone = n.attrs.remove(i).0;
                    format!("remove attribute {gone} from {what}")
                }
                _ => {
                    let name =
                        *rng.pick(&["schemeID", "languageID", "listID", "foo", "Id", "Algorithm"]);
                    if n.attrs.iter().any(|(k, _)| k == name) {
                        return None;
                    }
                    let v = rng.pick(ATTR_VALUES);
                    n.attrs.push((name.to_owned(), (*v).to_owned()));
                    format!("add attribute {name}={v:?} to {what}")
                }
            }
        }
        _ => {
            // Rename to the name of another element of the same document: plausible but misplaced.
            let other_path: &Vec<usize> = rng.pick(&paths);
            let other = doc.at(other_path);
            if other.local == target.local {
                return None;
            }
            let n = m.at_mut(&path);
            n.local = other.local.clone();
            n.prefix = other.prefix.clone();
            format!("rename {what} to {}", other.local)
        }
    };
    Some((label, m))
}

#[test]
fn mutants_agree_with_the_oracle() {
    let sources: Vec<(String, Node)> = common::digg_documents()
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let doc = sdk_relay::xml::parse_bytes(&bytes, &Limits::default()).ok()?;
            envelope::DocType::of(doc.root())?;
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                Node::parse(&bytes),
            ))
        })
        .collect();
    assert!(sources.len() >= 13);

    let tmp = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(0x5d1c_2026_0b5e_55ed);
    let mut mutants = Vec::new(); // (label, path, inner path)
    let mut attempts = 0;
    while mutants.len() < MUTANTS {
        attempts += 1;
        assert!(attempts < MUTANTS * 20, "could not make enough mutants");
        let (name, doc) = &sources[mutants.len() % sources.len()];
        let Some((label, m)) = mutate(doc, &mut rng) else {
            continue;
        };
        let xml = m.to_xml();
        let path = tmp.path().join(format!("m{:04}.xml", mutants.len()));
        std::fs::write(&path, &xml).expect("write mutant");
        let inner = common::plain_sdk_payload(xml.as_bytes()).map(|inner| {
            let p = tmp.path().join(format!("m{:04}-inner.xml", mutants.len()));
            std::fs::write(&p, inner).expect("write inner");
            p
        });
        mutants.push((format!("{name}: {label}"), path, inner));
    }

    let mut files: Vec<_> = mutants.iter().map(|(_, p, _)| p.clone()).collect();
    let inner_index: Vec<Option<usize>> = mutants
        .iter()
        .map(|(_, _, inner)| {
            inner.as_ref().map(|p| {
                files.push(p.clone());
                files.len() - 1
            })
        })
        .collect();
    let verdicts = common::oracle_validate(&files);

    let mut explained: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut invalid, mut unknown_root, mut rules_only) = (0, 0, 0);
    for (k, (label, path, _)) in mutants.iter().enumerate() {
        let oracle = &verdicts[k];
        let inner = inner_index[k].map(|i| &verdicts[i]);
        let bytes = std::fs::read(path).expect("read mutant");
        let ours = envelope::check_bytes(&bytes, &Limits::default());
        if oracle.doctype.is_none() {
            unknown_root += 1;
            if ours.is_ok() {
                failures.push(format!(
                    "{label}: the oracle finds no document type, we do: {}",
                    oracle.raw
                ));
            }
            continue;
        }
        let (_, violations) = match ours {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{label}: we refuse the document ({e}), the oracle reads it"
                ));
                continue;
            }
        };
        let oracle_valid = oracle.valid && inner.is_none_or(|i| i.valid);
        let oracle_xsd = oracle.xsd_valid && inner.is_none_or(|i| i.xsd_valid);
        if !oracle_valid {
            invalid += 1;
            if oracle_xsd {
                rules_only += 1;
            }
        }
        let ours_valid = violations.is_empty();
        let ours_xsd = !violations.iter().any(|v| v.rule.starts_with("XSD-"));
        if ours_xsd != oracle_xsd {
            failures.push(format!(
                "{label}: XSD verdict ours={ours_xsd} oracle={oracle_xsd}\n  ours: {violations:?}\n  oracle: {}",
                oracle.raw
            ));
        }
        if ours_valid != oracle_valid {
            let extra: Vec<&Violation> = violations.iter().filter(|v| is_deliberate(v)).collect();
            let only_deliberate = !ours_valid && violations.iter().all(is_deliberate);
            if only_deliberate {
                let mut rules: Vec<&str> = extra.iter().map(|v| v.rule.as_str()).collect();
                rules.sort();
                rules.dedup();
                for r in rules {
                    *explained.entry(r.to_owned()).or_default() += 1;
                }
            } else {
                failures.push(format!(
                    "{label}: verdict ours={ours_valid} oracle={oracle_valid}\n  ours: {violations:?}\n  oracle: {}",
                    oracle.raw
                ));
            }
        }
        let mut oracle_ids = common::digg_rule_ids(oracle);
        if let Some(i) = inner {
            oracle_ids.extend(common::digg_rule_ids(i));
        }
        for id in oracle_ids {
            // DIGG's R11-XHE looks at FromParty (a defect); ours looks at ToParty, as the prose says.
            let r11_defect = id == "R11-XHE"
                && oracle
                    .failures
                    .iter()
                    .any(|(i, loc)| i == "R11-XHE" && loc.contains("FromParty"));
            if r11_defect {
                *explained
                    .entry("R11-XHE (DIGG checks FromParty)".into())
                    .or_default() += 1;
                continue;
            }
            if !violations.iter().any(|v| v.rule == id) {
                failures.push(format!(
                    "{label}: the oracle reports {id}, we do not\n  ours: {violations:?}"
                ));
            }
        }
    }

    println!(
        "{} mutants: {invalid} invalid by the oracle ({rules_only} of them schema-valid, caught by DIGG's rules \
         only), {unknown_root} with an unknown root",
        mutants.len()
    );
    println!("verdict differences explained by deliberate differences:");
    for (rule, n) in &explained {
        println!("  {rule}: {n} mutant(s)");
    }
    assert!(
        failures.is_empty(),
        "{} unexplained disagreement(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        invalid > MUTANTS / 3,
        "too few invalid mutants ({invalid}) for the comparison to mean much"
    );
    assert!(
        rules_only >= 50,
        "too few mutants exercise DIGG's rules past the schema ({rules_only})"
    );
    assert!(
        MUTANTS - invalid >= 50,
        "too few valid mutants ({}) to catch false rejections",
        MUTANTS - invalid
    );
}
