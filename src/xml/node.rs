use uppsala::{Attribute, Document, NodeId, NodeKind};

/// A read-only view of one element of a parsed document.
#[derive(Clone, Copy)]
pub struct El<'d, 'a> {
    doc: &'d Document<'a>,
    id: NodeId,
}

impl<'d, 'a> El<'d, 'a> {
    pub(crate) fn new(doc: &'d Document<'a>, id: NodeId) -> Self {
        Self { doc, id }
    }

    fn element(&self) -> &'d uppsala::Element<'a> {
        self.doc
            .element(self.id)
            .expect("El is only built for element nodes")
    }

    /// Namespace URI, or "" for no namespace.
    pub fn ns(&self) -> &'d str {
        self.element().name.namespace_uri.as_deref().unwrap_or("")
    }

    /// Local name.
    pub fn local(&self) -> &'d str {
        &self.element().name.local_name
    }

    /// Prefix as written, or "".
    pub fn prefix(&self) -> &'d str {
        self.element().name.prefix.as_deref().unwrap_or("")
    }

    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns() == ns && self.local() == local
    }

    /// Attributes, without namespace declarations.
    pub fn attributes(&self) -> &'d [Attribute<'a>] {
        &self.element().attributes
    }

    /// Value of the unqualified attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&'d str> {
        self.attributes()
            .iter()
            .find(|a| a.name.namespace_uri.is_none() && a.name.local_name == name)
            .map(|a| a.value.as_ref())
    }

    /// Namespace declarations made on this element: (prefix, uri), "" prefix for the default namespace.
    pub fn namespace_declarations(&self) -> impl Iterator<Item = (&'d str, &'d str)> {
        self.element()
            .namespace_declarations
            .iter()
            .map(|(p, u)| (p.as_ref(), u.as_ref()))
    }

    /// Element children in document order.
    pub fn children(&self) -> impl Iterator<Item = El<'d, 'a>> + use<'d, 'a> {
        let doc = self.doc;
        doc.children_iter(self.id)
            .filter(move |c| matches!(doc.node_kind(*c), Some(NodeKind::Element(_))))
            .map(move |c| El::new(doc, c))
    }

    /// Element children named `{ns}local`.
    pub fn children_named<'q>(
        &self,
        ns: &'q str,
        local: &'q str,
    ) -> impl Iterator<Item = El<'d, 'a>> + use<'d, 'a, 'q> {
        self.children().filter(move |c| c.is(ns, local))
    }

    /// The first element child named `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<El<'d, 'a>> {
        self.children().find(|c| c.is(ns, local))
    }

    pub fn has_element_children(&self) -> bool {
        self.children().next().is_some()
    }

    /// Concatenated text and CDATA children (not descendants): the value of a simple-content element.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in self.doc.children_iter(self.id) {
            match self.doc.node_kind(c) {
                Some(NodeKind::Text(t)) | Some(NodeKind::CData(t)) => out.push_str(t),
                _ => {}
            }
        }
        out
    }

    /// True when a child is character content in the XSD sense: text other than whitespace, or any CDATA
    /// section at all (libxml2, and so the official check, counts even an empty one).
    pub fn has_character_content(&self) -> bool {
        self.doc
            .children_iter(self.id)
            .any(|c| match self.doc.node_kind(c) {
                Some(NodeKind::Text(t)) => !is_xml_whitespace(t),
                Some(NodeKind::CData(_)) => true,
                _ => false,
            })
    }

    /// Does the string value hold anything but whitespace? (XPath `normalize-space(.) != ''`, without
    /// building the string: a 100 MB base64 payload is looked at, not copied.)
    /// Whitespace here is Unicode's (as XPath's `normalize-space()` is computed by the reference evaluator).
    pub fn has_non_whitespace_string_value(&self) -> bool {
        self.find_text(|t| !t.chars().all(char::is_whitespace))
            .is_some()
    }

    /// The first character of the string value, without building it.
    pub fn first_char_of_string_value(&self) -> Option<char> {
        self.find_text(|t| !t.is_empty())
            .and_then(|t| t.chars().next())
    }

    /// The first descendant text (in document order) that satisfies `want`, walking the tree in place.
    fn find_text(&self, want: impl Fn(&str) -> bool) -> Option<&'d str> {
        let mut next = self.doc.first_child(self.id);
        while let Some(n) = next {
            match self.doc.node_kind(n) {
                Some(NodeKind::Text(t)) | Some(NodeKind::CData(t)) if want(t) => {
                    return Some(t.as_ref());
                }
                Some(NodeKind::Element(_)) => {
                    if let Some(c) = self.doc.first_child(n) {
                        next = Some(c);
                        continue;
                    }
                }
                _ => {}
            }
            // Next in document order: a sibling, or the sibling of the nearest ancestor below `self`.
            let mut at = n;
            next = loop {
                if let Some(s) = self.doc.next_sibling(at) {
                    break Some(s);
                }
                match self.doc.parent(at) {
                    Some(p) if p != self.id => at = p,
                    _ => break None,
                }
            };
        }
        None
    }

    /// XPath string value: all descendant text in document order.
    pub fn string_value(&self) -> String {
        self.doc.text_content_deep(self.id)
    }

    pub fn parent(&self) -> Option<El<'d, 'a>> {
        let p = self.doc.parent(self.id)?;
        match self.doc.node_kind(p) {
            Some(NodeKind::Element(_)) => Some(El::new(self.doc, p)),
            _ => None,
        }
    }

    /// Ancestors from the parent up to the document element.
    pub fn ancestors(&self) -> impl Iterator<Item = El<'d, 'a>> + use<'d, 'a> {
        std::iter::successors(self.parent(), |e| e.parent())
    }

    /// 1-based line of the start tag.
    pub fn line(&self) -> usize {
        self.doc.node_line(self.id)
    }

    /// A location path of local names, with a position only where a parent has several children of the same
    /// name: `/XHE/Header/BusinessScope/BusinessScopeCriterion[2]/BusinessScopeCriterionValue`.
    pub fn path(&self) -> String {
        let mut steps: Vec<El<'d, 'a>> = self.ancestors().collect();
        steps.reverse();
        steps.push(*self);
        let mut out = String::new();
        for step in steps {
            out.push('/');
            out.push_str(step.local());
            if let Some(parent) = step.parent() {
                let same: Vec<_> = parent.children_named(step.ns(), step.local()).collect();
                if same.len() > 1 {
                    let pos = same.iter().position(|s| s.id == step.id).unwrap_or(0) + 1;
                    out.push_str(&format!("[{pos}]"));
                }
            }
        }
        out
    }

    /// Path of an attribute of this element: `.../ID/@schemeID`.
    pub fn attr_path(&self, name: &str) -> String {
        format!("{}/@{}", self.path(), name)
    }

    /// All elements of the subtree rooted here, in document order, this one first.
    pub fn descendants_or_self(&self) -> Vec<El<'d, 'a>> {
        let mut out = Vec::new();
        let mut stack = vec![*self];
        while let Some(e) = stack.pop() {
            out.push(e);
            let kids: Vec<_> = e.children().collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// The node's id in its document (for libraries that work on the same parsed tree).
    pub(crate) fn node_id(&self) -> NodeId {
        self.id
    }

    /// Identity comparison (same node of the same document).
    pub fn same_node(&self, other: &El<'_, '_>) -> bool {
        std::ptr::eq(
            self.doc as *const _ as *const u8,
            other.doc as *const _ as *const u8,
        ) && self.id == other.id
    }

    /// Serialize this element and its subtree as standalone XML, declaring every namespace it uses.
    pub fn to_standalone_xml(&self) -> String {
        let mut w = super::Writer::new();
        w.copy_element(*self, true);
        w.finish()
    }
}

/// XML whitespace: space, tab, CR, LF.
pub fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

impl<'d, 'a> El<'d, 'a> {
    pub(crate) fn raw_parts(&self) -> (&'d Document<'a>, NodeId) {
        (self.doc, self.id)
    }
}

impl El<'_, '_> {
    /// Where this element is in the parsed text, from its start tag to its end tag: the XML-security layer
    /// edits envelopes by replacing ranges, so every byte it does not mean to change stays as it was.
    pub(crate) fn source_range(&self) -> std::ops::Range<usize> {
        self.doc
            .node_range(self.id)
            .expect("parsed elements always have a source range")
    }

    /// The text between the start and end tags; `None` for an empty-element tag (`<a/>`).
    pub(crate) fn content_range(&self) -> Option<std::ops::Range<usize>> {
        let whole = self.source_range();
        let source = &self.doc.input_text()[whole.clone()];
        if source.ends_with("/>") && !source.contains("</") {
            return None;
        }
        let end_tag = whole.start + source.rfind("</")?;
        let start = match self.doc.first_child(self.id) {
            Some(first) => self.doc.node_range(first).map_or(end_tag, |r| r.start),
            None => end_tag,
        };
        Some(start..end_tag)
    }
}

impl El<'_, '_> {
    /// The element's text as `xs:base64Binary`: whitespace (line breaks in long values) is ignored.
    pub fn base64(&self) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::Engine;
        let compact: String = self
            .text()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD.decode(compact)
    }
}
