use super::{El, Limits};

/// Why a document was refused before any layer above could read it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum XmlError {
    #[error("input is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("element nesting is deeper than the limit of {limit} levels")]
    TooDeep { limit: u32 },
    #[error("document has more than the limit of {limit} elements")]
    TooManyElements { limit: usize },
    #[error("element {element} has {count} attributes, over the limit of {limit}")]
    TooManyAttributes {
        element: String,
        count: usize,
        limit: usize,
    },
    #[error("element {element} has {count} namespace declarations, over the limit of {limit}")]
    TooManyNamespaceDeclarations {
        element: String,
        count: usize,
        limit: usize,
    },
    #[error(
        "document type declarations (DTDs) are not accepted: they allow entity expansion and external entities"
    )]
    DtdForbidden,
    #[error("input is not UTF-8 (byte {offset}); SDK documents must be UTF-8")]
    NotUtf8 { offset: usize },
    #[error("input is empty")]
    Empty,
    #[error("not well-formed XML at line {line}, column {column}: {message}")]
    Malformed {
        line: usize,
        column: usize,
        message: String,
    },
}

/// A parsed, bounded document. The tree that was checked is the tree every caller reads.
pub struct Doc<'a> {
    pub(crate) inner: uppsala::Document<'a>,
}

impl<'a> Doc<'a> {
    /// The underlying tree, for the XML-security layer, which must verify exactly the tree we read.
    pub(crate) fn tree(&self) -> &uppsala::Document<'a> {
        &self.inner
    }

    /// The text the tree was parsed from (without a byte-order mark); element source ranges index into it.
    pub(crate) fn source(&self) -> &'a str {
        self.inner.input_text()
    }

    /// The document element.
    pub fn root(&self) -> El<'_, 'a> {
        let id = self
            .inner
            .document_element()
            .expect("a parsed document always has a document element");
        El::new(&self.inner, id)
    }
}

/// Decode raw bytes (UTF-8, optional BOM) and parse them within `limits`.
pub fn parse_bytes<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Doc<'a>, XmlError> {
    check_size(bytes.len(), limits)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| XmlError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    parse(text, limits)
}

/// Parse text within `limits`. DTDs are refused; there is no way to turn that off.
pub fn parse<'a>(text: &'a str, limits: &Limits) -> Result<Doc<'a>, XmlError> {
    check_size(text.len(), limits)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(XmlError::Empty);
    }
    if prolog_has_doctype(text) {
        return Err(XmlError::DtdForbidden);
    }
    // Linear in the input, before the tree builder, whose attribute checks are quadratic.
    super::prescan::check(text, limits)?;
    let parser = uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .with_max_depth(limits.max_depth);
    let inner = parser
        .parse(text)
        .map_err(|e| classify(e, limits.max_depth))?;
    if inner.document_element().is_none() {
        return Err(XmlError::Malformed {
            line: 0,
            column: 0,
            message: "there is no document element".to_owned(),
        });
    }
    let doc = Doc { inner };
    check_counts(&doc, limits)?;
    Ok(doc)
}

fn check_size(size: usize, limits: &Limits) -> Result<(), XmlError> {
    if size > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// A DTD can only appear before the document element, so looking at the prolog is enough; doing it here
/// gives a clear error instead of whatever the parser says about the construct.
fn prolog_has_doctype(text: &str) -> bool {
    let mut rest = text;
    loop {
        let Some(lt) = rest.find('<') else {
            return false;
        };
        rest = &rest[lt..];
        if rest.starts_with("<!DOCTYPE") {
            return true;
        }
        let end = if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else {
            // The document element starts here: the prolog is over.
            return false;
        };
        match end {
            Some(end) => rest = &rest[end..],
            None => return false,
        }
    }
}

fn classify(err: uppsala::XmlError, max_depth: u32) -> XmlError {
    let (message, line, column) = match &err {
        uppsala::XmlError::WellFormedness(e) => (e.message.clone(), e.line, e.column),
        uppsala::XmlError::Namespace(e) => (e.message.clone(), e.line, e.column),
        uppsala::XmlError::Parse(e) => (e.message.clone(), e.line, e.column),
        uppsala::XmlError::UnexpectedEof => ("unexpected end of input".to_owned(), 0, 0),
        other => (other.to_string(), 0, 0),
    };
    if message.contains("maximum depth") {
        return XmlError::TooDeep { limit: max_depth };
    }
    if message.contains("DOCTYPE") {
        return XmlError::DtdForbidden;
    }
    XmlError::Malformed {
        line,
        column,
        message,
    }
}

fn check_counts(doc: &Doc<'_>, limits: &Limits) -> Result<(), XmlError> {
    let mut elements = 0usize;
    let mut xml_ids = std::collections::HashSet::new();
    let mut stack = vec![doc.root()];
    while let Some(el) = stack.pop() {
        elements += 1;
        if elements > limits.max_elements {
            return Err(XmlError::TooManyElements {
                limit: limits.max_elements,
            });
        }
        if let Some((prefix, _)) = el
            .namespace_declarations()
            .find(|(p, u)| !p.is_empty() && u.is_empty())
        {
            return Err(XmlError::Malformed {
                line: el.line(),
                column: 0,
                message: format!(
                    "namespace prefix '{prefix}' is bound to an empty URI, which XML forbids"
                ),
            });
        }
        // xml:id values are IDs wherever they appear (W3C xml:id); a repeat is an error, as libxml2 says.
        if let Some(id) = el.attributes().iter().find(|a| {
            a.name.namespace_uri.as_deref() == Some(super::names::XML) && a.name.local_name == "id"
        }) && !xml_ids.insert(id.value.trim().to_owned())
        {
            return Err(XmlError::Malformed {
                line: el.line(),
                column: 0,
                message: format!("xml:id '{}' is used more than once", id.value.trim()),
            });
        }
        let count = el.attributes().len();
        if count > limits.max_attributes {
            return Err(XmlError::TooManyAttributes {
                element: el.path(),
                count,
                limit: limits.max_attributes,
            });
        }
        stack.extend(el.children());
    }
    Ok(())
}
