//! Structure validation as the official XSDs define it, in our own code.
//!
//! Each schema is written out as static tables ([`ElementDecl`], [`ComplexType`], [`Particle`]) in the module
//! named for it; [`validate`] walks a parsed document against them the way an XSD 1.0 processor does:
//! element order and cardinality, namespaces, wildcards (strict, lax, skip), attributes and datatypes.
//! Content models in these schemas obey the Unique Particle Attribution rule, so one child of lookahead
//! decides every step and greedy matching is exact.

mod datatypes;
pub mod dsig;
pub mod message;
pub mod receipt;
pub mod xhe;

use std::collections::HashSet;

pub use datatypes::{Datatype, has_time_zone as datatypes_has_time_zone};

use super::Violation;
use crate::xml::{El, names};

/// A global or local element declaration.
pub struct ElementDecl {
    pub ns: &'static str,
    pub name: &'static str,
    pub ty: &'static ComplexType,
}

/// A type: its attributes and its content. Simple types are complex types with simple content and no
/// attributes, which keeps one code path.
pub struct ComplexType {
    pub attrs: &'static [AttrDecl],
    pub content: Content,
}

pub enum Content {
    /// Text only, of this datatype.
    Simple(Datatype),
    /// Child elements by this model; `mixed` allows text between them.
    Elements { mixed: bool, model: Particle },
}

pub struct AttrDecl {
    pub name: &'static str,
    pub ty: Datatype,
    pub required: bool,
}

pub const UNBOUNDED: u32 = u32::MAX;

pub struct Particle {
    pub term: Term,
    pub min: u32,
    pub max: u32,
}

pub enum Term {
    Element(&'static ElementDecl),
    Any(Wildcard),
    Sequence(&'static [Particle]),
    Choice(&'static [Particle]),
}

pub struct Wildcard {
    pub ns: WildNs,
    pub process: Process,
}

pub enum WildNs {
    /// `##any`
    Any,
    /// `##other` relative to this target namespace (also excludes no namespace).
    Other(&'static str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Strict,
    Lax,
    Skip,
}

/// A schema set: the global elements a document root or a wildcard can resolve to.
pub struct Schema {
    pub globals: &'static [&'static ElementDecl],
}

impl Schema {
    fn global(&self, ns: &str, name: &str) -> Option<&'static ElementDecl> {
        self.globals
            .iter()
            .find(|d| d.ns == ns && d.name == name)
            .copied()
    }
}

/// Shorthand constructors for the schema tables.
pub const fn one(term: Term) -> Particle {
    Particle {
        term,
        min: 1,
        max: 1,
    }
}
pub const fn opt(term: Term) -> Particle {
    Particle {
        term,
        min: 0,
        max: 1,
    }
}
pub const fn many(term: Term) -> Particle {
    Particle {
        term,
        min: 0,
        max: UNBOUNDED,
    }
}
pub const fn some(term: Term) -> Particle {
    Particle {
        term,
        min: 1,
        max: UNBOUNDED,
    }
}
pub const fn el(d: &'static ElementDecl) -> Term {
    Term::Element(d)
}
pub const fn any_other(target_ns: &'static str, process: Process) -> Term {
    Term::Any(Wildcard {
        ns: WildNs::Other(target_ns),
        process,
    })
}
/// Element-only content, no attributes.
pub const fn element_only(model: Particle) -> ComplexType {
    ComplexType {
        attrs: &[],
        content: Content::Elements {
            mixed: false,
            model,
        },
    }
}
/// Element declarations in one namespace: `declare!(NS: ID = "Name": &TYPE; …)`.
macro_rules! declare {
    ($ns:expr; $($id:ident = $name:literal : $ty:expr;)*) => {
        $(pub static $id: ElementDecl = ElementDecl { ns: $ns, name: $name, ty: $ty };)*
    };
}
pub(crate) use declare;

pub const fn simple(dt: Datatype) -> ComplexType {
    ComplexType {
        attrs: &[],
        content: Content::Simple(dt),
    }
}
pub const fn attr(name: &'static str, ty: Datatype) -> AttrDecl {
    AttrDecl {
        name,
        ty,
        required: false,
    }
}
pub const fn required_attr(name: &'static str, ty: Datatype) -> AttrDecl {
    AttrDecl {
        name,
        ty,
        required: true,
    }
}

/// Validate `root` against `schema`, appending every violation found.
pub fn validate(schema: &Schema, root: El<'_, '_>, out: &mut Vec<Violation>) {
    let mut v = Validator {
        schema,
        ids: HashSet::new(),
        out,
    };
    match schema.global(root.ns(), root.local()) {
        Some(decl) => v.element(root, decl),
        None => v.report(
            "XSD-ROOT",
            root.path(),
            format!(
                "root element {{{}}}{} is not declared by this schema",
                root.ns(),
                root.local()
            ),
        ),
    }
}

struct Validator<'s, 'o> {
    schema: &'s Schema,
    ids: HashSet<String>,
    out: &'o mut Vec<Violation>,
}

/// What a child element was matched to.
enum Match {
    Decl(&'static ElementDecl),
    Wild(Process),
}

impl Validator<'_, '_> {
    fn report(&mut self, rule: &str, location: String, message: String) {
        self.out.push(Violation::new(rule, location, message));
    }

    fn element(&mut self, e: El<'_, '_>, decl: &'static ElementDecl) {
        self.attributes(e, decl.ty.attrs);
        match &decl.ty.content {
            Content::Simple(dt) => {
                if let Some(child) = e.children().next() {
                    self.report(
                        "XSD-ELEMENT-UNEXPECTED",
                        child.path(),
                        format!(
                            "{} holds a value only; child element {} is not allowed",
                            e.local(),
                            child.local()
                        ),
                    );
                    return;
                }
                if dt.accepts_everything() {
                    return;
                }
                let value = e.text();
                if let Err(why) = dt.check(&value) {
                    self.report(
                        "XSD-DATATYPE",
                        e.path(),
                        format!("'{}' is not a valid {}: {why}", shorten(&value), dt.name()),
                    );
                } else if *dt == Datatype::Id {
                    self.id(e, &value, e.path());
                }
            }
            Content::Elements { mixed, model } => {
                if !mixed && e.has_character_content() {
                    self.report(
                        "XSD-TEXT-NOT-ALLOWED",
                        e.path(),
                        format!("{} may hold only child elements, not text", e.local()),
                    );
                }
                let kids: Vec<El<'_, '_>> = e.children().collect();
                let mut assigned = Vec::with_capacity(kids.len());
                match match_particle(model, &kids, 0, &mut assigned) {
                    Ok(end) if end < kids.len() => {
                        let extra = kids[end];
                        self.report(
                            "XSD-ELEMENT-UNEXPECTED",
                            extra.path(),
                            format!(
                                "element {} is not expected here in {}",
                                display_name(extra),
                                e.local()
                            ),
                        );
                    }
                    Ok(_) => {}
                    Err(fail) => self.content_error(e, &kids, fail),
                }
                // Children matched before any mismatch are still checked, so every violation is found.
                for (kid, m) in kids.iter().zip(assigned) {
                    self.matched(*kid, m);
                }
            }
        }
    }

    fn content_error(&mut self, parent: El<'_, '_>, kids: &[El<'_, '_>], fail: Fail) {
        match kids.get(fail.at) {
            Some(kid) => self.report(
                "XSD-ELEMENT-UNEXPECTED",
                kid.path(),
                format!(
                    "element {} is not expected here in {}; expected {}",
                    display_name(*kid),
                    parent.local(),
                    fail.expected
                ),
            ),
            None => self.report(
                "XSD-ELEMENT-MISSING",
                parent.path(),
                format!(
                    "{} is incomplete: expected {}",
                    parent.local(),
                    fail.expected
                ),
            ),
        }
    }

    fn matched(&mut self, kid: El<'_, '_>, m: Match) {
        match m {
            Match::Decl(d) => self.element(kid, d),
            Match::Wild(Process::Skip) => {}
            Match::Wild(Process::Strict) => match self.schema.global(kid.ns(), kid.local()) {
                Some(d) => self.element(kid, d),
                None => self.report(
                    "XSD-ELEMENT-UNDECLARED",
                    kid.path(),
                    format!(
                        "element {} has no declaration, and strict validation requires one",
                        display_name(kid)
                    ),
                ),
            },
            Match::Wild(Process::Lax) => self.lax(kid),
        }
    }

    /// Lax: validate what is declared, look inside what is not.
    fn lax(&mut self, e: El<'_, '_>) {
        match self.schema.global(e.ns(), e.local()) {
            Some(d) => self.element(e, d),
            None => {
                for a in e.attributes() {
                    match (a.name.namespace_uri.as_deref(), &*a.name.local_name) {
                        (Some(names::XSI), "type") => self.xsi_attribute(e, "type"),
                        // xml:id is an ID wherever it appears, so it must not repeat one.
                        (Some(names::XML), "id") => self.id(e, &a.value, e.attr_path("xml:id")),
                        _ => {}
                    }
                }
                for kid in e.children() {
                    self.lax(kid);
                }
            }
        }
    }

    fn attributes(&mut self, e: El<'_, '_>, decls: &'static [AttrDecl]) {
        for a in e.attributes() {
            let ns = a.name.namespace_uri.as_deref().unwrap_or("");
            let name: &str = &a.name.local_name;
            if ns == names::XSI {
                self.xsi_attribute(e, name);
                continue;
            }
            let decl = if ns.is_empty() {
                decls.iter().find(|d| d.name == name)
            } else {
                None
            };
            let Some(decl) = decl else {
                let shown = if ns.is_empty() {
                    name.to_owned()
                } else {
                    format!("{{{ns}}}{name}")
                };
                let qualified = match a.name.prefix.as_deref() {
                    Some(p) if !p.is_empty() => format!("{p}:{name}"),
                    _ => name.to_owned(),
                };
                self.report(
                    "XSD-ATTRIBUTE-UNEXPECTED",
                    e.attr_path(&qualified),
                    format!("attribute {shown} is not allowed on {}", e.local()),
                );
                continue;
            };
            match decl.ty.check(&a.value) {
                Err(why) => self.report(
                    "XSD-DATATYPE",
                    e.attr_path(name),
                    format!(
                        "'{}' is not a valid {}: {why}",
                        shorten(&a.value),
                        decl.ty.name()
                    ),
                ),
                Ok(()) if decl.ty == Datatype::Id => self.id(e, &a.value, e.attr_path(name)),
                Ok(()) => {}
            }
        }
        for d in decls.iter().filter(|d| d.required) {
            if e.attr(d.name).is_none() {
                self.report(
                    "XSD-ATTRIBUTE-MISSING",
                    e.path(),
                    format!("{} requires the attribute {}", e.local(), d.name),
                );
            }
        }
    }

    /// `xsi:schemaLocation` hints are harmless; nothing in these schemas is nillable, and type substitution
    /// (`xsi:type`) is refused: SDK documents never use it, and honouring it would let a sender choose the
    /// rules its document is checked against.
    fn xsi_attribute(&mut self, e: El<'_, '_>, name: &str) {
        let location = e.attr_path(&format!("xsi:{name}"));
        match name {
            "schemaLocation" | "noNamespaceSchemaLocation" => {}
            "nil" => self.report(
                "XSD-ATTRIBUTE-UNEXPECTED",
                location,
                format!("{} is not nillable; xsi:nil is not allowed", e.local()),
            ),
            "type" => self.report(
                "XSD-XSI-TYPE",
                location,
                format!(
                    "xsi:type on {} is refused: SDK documents do not use type substitution",
                    e.local()
                ),
            ),
            other => self.report(
                "XSD-ATTRIBUTE-UNEXPECTED",
                location,
                format!("attribute xsi:{other} is not allowed on {}", e.local()),
            ),
        }
    }

    fn id(&mut self, _e: El<'_, '_>, value: &str, location: String) {
        let v = value.trim().to_owned();
        if !self.ids.insert(v.clone()) {
            self.report(
                "XSD-ID-DUPLICATE",
                location,
                format!(
                    "ID '{}' is used more than once in the document",
                    shorten(&v)
                ),
            );
        }
    }
}

struct Fail {
    at: usize,
    expected: String,
}

/// Match `p` greedily against `kids[pos..]`; returns the position after what it consumed.
fn match_particle(
    p: &Particle,
    kids: &[El<'_, '_>],
    mut pos: usize,
    assigned: &mut Vec<Match>,
) -> Result<usize, Fail> {
    let mut count = 0u32;
    while count < p.max {
        let Some(kid) = kids.get(pos) else { break };
        if !starts(&p.term, *kid) {
            break;
        }
        let next = match_term(&p.term, kids, pos, assigned)?;
        count += 1;
        if next == pos {
            break;
        }
        pos = next;
    }
    if count < p.min && !nullable_term(&p.term) {
        return Err(Fail {
            at: pos,
            expected: describe(&p.term),
        });
    }
    Ok(pos)
}

fn match_term(
    t: &Term,
    kids: &[El<'_, '_>],
    pos: usize,
    assigned: &mut Vec<Match>,
) -> Result<usize, Fail> {
    match t {
        Term::Element(d) => {
            assigned.push(Match::Decl(d));
            Ok(pos + 1)
        }
        Term::Any(w) => {
            assigned.push(Match::Wild(w.process));
            Ok(pos + 1)
        }
        Term::Sequence(ps) => {
            let mut pos = pos;
            for p in ps.iter() {
                pos = match_particle(p, kids, pos, assigned)?;
            }
            Ok(pos)
        }
        Term::Choice(ps) => {
            let kid = kids.get(pos);
            match ps.iter().find(|p| kid.is_some_and(|k| starts(&p.term, *k))) {
                Some(p) => match_particle(p, kids, pos, assigned),
                None if ps.iter().any(|p| p.min == 0 || nullable_term(&p.term)) => Ok(pos),
                None => Err(Fail {
                    at: pos,
                    expected: describe(t),
                }),
            }
        }
    }
}

/// Can `t` begin with `kid`?
fn starts(t: &Term, kid: El<'_, '_>) -> bool {
    match t {
        Term::Element(d) => kid.is(d.ns, d.name),
        Term::Any(w) => match w.ns {
            WildNs::Any => true,
            WildNs::Other(target) => !kid.ns().is_empty() && kid.ns() != target,
        },
        Term::Sequence(ps) => {
            for p in ps.iter() {
                if starts(&p.term, kid) {
                    return true;
                }
                if p.min > 0 && !nullable_term(&p.term) {
                    return false;
                }
            }
            false
        }
        Term::Choice(ps) => ps.iter().any(|p| starts(&p.term, kid)),
    }
}

fn nullable_term(t: &Term) -> bool {
    match t {
        Term::Element(_) | Term::Any(_) => false,
        Term::Sequence(ps) => ps.iter().all(|p| p.min == 0 || nullable_term(&p.term)),
        Term::Choice(ps) => ps.iter().any(|p| p.min == 0 || nullable_term(&p.term)),
    }
}

fn describe(t: &Term) -> String {
    match t {
        Term::Element(d) => d.name.to_owned(),
        Term::Any(w) => match w.ns {
            WildNs::Any => "any element".to_owned(),
            WildNs::Other(ns) => format!("an element outside {ns}"),
        },
        Term::Sequence(ps) => ps
            .iter()
            .find(|p| p.min > 0)
            .or(ps.first())
            .map(|p| describe(&p.term))
            .unwrap_or_default(),
        Term::Choice(ps) => {
            let names: Vec<String> = ps.iter().map(|p| describe(&p.term)).collect();
            format!("one of ({})", names.join(", "))
        }
    }
}

fn display_name(e: El<'_, '_>) -> String {
    format!("{{{}}}{}", e.ns(), e.local())
}

/// Values are quoted in messages; keep long ones (base64 blobs) readable.
fn shorten(v: &str) -> String {
    const MAX: usize = 60;
    if v.chars().count() <= MAX {
        v.to_owned()
    } else {
        let head: String = v.chars().take(MAX).collect();
        format!("{head}…")
    }
}
