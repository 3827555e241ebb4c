//! A small owned XML tree, read from our parser and written back, for making mutants of DIGG's examples.

use sdk_relay::xml::{Child, El};

#[derive(Clone, Debug)]
pub struct Node {
    pub prefix: String,
    pub local: String,
    /// Namespace declarations made on this element: (prefix, uri).
    pub decls: Vec<(String, String)>,
    /// (qualified name, value)
    pub attrs: Vec<(String, String)>,
    pub content: Vec<Item>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Text(String),
    El(Node),
}

impl Node {
    pub fn from_el(e: El<'_, '_>) -> Self {
        Node {
            prefix: e.prefix().to_owned(),
            local: e.local().to_owned(),
            decls: e
                .namespace_declarations()
                .map(|(p, u)| (p.to_owned(), u.to_owned()))
                .collect(),
            attrs: e
                .attributes()
                .iter()
                .map(|a| {
                    let name = match a.name.prefix.as_deref() {
                        Some(p) if !p.is_empty() => format!("{p}:{}", a.name.local_name),
                        _ => a.name.local_name.to_string(),
                    };
                    (name, a.value.to_string())
                })
                .collect(),
            content: e
                .content()
                .into_iter()
                .map(|c| match c {
                    Child::Text(t) => Item::Text(t.to_owned()),
                    Child::Element(c) => Item::El(Node::from_el(c)),
                })
                .collect(),
        }
    }

    pub fn parse(xml: &[u8]) -> Node {
        let doc = sdk_relay::xml::parse_bytes(xml, &sdk_relay::xml::Limits::default())
            .expect("DIGG example parses");
        Node::from_el(doc.root())
    }

    pub fn to_xml(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write(&mut s);
        s.push('\n');
        s
    }

    fn qname(&self) -> String {
        if self.prefix.is_empty() {
            self.local.clone()
        } else {
            format!("{}:{}", self.prefix, self.local)
        }
    }

    fn write(&self, s: &mut String) {
        s.push('<');
        s.push_str(&self.qname());
        for (p, u) in &self.decls {
            if p.is_empty() {
                s.push_str(&format!(" xmlns=\"{}\"", esc(u)));
            } else {
                s.push_str(&format!(" xmlns:{p}=\"{}\"", esc(u)));
            }
        }
        for (k, v) in &self.attrs {
            s.push_str(&format!(" {k}=\"{}\"", esc(v)));
        }
        s.push('>');
        for c in &self.content {
            match c {
                Item::Text(t) => s.push_str(&esc(t)),
                Item::El(n) => n.write(s),
            }
        }
        s.push_str("</");
        s.push_str(&self.qname());
        s.push('>');
    }

    pub fn elements(&self) -> impl Iterator<Item = &Node> {
        self.content.iter().filter_map(|c| match c {
            Item::El(n) => Some(n),
            Item::Text(_) => None,
        })
    }

    pub fn has_element_children(&self) -> bool {
        self.elements().next().is_some()
    }

    /// Paths (child indexes into `content`) of every element below the root, in document order.
    pub fn element_paths(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        fn walk(n: &Node, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            for (i, c) in n.content.iter().enumerate() {
                if let Item::El(child) = c {
                    path.push(i);
                    out.push(path.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
        }
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    pub fn at(&self, path: &[usize]) -> &Node {
        let mut n = self;
        for i in path {
            n = match &n.content[*i] {
                Item::El(c) => c,
                Item::Text(_) => panic!("path leads to text"),
            };
        }
        n
    }

    pub fn at_mut(&mut self, path: &[usize]) -> &mut Node {
        let mut n = self;
        for i in path {
            n = match &mut n.content[*i] {
                Item::El(c) => c,
                Item::Text(_) => panic!("path leads to text"),
            };
        }
        n
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
}
