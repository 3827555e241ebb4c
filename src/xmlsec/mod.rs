//! The organisation-to-organisation layer: the XHE's enveloped signature (and, to come, payload encryption).
//!
//! Verification works on the tree the hardened parser produced — the tree every later step reads — and
//! checks the signature's position and shape there before any cryptography: exactly one `ds:Signature`, the
//! last child of `XHE`, one `Reference URI=""`, only the enveloped-signature and C14N transforms, algorithms
//! from an allow-list, one embedded certificate. bergshamra then checks digest and signature on the same
//! tree, and we confirm that what it verified is what we checked (no signature wrapping).

pub mod verify;

pub use verify::{SignatureError, Verified, verify_enveloped};

/// Algorithm URIs the O2O layer accepts (SDK §3.6 plus the stronger SHA-2 variants).
pub mod algorithms {
    pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
    pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
    pub const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
    pub const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

    pub const CANONICALIZATION: [&str; 2] = [C14N, EXC_C14N];
    pub const SIGNATURE: [&str; 3] = [RSA_SHA256, RSA_SHA384, RSA_SHA512];
    pub const DIGEST: [&str; 3] = [SHA256, SHA384, SHA512];
}
