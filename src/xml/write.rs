use uppsala::NodeKind;

use super::El;

/// A small XML writer: the builders use it to write documents, and the validator to lift an embedded payload
/// out of its envelope. Elements with element children are indented two spaces per level; simple content is
/// written inline, so no whitespace is ever added to a value.
#[derive(Default)]
pub struct Writer {
    out: String,
    open: Vec<(String, bool)>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<?xml version="1.0" encoding="UTF-8"?>`; call first.
    pub fn declaration(&mut self) {
        self.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    }

    fn newline_indent(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    fn mark_parent_has_children(&mut self) {
        if let Some(top) = self.open.last_mut() {
            top.1 = true;
        }
    }

    fn open_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');
    }

    /// Open an element that will hold child elements.
    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.mark_parent_has_children();
        self.newline_indent();
        self.open_tag(name, attrs);
        self.open.push((name.to_owned(), false));
    }

    /// Close the innermost open element.
    pub fn end(&mut self) {
        if let Some((name, had_children)) = self.open.pop() {
            if had_children {
                self.out.push('\n');
                for _ in 0..self.open.len() {
                    self.out.push_str("  ");
                }
            }
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        }
    }

    /// An element with a text value.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.mark_parent_has_children();
        self.newline_indent();
        self.open_tag(name, attrs);
        escape_text(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Copy `el` and its subtree. With `standalone`, the top element declares every namespace in scope for
    /// it, so the copy is a complete document on its own.
    pub fn copy_element(&mut self, el: El<'_, '_>, standalone: bool) {
        let mut decls: Vec<(String, String)> = Vec::new();
        let chain: Vec<El<'_, '_>> = if standalone {
            let mut chain: Vec<El<'_, '_>> = el.ancestors().collect();
            chain.reverse();
            chain.push(el);
            chain
        } else {
            vec![el]
        };
        for e in chain {
            for (p, u) in e.namespace_declarations() {
                decls.retain(|(q, _)| q != p);
                decls.push((p.to_owned(), u.to_owned()));
            }
        }
        self.mark_parent_has_children();
        self.newline_indent();
        write_verbatim(&mut self.out, el, &decls);
    }

    /// Pre-written, well-formed XML placed as the next child.
    pub fn raw(&mut self, xml: &str) {
        self.mark_parent_has_children();
        self.newline_indent();
        self.out.push_str(xml);
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out.push('\n');
        self.out
    }
}

/// `el` exactly as it is: its namespace declarations (or `decls` for the top element), attributes, and mixed
/// content in order, with no indentation added.
fn write_verbatim(out: &mut String, el: El<'_, '_>, decls: &[(String, String)]) {
    let name = qualified(el.prefix(), el.local());
    out.push('<');
    out.push_str(&name);
    for (p, u) in decls {
        out.push_str(if p.is_empty() { " xmlns" } else { " xmlns:" });
        out.push_str(p);
        out.push_str("=\"");
        escape_attr(out, u);
        out.push('"');
    }
    for a in el.attributes() {
        out.push(' ');
        out.push_str(&qualified(
            a.name.prefix.as_deref().unwrap_or(""),
            &a.name.local_name,
        ));
        out.push_str("=\"");
        escape_attr(out, &a.value);
        out.push('"');
    }
    out.push('>');
    for c in el.content() {
        match c {
            Child::Text(t) => escape_text(out, t),
            Child::Element(e) => {
                let own: Vec<(String, String)> = e
                    .namespace_declarations()
                    .map(|(p, u)| (p.to_owned(), u.to_owned()))
                    .collect();
                write_verbatim(out, e, &own);
            }
        }
    }
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

fn qualified(prefix: &str, local: &str) -> String {
    if prefix.is_empty() {
        local.to_owned()
    } else {
        format!("{prefix}:{local}")
    }
}

/// A content item of an element: text (or CDATA) or a child element.
pub enum Child<'d, 'a> {
    Text(&'d str),
    Element(El<'d, 'a>),
}

impl<'d, 'a> El<'d, 'a> {
    /// Text, CDATA and element children in document order (comments and PIs left out).
    pub fn content(&self) -> Vec<Child<'d, 'a>> {
        let (doc, id) = self.raw_parts();
        doc.children_iter(id)
            .filter_map(|c| match doc.node_kind(c) {
                Some(NodeKind::Text(t)) | Some(NodeKind::CData(t)) => Some(Child::Text(t.as_ref())),
                Some(NodeKind::Element(_)) => Some(Child::Element(El::new(doc, c))),
                _ => None,
            })
            .collect()
    }
}

pub(crate) fn escape_text(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

pub(crate) fn escape_attr(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}
