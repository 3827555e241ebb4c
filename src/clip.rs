//! Bounds on what the node repeats back of untrusted input. An error that names the offending field or value
//! helps whoever sent it, but repeating input whole turns a small request into a large answer and a large
//! audit record (one 8 MB attribute became an 8 MB ebMS error and an 8 MB audit line; 100 000 unknown JSON
//! members a 156 MB problem document). Both the organisation API and the AS4 endpoint cut their echoes here.

use std::borrow::Cow;

/// Bytes of one echoed value (a field name, a header value): enough to recognise it, far less than a request.
pub const ECHO_BYTES: usize = 200;

/// How many problems of one request are listed one by one; the rest are only counted.
pub const MAX_LISTED: usize = 20;

/// `s` cut to at most `max` bytes on a character boundary, `…` marking the cut. Untouched when it fits.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let cut = s.floor_char_boundary(max);
    let mut out = String::with_capacity(cut + '…'.len_utf8());
    out.push_str(&s[..cut]);
    out.push('…');
    Cow::Owned(out)
}

/// `s` cut to [`ECHO_BYTES`]: for one value quoted inside a message.
pub fn echo(s: &str) -> Cow<'_, str> {
    clip(s, ECHO_BYTES)
}

/// An optional value as a peer reads it in an error detail: quoted and clipped, or `(absent)`; never Rust's
/// `Some("…")`/`None`, which mean nothing to a Domibus operator.
pub fn shown(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("\"{}\"", echo(v)),
        None => "(absent)".to_owned(),
    }
}

/// An owned `s` cut to at most `max` bytes (no copy when it fits).
pub fn clip_owned(s: String, max: usize) -> String {
    match clip(&s, max) {
        Cow::Borrowed(_) => s,
        Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert!(matches!(clip("abc", 3), Cow::Borrowed("abc")));
        assert_eq!(clip_owned("abc".to_owned(), 10), "abc");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(clip("abcdef", 4), "abcd…");
        // 'å' is two bytes: a cut inside it moves back to before it.
        assert_eq!(clip("aåb", 2), "a…");
        let long = "ö".repeat(1000);
        let cut = echo(&long);
        assert!(cut.len() <= ECHO_BYTES + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(clip_owned(long, 5), "öö…");
    }
}
