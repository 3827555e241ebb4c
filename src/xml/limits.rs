/// Bounds applied to every untrusted document before it is read.
///
/// The defaults admit the largest legitimate SDK document (an XHE carrying a 100 MB payload as base64, about
/// 134 MB) and nothing that only an attacker would send: SDK documents nest about twenty levels deep and carry
/// a handful of attributes per element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting (the root element is depth 1).
    pub max_depth: u32,
    /// Most elements accepted in one document.
    pub max_elements: usize,
    /// Most attributes accepted on one element (namespace declarations not counted).
    pub max_attributes: usize,
    /// Most namespace declarations accepted on one element.
    pub max_namespace_declarations: usize,
}

impl Limits {
    /// 160 MiB: a 100 MB payload base64-encoded inside an XHE, with room for the envelope.
    pub const DEFAULT_MAX_BYTES: usize = 160 * 1024 * 1024;
    pub const DEFAULT_MAX_DEPTH: u32 = 64;
    pub const DEFAULT_MAX_ELEMENTS: usize = 1_000_000;
    pub const DEFAULT_MAX_ATTRIBUTES: usize = 64;
    pub const DEFAULT_MAX_NAMESPACE_DECLARATIONS: usize = 64;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
            max_attributes: Self::DEFAULT_MAX_ATTRIBUTES,
            max_namespace_declarations: Self::DEFAULT_MAX_NAMESPACE_DECLARATIONS,
        }
    }
}
