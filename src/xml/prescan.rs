//! One linear pass over the markup that enforces the structural limits before any tree is built.
//!
//! The tree builder checks each new attribute against the element's earlier ones (duplicates, namespace
//! bindings), so an element with n attributes costs it n² — 80 000 attributes took 26 s, one million would take
//! about an hour — and it did so before our counts could be looked at. This pass only counts: tags, their
//! nesting, and the attributes and namespace declarations of each start tag, stepping over comments,
//! processing instructions, CDATA sections and quoted values. It judges nothing else; where the markup is
//! not what it expects it stops and leaves the verdict to the parser, which fails at the same place.

use super::{Limits, XmlError};

/// Enforces `limits` on depth, element count, attributes and namespace declarations per element.
pub(super) fn check(text: &str, limits: &Limits) -> Result<(), XmlError> {
    let b = text.as_bytes();
    let (mut at, mut depth, mut elements) = (0usize, 0u32, 0usize);
    while let Some(lt) = memchr::memchr(b'<', &b[at..]) {
        at += lt;
        let rest = &b[at..];
        let skip_to = |end: &[u8], from: usize| {
            memchr::memmem::find(&rest[from..], end).map(|i| at + from + i + end.len())
        };
        let next = if rest.starts_with(b"<!--") {
            skip_to(b"-->", 4)
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(b"]]>", 9)
        } else if rest.starts_with(b"<?") {
            skip_to(b"?>", 2)
        } else if rest.starts_with(b"<!") {
            // A DTD is refused before this pass; anything else here is the parser's to name.
            return Ok(());
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_to(b">", 2)
        } else {
            elements += 1;
            if elements > limits.max_elements {
                return Err(XmlError::TooManyElements {
                    limit: limits.max_elements,
                });
            }
            let Some(tag) = start_tag(rest) else {
                return Ok(());
            };
            if tag.attributes > limits.max_attributes {
                return Err(XmlError::TooManyAttributes {
                    element: tag.name(rest),
                    count: tag.attributes,
                    limit: limits.max_attributes,
                });
            }
            if tag.namespaces > limits.max_namespace_declarations {
                return Err(XmlError::TooManyNamespaceDeclarations {
                    element: tag.name(rest),
                    count: tag.namespaces,
                    limit: limits.max_namespace_declarations,
                });
            }
            if !tag.empty {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
            }
            Some(at + tag.len)
        };
        match next {
            Some(n) => at = n,
            None => return Ok(()),
        }
    }
    Ok(())
}

struct StartTag {
    name_len: usize,
    attributes: usize,
    namespaces: usize,
    /// `<x/>`: opens no level.
    empty: bool,
    /// Bytes from `<` to `>` inclusive.
    len: usize,
}

impl StartTag {
    fn name(&self, tag: &[u8]) -> String {
        let name = String::from_utf8_lossy(&tag[1..1 + self.name_len]);
        format!("<{}>", crate::clip::echo(&name))
    }
}

/// Reads the start tag at the front of `tag` (which begins with `<`); `None` where it is not well-formed.
fn start_tag(tag: &[u8]) -> Option<StartTag> {
    let stop = |c: u8| c.is_ascii_whitespace() || c == b'>' || c == b'/';
    let name_len = tag[1..].iter().position(|&c| stop(c))?;
    let mut i = 1 + name_len;
    let (mut attributes, mut namespaces) = (0, 0);
    loop {
        while tag.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        match tag.get(i)? {
            b'>' => {
                return Some(StartTag {
                    name_len,
                    attributes,
                    namespaces,
                    empty: false,
                    len: i + 1,
                });
            }
            b'/' => {
                return (tag.get(i + 1)? == &b'>').then_some(StartTag {
                    name_len,
                    attributes,
                    namespaces,
                    empty: true,
                    len: i + 2,
                });
            }
            _ => {}
        }
        let name_start = i;
        while !matches!(tag.get(i)?, b'=' | b'>' | b'/') && !tag[i].is_ascii_whitespace() {
            i += 1;
        }
        let name = &tag[name_start..i];
        if name == b"xmlns" || name.starts_with(b"xmlns:") {
            namespaces += 1;
        } else {
            attributes += 1;
        }
        while tag.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        if tag.get(i)? != &b'=' {
            return None;
        }
        i += 1;
        while tag.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        let quote = *tag.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        i += 1 + memchr::memchr(quote, tag.get(i + 1..)?)? + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::xml::{Limits, XmlError};

    fn limits() -> Limits {
        Limits {
            max_depth: 3,
            max_elements: 10,
            max_attributes: 2,
            max_namespace_declarations: 2,
            ..Limits::default()
        }
    }

    #[test]
    fn counts_step_over_comments_cdata_pis_and_quoted_markup() {
        let ok = "<?xml version='1.0'?><!-- <a b='1' c='2' d='3'> --><r xmlns='u' xmlns:p=\"v\" a='>' b=\"<x y='1' z='2' w='3'>\">\
                  <![CDATA[<a><b><c><d>]]><p:s/><?pi <a x='1' y='2' z='3'>?></r>";
        assert_eq!(check(ok, &limits()), Ok(()));
    }

    #[test]
    fn each_limit_is_named() {
        let l = limits();
        assert!(matches!(
            check("<r a='1' b='2' c='3'/>", &l),
            Err(XmlError::TooManyAttributes {
                count: 3,
                limit: 2,
                ..
            })
        ));
        assert!(matches!(
            check("<r xmlns:a='1' xmlns:b='2' xmlns='3'/>", &l),
            Err(XmlError::TooManyNamespaceDeclarations {
                count: 3,
                limit: 2,
                ..
            })
        ));
        assert_eq!(
            check("<a><b><c><d/></c></b></a>", &l),
            Ok(()),
            "an empty element opens no level"
        );
        assert_eq!(
            check("<a><b><c><d></d></c></b></a>", &l),
            Err(XmlError::TooDeep { limit: 3 })
        );
        assert_eq!(
            check(&format!("<r>{}</r>", "<x/>".repeat(10)), &l),
            Err(XmlError::TooManyElements { limit: 10 })
        );
    }

    #[test]
    fn markup_it_does_not_understand_is_left_to_the_parser() {
        for odd in [
            "<r a='1",
            "<r a=1>",
            "<r",
            "<!DOCTYPE r><r/>",
            "<r><!-- never closed",
        ] {
            assert_eq!(check(odd, &limits()), Ok(()), "{odd}");
        }
    }
}
