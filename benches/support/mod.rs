//! What the benchmarks share: SDK envelopes of a chosen size, and the RSA bound.

use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use sdk_relay::envelope::ids::{FEDERATION_SDK, TransportModel};
use sdk_relay::envelope::message::{
    Attention, ContentFile, DigitalDocument, Ii, MessageHeader, Party, timestamp_now,
};
use sdk_relay::envelope::{self, Message, Xhe};

/// How the attachment that fills an envelope is made.
#[derive(Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Filler {
    /// One base64 line repeated: cheap to make, compresses to almost nothing.
    Repeated,
    /// Base64 of pseudo-random bytes, like a real (already compressed) PDF: gzip gains only ~25 %.
    Random,
}

/// An XHE carrying an SDK message of about `target` bytes (a base64 attachment fills it), for `tm`.
// Each bench binary compiles this module and uses only some of it.
#[allow(dead_code)]
pub fn envelope_of_size(target: usize, tm: TransportModel) -> String {
    envelope_with(target, tm, Filler::Repeated)
}

/// Like [`envelope_of_size`], with the attachment made by `filler`.
#[allow(dead_code)]
pub fn envelope_with(target: usize, tm: TransportModel, filler: Filler) -> String {
    let id = envelope::ids::new_uuid();
    let mut message = Message {
        header: MessageHeader {
            creation_date_time: timestamp_now(),
            message_id: id.clone(),
            conversation_id: id,
            ref_to_message_id: None,
            label: Some("Kallelse till möte".into()),
            confidentiality: true,
            generating_system: None,
            recipient: Party {
                id: Ii::participant("0203:region-b.example.se"),
                label: Some("Region B".into()),
                attention: Some(Attention::function("socialtjanst")),
            },
            sender: Party {
                id: Ii::participant("0203:kommun-a.example.se"),
                label: Some("Kommun A".into()),
                attention: Some(Attention::function("registrator")),
            },
        },
        documents: vec![DigitalDocument {
            document_id: "1".into(),
            document_name: Some("Kallelse".into()),
            index: Some("1".into()),
            files: Vec::new(),
            texts: vec!["Hej! Välkommen till mötet.".into()],
        }],
    };
    let base = Xhe::for_message(message.clone(), FEDERATION_SDK, tm)
        .to_xml()
        .expect("valid")
        .len();
    // Base64 of a PDF-like payload fills the rest; 76-character lines as mail-style encoders write them.
    let fill = target.saturating_sub(base + 200);
    let line = "JVBERi0xLjcKJcTl8uXrp/Og0MTGCjQgMCBvYmoKPDwgL0xlbmd0aCA1IDAgUiAvRmlsdGVyIC9G\n";
    let content: String = match filler {
        Filler::Repeated => line.repeat(fill / line.len() + 1)[..fill / 4 * 4].to_owned(),
        Filler::Random => {
            // xorshift: reproducible, and as incompressible as real compressed content.
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
            (0..fill / 4 * 4)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ALPHABET[(state >> 58) as usize] as char
                })
                .collect()
        }
    };
    message.documents[0].files.push(ContentFile {
        file_name: "kallelse.pdf".into(),
        content_type: "application/pdf".into(),
        content: content.replace('\n', "A"),
    });
    Xhe::for_message(message, FEDERATION_SDK, tm)
        .to_xml()
        .expect("valid")
}

/// The RSA private-key operations that bound message throughput: one PKCS#1 v1.5 signature per sealed or
/// packed message, one OAEP decryption per opened or unpacked one (SHA-1 OAEP as the O2O layer uses; the
/// AS4 layer's SHA-256 OAEP costs the same private-key operation).
#[allow(dead_code)]
pub fn rsa_bound(
    c: &mut criterion::Criterion,
    signer: &rcgen::KeyPair,
    decrypter: &rcgen::KeyPair,
) {
    let mut group = c.benchmark_group("rsa-3072");
    let signer = RsaKeyPair::from_pkcs8(&signer.serialize_der()).expect("RSA key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut signature = vec![0u8; signer.public_modulus_len()];
    group.bench_function("sign-sha256", |b| {
        b.iter(|| {
            signer
                .sign(
                    &RSA_PKCS1_SHA256,
                    &rng,
                    std::hint::black_box(b"signed info"),
                    &mut signature,
                )
                .expect("sign")
        })
    });
    let private = PrivateDecryptingKey::from_pkcs8(&decrypter.serialize_der()).expect("RSA key");
    let public = private.public_key();
    let decrypting = OaepPrivateDecryptingKey::new(private).expect("OAEP key");
    let encrypting = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(public).expect("public key");
    let mut wrapped = vec![0u8; encrypting.ciphertext_size()];
    let wrapped = encrypting
        .encrypt(&OAEP_SHA1_MGF1SHA1, &[7u8; 32], &mut wrapped, None)
        .expect("wrap")
        .to_vec();
    let mut plain = vec![0u8; decrypting.min_output_size()];
    group.bench_function("oaep-decrypt", |b| {
        b.iter(|| {
            decrypting
                .decrypt(
                    &OAEP_SHA1_MGF1SHA1,
                    std::hint::black_box(&wrapped),
                    &mut plain,
                    None,
                )
                .expect("unwrap")
                .len()
        })
    });
    group.finish();
}

/// A production-shaped (RSA-3072) test federation in a temporary directory, for the benches that sign.
#[allow(dead_code)]
pub struct BenchFederation {
    _dir: tempfile::TempDir,
    pub fed: sdk_relay::pki::federation::Federation,
}

#[allow(dead_code)]
impl BenchFederation {
    pub fn new() -> BenchFederation {
        use sdk_relay::pki::federation::{CreateOptions, Federation};
        let dir = tempfile::tempdir().expect("temp dir");
        let fed = Federation::create(
            &dir.path().join("fed"),
            &CreateOptions {
                env: "bench".parse().expect("env"),
                key: sdk_relay::pki::KeyAlgorithm::Rsa3072,
                crl_base_url: None,
                ca_days: 3650,
            },
        )
        .expect("federation");
        BenchFederation { _dir: dir, fed }
    }

    /// A key and certificate for `purpose` with common name `cn`.
    pub fn issue(
        &self,
        purpose: sdk_relay::pki::Purpose,
        cn: &str,
    ) -> (rcgen::KeyPair, rustls_pki_types::CertificateDer<'static>) {
        let subject = sdk_relay::pki::profile::Subject {
            common_name: cn.to_owned(),
            ..Default::default()
        };
        let (key, chain) = self
            .fed
            .issue(
                purpose,
                &subject,
                &sdk_relay::pki::federation::IssueOptions::default(),
            )
            .expect("issue");
        (key, chain[0].clone())
    }
}
