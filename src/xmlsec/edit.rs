//! Editing a parsed envelope by replacing source ranges: signing, encrypting and opening change a few
//! elements, and every other byte of the document stays exactly as the sender wrote it.

use std::ops::Range;

/// A set of non-overlapping replacements in one source text.
pub(crate) struct Edits<'s> {
    source: &'s str,
    edits: Vec<(Range<usize>, String)>,
}

impl<'s> Edits<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Edits {
            source,
            edits: Vec::new(),
        }
    }

    pub(crate) fn replace(&mut self, range: Range<usize>, text: impl Into<String>) {
        self.edits.push((range, text.into()));
    }

    pub(crate) fn insert(&mut self, at: usize, text: impl Into<String>) {
        self.replace(at..at, text);
    }

    pub(crate) fn remove(&mut self, range: Range<usize>) {
        self.replace(range, String::new());
    }

    /// The edited text. Ranges come from the parser's tree of this same source, so an overlap is a bug in
    /// the caller, not bad input.
    pub(crate) fn apply(mut self) -> String {
        self.edits.sort_by_key(|(r, _)| (r.start, r.end));
        let added: usize = self.edits.iter().map(|(_, t)| t.len()).sum();
        let mut out = String::with_capacity(self.source.len() + added);
        let mut at = 0;
        for (range, text) in &self.edits {
            assert!(range.start >= at, "overlapping edits");
            out.push_str(&self.source[at..range.start]);
            out.push_str(text);
            at = range.end;
        }
        out.push_str(&self.source[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Edits;

    #[test]
    fn replacements_apply_in_source_order_whatever_order_they_were_added() {
        let mut e = Edits::new("<a><b>x</b><c/></a>");
        e.remove(11..15);
        e.replace(6..7, "y");
        e.insert(0, "<?xml version=\"1.0\"?>");
        assert_eq!(e.apply(), "<?xml version=\"1.0\"?><a><b>y</b></a>");
    }
}
