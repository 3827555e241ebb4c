//! OASIS BDX SMP 1.0 documents as SDK uses them (§6.3, §6.4): the ServiceGroup, and the SignedServiceMetadata
//! with the endpoint (transport profile `digg-transport-as4-v1_0` written; v1_0 and v1_2, or what
//! `[smp] transport_profiles` names, read), URL, AP certificate) and DIGG's CertPub extension (the
//! organisation's signing and encryption certificates, one Extension each), signed by the SMP.

use base64::Engine;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::ids::{DOCUMENT_SCHEME, PARTICIPANT_SCHEME, ParticipantId};
use crate::pki::{CertInfo, Checker, Env, Usage, Verdict};
use crate::xml::{Doc, El, Limits, Writer, parse_bytes};
use crate::xmlsec::{SignatureError, SigningKey};

pub const SMP_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05";
pub const SMC_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents";
pub const SMB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents";
pub const TRANSPORT_PROFILE: &str = "digg-transport-as4-v1_0";
/// The transport profile ids an endpoint may carry by default (`[smp] transport_profiles`): v1_0 is the id in
/// DIGG's code list and transport profile; v1_2 is the later version of that profile, which SMPs may publish
/// instead, so a peer that moved to it is still reached.
pub const DEFAULT_TRANSPORT_PROFILES: [&str; 2] =
    ["digg-transport-as4-v1_0", "digg-transport-as4-v1_2"];
pub use crate::envelope::ids::PROCESS_ID_SCHEME as PROCESS_SCHEME;
pub const CERTPUB_EXTENSION: &str = "urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0";
pub const CERTPUB_SIGNING: &str = "urn:fdc:digg.se:edelivery:certpub:signing-cert";
pub const CERTPUB_ENCRYPTION: &str = "urn:fdc:digg.se:edelivery:certpub:encryption-cert";

/// What a lookup of (participant, document type) yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMetadata {
    pub participant: ParticipantId,
    /// The document identifier, without its `busdox-docid-qns::` scheme.
    pub document_id: String,
    pub process_id: String,
    pub endpoint_url: String,
    /// The receiving access point's certificate (to encrypt AS4 to, and whose CN is the AS4 To/PartyId).
    pub ap_certificate: CertificateDer<'static>,
    /// CertPub: the organisation's XHE signing certificate.
    pub signing_certificate: Option<CertificateDer<'static>>,
    /// CertPub: the organisation's XHE encryption certificate.
    pub encryption_certificate: Option<CertificateDer<'static>>,
}

/// Why an SMP answer is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SmpError {
    #[error("the SMP answer is not XML: {0}")]
    Xml(String),
    #[error("the SMP signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the SMP certificate {subject}: {verdict}")]
    Untrusted { subject: String, verdict: Verdict },
    #[error("the SMP answer: {0}")]
    Content(String),
}

/// The ServiceGroup of a participant: one ServiceMetadataReference per document type, `base_url` + path.
pub fn write_service_group(
    base_url: &str,
    participant: &ParticipantId,
    document_ids: &[&str],
) -> String {
    let mut w = Writer::new();
    w.declaration();
    w.start("ServiceGroup", &[("xmlns", SMP_NS)]);
    w.leaf(
        "ParticipantIdentifier",
        &[("scheme", PARTICIPANT_SCHEME)],
        participant.as_str(),
    );
    w.start("ServiceMetadataReferenceCollection", &[]);
    for id in document_ids {
        let href = format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            super::ids::service_metadata_path(participant, id)
        );
        w.leaf("ServiceMetadataReference", &[("href", &href)], "");
    }
    w.end();
    w.end();
    w.finish()
}

/// The `href`s of a ServiceGroup (unsigned in SMP 1.0; each SignedServiceMetadata carries its own signature).
pub fn read_service_group(bytes: &[u8]) -> Result<Vec<String>, SmpError> {
    let doc = parse_bytes(bytes, &Limits::default()).map_err(|e| SmpError::Xml(e.to_string()))?;
    let root = doc.root();
    if !root.is(SMP_NS, "ServiceGroup") {
        return Err(SmpError::Content(format!(
            "the root is {}, not a ServiceGroup",
            root.local()
        )));
    }
    Ok(root
        .child(SMP_NS, "ServiceMetadataReferenceCollection")
        .map(|c| {
            c.children_named(SMP_NS, "ServiceMetadataReference")
                .filter_map(|r| r.attr("href").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Writes the SignedServiceMetadata for `meta` and signs it with the SMP's key.
pub fn write_signed_service_metadata(
    meta: &ServiceMetadata,
    smp_key: &SigningKey,
) -> Result<String, SmpError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut w = Writer::new();
    w.declaration();
    w.start("SignedServiceMetadata", &[("xmlns", SMP_NS)]);
    w.start("ServiceMetadata", &[]);
    w.start("ServiceInformation", &[]);
    w.leaf(
        "ParticipantIdentifier",
        &[("scheme", PARTICIPANT_SCHEME)],
        meta.participant.as_str(),
    );
    w.leaf(
        "DocumentIdentifier",
        &[("scheme", DOCUMENT_SCHEME)],
        &meta.document_id,
    );
    w.start("ProcessList", &[]);
    w.start("Process", &[]);
    w.leaf(
        "ProcessIdentifier",
        &[("scheme", PROCESS_SCHEME)],
        &meta.process_id,
    );
    w.start("ServiceEndpointList", &[]);
    w.start("Endpoint", &[("transportProfile", TRANSPORT_PROFILE)]);
    w.leaf("EndpointURI", &[], &meta.endpoint_url);
    w.leaf("RequireBusinessLevelSignature", &[], "false");
    w.leaf("Certificate", &[], &b64.encode(&meta.ap_certificate));
    w.leaf("ServiceDescription", &[], "SDK access point (sdk-relay)");
    w.leaf("TechnicalContactUrl", &[], &meta.endpoint_url);
    w.end();
    w.end();
    w.end();
    w.end();
    let certpub: Vec<(&str, &CertificateDer<'static>)> = [
        (CERTPUB_SIGNING, meta.signing_certificate.as_ref()),
        (CERTPUB_ENCRYPTION, meta.encryption_certificate.as_ref()),
    ]
    .into_iter()
    .filter_map(|(t, c)| c.map(|c| (t, c)))
    .collect();
    // CertPub REST binding §2.2: Extension is 1..n and each holds exactly one smc:Certificate (1..1).
    for (type_code, cert) in certpub {
        w.start("Extension", &[]);
        w.leaf("ExtensionID", &[], CERTPUB_EXTENSION);
        w.start(
            "smc:Certificate",
            &[("xmlns:smc", SMC_NS), ("xmlns:smb", SMB_NS)],
        );
        w.leaf("smb:TypeCode", &[], type_code);
        w.leaf(
            "smb:ContentBinaryObject",
            &[("mimeCode", "application/base64")],
            &b64.encode(cert),
        );
        w.end();
        w.end();
    }
    w.end();
    w.end();
    w.end();
    let unsigned = w.finish();
    let doc = crate::xml::parse(&unsigned, &Limits::default())
        .map_err(|e| SmpError::Xml(e.to_string()))?;
    crate::xmlsec::sign_document(&doc, smp_key)
        .map_err(|e| SmpError::Content(format!("signing: {e}")))
}

/// How an SMP answer is trusted: its signer checked for the SMP role in `env` at `at` (revocation included).
pub struct SmpTrust<'c> {
    pub checker: &'c Checker<'c>,
    pub env: &'c Env,
    pub at: OffsetDateTime,
}

/// Verifies a SignedServiceMetadata (signature first, then the SMP certificate) and reads it.
pub fn read_signed_service_metadata(
    bytes: &[u8],
    trust: &SmpTrust<'_>,
) -> Result<ServiceMetadata, SmpError> {
    read_signed_service_metadata_for(bytes, trust, &DEFAULT_TRANSPORT_PROFILES)
}

/// As [`read_signed_service_metadata`], taking the first endpoint whose transport profile is in `profiles`
/// (in the order of `profiles`, so configuration decides which one wins when an SMP publishes several).
pub fn read_signed_service_metadata_for<S: AsRef<str>>(
    bytes: &[u8],
    trust: &SmpTrust<'_>,
    profiles: &[S],
) -> Result<ServiceMetadata, SmpError> {
    let doc = parse_bytes(bytes, &Limits::default()).map_err(|e| SmpError::Xml(e.to_string()))?;
    let root = doc.root();
    if !root.is(SMP_NS, "SignedServiceMetadata") {
        return Err(SmpError::Content(format!(
            "the root is {}, not a SignedServiceMetadata",
            root.local()
        )));
    }
    let verified = crate::xmlsec::verify_document(&doc)?;
    let verdict = trust.checker.check(
        std::slice::from_ref(&verified.signer),
        Usage::Smp,
        trust.env,
        trust.at,
    );
    if !verdict.is_ok() {
        let subject =
            CertInfo::parse(&verified.signer).map_or_else(|e| e.to_string(), |i| i.subject);
        return Err(SmpError::Untrusted { subject, verdict });
    }
    read_metadata(&doc, profiles)
}

fn content(detail: impl Into<String>) -> SmpError {
    SmpError::Content(detail.into())
}

fn one<'d, 'a>(parent: El<'d, 'a>, local: &str) -> Result<El<'d, 'a>, SmpError> {
    parent
        .child(SMP_NS, local)
        .ok_or_else(|| content(format!("{} has no {local}", parent.path())))
}

fn certificate(el: El<'_, '_>, what: &str) -> Result<CertificateDer<'static>, SmpError> {
    let der = el
        .base64()
        .map_err(|e| content(format!("{what} is not base64: {e}")))?;
    CertInfo::parse(&der).map_err(|e| content(format!("{what}: {e}")))?;
    Ok(CertificateDer::from(der))
}

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// A CertPub `ContentBinaryObject`: the binding says "the certificate in PEM format (base64 encoded)" with
/// mimeCode application/base64, which publishers read either as base64 DER or as a whole PEM block, so both
/// are taken.
pub fn certpub_certificate(text: &str, what: &str) -> Result<CertificateDer<'static>, SmpError> {
    let trimmed = text.trim();
    let body = if let Some(rest) = trimmed.strip_prefix(PEM_BEGIN) {
        rest.trim_end()
            .strip_suffix(PEM_END)
            .ok_or_else(|| content(format!("{what}: PEM without its {PEM_END} line")))?
    } else if trimmed.contains("-----") {
        return Err(content(format!(
            "{what}: neither base64 DER nor a PEM CERTIFICATE block"
        )));
    } else {
        trimmed
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| content(format!("{what} is neither base64 DER nor PEM: {e}")))?;
    CertInfo::parse(&der).map_err(|e| content(format!("{what}: {e}")))?;
    Ok(CertificateDer::from(der))
}

/// Reads a SignedServiceMetadata's content **without** checking its signature: only for fuzzing the reader
/// behind the signature check, which garbage never gets past. Routing uses [`read_signed_service_metadata`].
#[doc(hidden)]
pub fn read_unverified_service_metadata(bytes: &[u8]) -> Result<ServiceMetadata, SmpError> {
    let doc = parse_bytes(bytes, &Limits::default()).map_err(|e| SmpError::Xml(e.to_string()))?;
    read_metadata(&doc, &DEFAULT_TRANSPORT_PROFILES)
}

/// Reads the verified document. Unknown extensions are ignored; the endpoint must use SDK's transport profile.
fn read_metadata<S: AsRef<str>>(
    doc: &Doc<'_>,
    profiles: &[S],
) -> Result<ServiceMetadata, SmpError> {
    let info = one(one(doc.root(), "ServiceMetadata")?, "ServiceInformation")?;
    let participant =
        ParticipantId::parse(&one(info, "ParticipantIdentifier")?.text()).map_err(content)?;
    let document_id = one(info, "DocumentIdentifier")?.text().trim().to_owned();
    let process = one(one(info, "ProcessList")?, "Process")?;
    let process_id = one(process, "ProcessIdentifier")?.text().trim().to_owned();
    let endpoints: Vec<_> = one(process, "ServiceEndpointList")?
        .children_named(SMP_NS, "Endpoint")
        .collect();
    let endpoint = profiles
        .iter()
        .find_map(|p| {
            endpoints
                .iter()
                .find(|e| e.attr("transportProfile") == Some(p.as_ref()))
        })
        .copied()
        .ok_or_else(|| {
            let offered: Vec<&str> = endpoints
                .iter()
                .map(|e| e.attr("transportProfile").unwrap_or("(none)"))
                .collect();
            let accepted: Vec<&str> = profiles.iter().map(AsRef::as_ref).collect();
            content(format!(
                "no endpoint with an accepted transport profile (offered: {}; accepted: {})",
                offered.join(", "),
                accepted.join(", ")
            ))
        })?;
    let endpoint_url = one(endpoint, "EndpointURI")?.text().trim().to_owned();
    let ap_certificate = certificate(one(endpoint, "Certificate")?, "the endpoint certificate")?;
    let mut signing_certificate = None;
    let mut encryption_certificate = None;
    // One Extension per certificate is what the binding describes and what `smp serve` writes; SMPs that put
    // both certificates in one Extension (as sdk-relay did before) are still read, since peers run either.
    for extension in info.children_named(SMP_NS, "Extension") {
        let is_certpub = extension
            .child(SMP_NS, "ExtensionID")
            .is_some_and(|id| id.text().trim() == CERTPUB_EXTENSION);
        if !is_certpub {
            continue;
        }
        for cert in extension.children_named(SMC_NS, "Certificate") {
            let type_code = cert
                .child(SMB_NS, "TypeCode")
                .map(|t| t.text().trim().to_owned());
            let Some(body) = cert.child(SMB_NS, "ContentBinaryObject") else {
                continue;
            };
            match type_code.as_deref() {
                Some(CERTPUB_SIGNING) => {
                    signing_certificate = Some(certpub_certificate(
                        &body.text(),
                        "the CertPub signing certificate",
                    )?)
                }
                Some(CERTPUB_ENCRYPTION) => {
                    encryption_certificate = Some(certpub_certificate(
                        &body.text(),
                        "the CertPub encryption certificate",
                    )?)
                }
                _ => {}
            }
        }
    }
    Ok(ServiceMetadata {
        participant,
        document_id,
        process_id,
        endpoint_url,
        ap_certificate,
        signing_certificate,
        encryption_certificate,
    })
}
