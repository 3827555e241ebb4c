//! The ebMS 3.0 / AS4 error codes (ebMS 3.0 §6.7, AS4 §3.4): every failure on the receiving side maps to
//! exactly one of them, which is what the sender sees in the Error signal.

use std::fmt;

/// An ebMS error: the code, its short description and category from the specification, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {short}: {detail}{explained}", code = self.code.as_str(), short = self.code.short_description(),
    explained = if self.explanation.is_empty() { String::new() } else { format!(" ({})", self.explanation) })]
pub struct EbmsError {
    pub code: ErrorCode,
    /// Why, in words an operator can act on: the signal's `eb:ErrorDetail`, unless a profile fixes that value.
    pub detail: String,
    /// Words for a person where a profile fixes `detail` to a token (SDK §2.5 `NOT_SERVICED`): the signal's
    /// `eb:Description`. Empty for most errors.
    pub explanation: String,
}

/// Bytes of an error's detail. The detail goes back to the peer in the Error signal and into the audit log,
/// often before the message's signature is checked; what it quotes of the message must not make either large.
pub const MAX_DETAIL: usize = 1024;

impl EbmsError {
    /// The detail is cut to [`MAX_DETAIL`] here, so no path to the Error signal or the audit log can skip it.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        EbmsError {
            code,
            detail: crate::clip::clip_owned(detail.into(), MAX_DETAIL),
            explanation: String::new(),
        }
    }

    /// SDK §2.5 [c]: the AP does not serve the addressed participant (for this message type): EBMS:0004 whose
    /// error detail is exactly `NOT_SERVICED`, which a peer may match on; the participant goes in the
    /// explanation.
    pub fn not_serviced(participant: &str) -> Self {
        EbmsError {
            explanation: crate::clip::clip_owned(
                format!("this access point does not serve {participant} for this message type"),
                MAX_DETAIL,
            ),
            ..EbmsError::new(ErrorCode::Other, NOT_SERVICED)
        }
    }
}

/// The ErrorDetail of SDK transport profile §2.5 [c].
pub const NOT_SERVICED: &str = "NOT_SERVICED";

/// The SOAP 1.2 fault code an error is sent under: `Sender` when the message was at fault, `Receiver` when
/// this node could not take it for now (the sender should try again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    Sender,
    Receiver,
}

impl FaultCode {
    pub fn qname(self) -> &'static str {
        match self {
            FaultCode::Sender => "S12:Sender",
            FaultCode::Receiver => "S12:Receiver",
        }
    }
}

/// The codes this node sends and understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// EBMS:0001 the message could not be processed as ebMS (unsupported value).
    ValueNotRecognized,
    /// EBMS:0002 a feature the message uses is not supported.
    FeatureNotSupported,
    /// EBMS:0003 a header value is not consistent with the rest (e.g. a property is malformed).
    ValueInconsistent,
    /// EBMS:0004 other; with detail `NOT_SERVICED` when this node does not serve the recipient (SDK §2.5).
    Other,
    /// EBMS:0005 connection failure.
    ConnectionFailure,
    /// EBMS:0006 empty message partition channel.
    EmptyMpc,
    /// EBMS:0007 the MIME structure is broken.
    MimeInconsistency,
    /// EBMS:0008 a feature of the packaging (e.g. a transfer encoding) is not supported.
    FeatureNotSupportedUnpackaging,
    /// EBMS:0009 the header is not valid (missing or malformed elements).
    InvalidHeader,
    /// EBMS:0010 the message does not match the processing mode (service, action, parties, roles).
    ProcessingModeMismatch,
    /// EBMS:0011 an external payload reference (not a `cid:` part) was used.
    ExternalPayloadError,
    /// EBMS:0101 the signature or the signer is not acceptable.
    FailedAuthentication,
    /// EBMS:0102 an encrypted part does not decrypt.
    FailedDecryption,
    /// EBMS:0103 the security header does not follow the profile (algorithms, references, missing parts).
    PolicyNoncompliance,
    /// EBMS:0301 a receipt was expected and did not come.
    MissingReceipt,
    /// EBMS:0302 a receipt is not valid.
    InvalidReceipt,
    /// EBMS:0303 a payload does not decompress (or inflates beyond the limits).
    DecompressionFailure,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::ValueNotRecognized,
        ErrorCode::FeatureNotSupported,
        ErrorCode::ValueInconsistent,
        ErrorCode::Other,
        ErrorCode::ConnectionFailure,
        ErrorCode::EmptyMpc,
        ErrorCode::MimeInconsistency,
        ErrorCode::FeatureNotSupportedUnpackaging,
        ErrorCode::InvalidHeader,
        ErrorCode::ProcessingModeMismatch,
        ErrorCode::ExternalPayloadError,
        ErrorCode::FailedAuthentication,
        ErrorCode::FailedDecryption,
        ErrorCode::PolicyNoncompliance,
        ErrorCode::MissingReceipt,
        ErrorCode::InvalidReceipt,
        ErrorCode::DecompressionFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValueNotRecognized => "EBMS:0001",
            ErrorCode::FeatureNotSupported => "EBMS:0002",
            ErrorCode::ValueInconsistent => "EBMS:0003",
            ErrorCode::Other => "EBMS:0004",
            ErrorCode::ConnectionFailure => "EBMS:0005",
            ErrorCode::EmptyMpc => "EBMS:0006",
            ErrorCode::MimeInconsistency => "EBMS:0007",
            ErrorCode::FeatureNotSupportedUnpackaging => "EBMS:0008",
            ErrorCode::InvalidHeader => "EBMS:0009",
            ErrorCode::ProcessingModeMismatch => "EBMS:0010",
            ErrorCode::ExternalPayloadError => "EBMS:0011",
            ErrorCode::FailedAuthentication => "EBMS:0101",
            ErrorCode::FailedDecryption => "EBMS:0102",
            ErrorCode::PolicyNoncompliance => "EBMS:0103",
            ErrorCode::MissingReceipt => "EBMS:0301",
            ErrorCode::InvalidReceipt => "EBMS:0302",
            ErrorCode::DecompressionFailure => "EBMS:0303",
        }
    }

    /// The specification's short description (the `shortDescription` attribute).
    pub fn short_description(self) -> &'static str {
        match self {
            ErrorCode::ValueNotRecognized => "ValueNotRecognized",
            ErrorCode::FeatureNotSupported => "FeatureNotSupported",
            ErrorCode::ValueInconsistent => "ValueInconsistent",
            ErrorCode::Other => "Other",
            ErrorCode::ConnectionFailure => "ConnectionFailure",
            ErrorCode::EmptyMpc => "EmptyMessagePartitionChannel",
            ErrorCode::MimeInconsistency => "MimeInconsistency",
            ErrorCode::FeatureNotSupportedUnpackaging => "FeatureNotSupported",
            ErrorCode::InvalidHeader => "InvalidHeader",
            ErrorCode::ProcessingModeMismatch => "ProcessingModeMismatch",
            ErrorCode::ExternalPayloadError => "ExternalPayloadError",
            ErrorCode::FailedAuthentication => "FailedAuthentication",
            ErrorCode::FailedDecryption => "FailedDecryption",
            ErrorCode::PolicyNoncompliance => "PolicyNoncompliance",
            ErrorCode::MissingReceipt => "MissingReceipt",
            ErrorCode::InvalidReceipt => "InvalidReceipt",
            ErrorCode::DecompressionFailure => "DecompressionFailure",
        }
    }

    /// The category (`Content`, `Communication`, `Unpackaging`, `Processing`).
    pub fn category(self) -> &'static str {
        match self {
            ErrorCode::ValueNotRecognized
            | ErrorCode::FeatureNotSupported
            | ErrorCode::ValueInconsistent
            | ErrorCode::Other
            | ErrorCode::ExternalPayloadError => "Content",
            ErrorCode::ConnectionFailure
            | ErrorCode::EmptyMpc
            | ErrorCode::MissingReceipt
            | ErrorCode::InvalidReceipt
            | ErrorCode::DecompressionFailure => "Communication",
            ErrorCode::MimeInconsistency
            | ErrorCode::FeatureNotSupportedUnpackaging
            | ErrorCode::InvalidHeader => "Unpackaging",
            ErrorCode::ProcessingModeMismatch
            | ErrorCode::FailedAuthentication
            | ErrorCode::FailedDecryption
            | ErrorCode::PolicyNoncompliance => "Processing",
        }
    }

    /// Every code is a failure except an empty pull channel, which is a warning (ebMS 3.0 §6.7.1).
    pub fn severity(self) -> &'static str {
        match self {
            ErrorCode::EmptyMpc => "warning",
            _ => "failure",
        }
    }

    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn not_serviced_is_ebms_0004_with_the_sdk_detail() {
        let e = super::EbmsError::not_serviced("0203:region-b.example.se");
        assert_eq!(e.code.as_str(), "EBMS:0004");
        assert_eq!(e.detail, "NOT_SERVICED");
        assert!(e.to_string().contains("region-b.example.se"), "{e}");
        let signal = crate::as4::ebms::write_error(Some("m1"), &[e]);
        assert!(signal.contains("errorCode=\"EBMS:0004\""));
        assert!(
            signal.contains("<eb:ErrorDetail>NOT_SERVICED</eb:ErrorDetail>"),
            "{signal}"
        );
        assert!(
            signal.contains("does not serve 0203:region-b.example.se"),
            "{signal}"
        );
    }

    #[test]
    fn a_long_detail_is_cut_so_signal_and_audit_stay_small() {
        let e = super::EbmsError::new(ErrorCode::InvalidHeader, "x".repeat(8 << 20));
        assert!(
            e.detail.len() <= super::MAX_DETAIL + 3,
            "{}",
            e.detail.len()
        );
        assert!(e.detail.ends_with('…'));
        assert!(e.to_string().len() < 2 * super::MAX_DETAIL);
        let short = super::EbmsError::new(ErrorCode::InvalidHeader, "eb:To is empty");
        assert_eq!(short.detail, "eb:To is empty");
    }

    #[test]
    fn every_code_parses_back_and_codes_are_unique() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        let mut codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }
}
