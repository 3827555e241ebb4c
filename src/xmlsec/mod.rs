//! The organisation-to-organisation layer: the XHE's enveloped signature and its end-to-end payload encryption
//! (SDK §3.5, §3.6). `seal` encrypts to the recipient and signs as the sender; `open` verifies the signature
//! and the signer and only then decrypts.
//!
//! Verification works on the tree the hardened parser produced — the tree every later step reads — and
//! checks the signature's position and shape there before any cryptography: exactly one `ds:Signature`, the
//! last child of `XHE`, one `Reference URI=""`, only the enveloped-signature and C14N transforms, algorithms
//! from an allow-list, one embedded certificate. bergshamra then checks digest and signature on the same
//! tree, and we confirm that what it verified is what we checked (no signature wrapping).

pub mod decrypt;
mod edit;
pub mod encrypt;
pub mod keys;
pub mod seal;
pub mod sign;
pub mod verify;

pub use decrypt::{
    ContentKey, DecryptError, Decrypted, Sealed, decrypt_unsigned, decrypt_verified,
};
pub use encrypt::{EncryptedType, encrypt_payload};
pub use keys::{KeyError, Oaep, PayloadKey, RsaPayloadKey, SigningKey};
pub use seal::{OpenError, Opened, SignerPolicy, TrustCheck, Trusted, open, seal, verify_signer};
pub use sign::{SealError, sign_document, sign_enveloped};
pub use verify::{SignatureError, Verified, verify_document, verify_enveloped};

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

    pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

    pub const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
    pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
    pub const TYPE_CONTENT: &str = "http://www.w3.org/2001/04/xmlenc#Content";
    pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    pub const AES192_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes192-cbc";
    pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
    pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
    pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
    pub const RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
    pub const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";

    /// Content encryption the O2O layer decrypts; it always encrypts with AES-256-CBC (SDK §3.5).
    pub const CONTENT_ENCRYPTION: [&str; 5] =
        [AES128_CBC, AES192_CBC, AES256_CBC, AES128_GCM, AES256_GCM];

    pub const CANONICALIZATION: [&str; 2] = [C14N, EXC_C14N];
    pub const SIGNATURE: [&str; 3] = [RSA_SHA256, RSA_SHA384, RSA_SHA512];
    pub const DIGEST: [&str; 3] = [SHA256, SHA384, SHA512];
}
