//! Writes the sample documents in `examples/documents/` with the library's builders: an SDK message, its XHE
//! envelope, and a REJECTED receipt in its own envelope. Fictional organisations (`*.example.se`), fixed ids
//! and times, so the output is the same on every run.
//!
//!     cargo run --example write_documents

use sdk_relay::envelope::ids::{FEDERATION_TEST, TransportModel};
use sdk_relay::envelope::message::{
    Attention, ContentFile, DigitalDocument, Ii, MessageHeader, Party, Person, Reference,
    SubOrganization,
};
use sdk_relay::envelope::receipt::{LineResponse, ReasonCode};
use sdk_relay::envelope::{Message, Receipt, Xhe};

fn main() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/documents");
    std::fs::create_dir_all(&dir)?;
    let id = "6f1c2b9e-0b7a-4f3e-9d52-1a2b3c4d5e6f";
    let message = Message {
        header: MessageHeader {
            creation_date_time: "2026-11-22T09:30:00.000Z".into(),
            message_id: id.into(),
            conversation_id: id.into(),
            ref_to_message_id: None,
            label: Some("Kallelse till samordnad individuell plan".into()),
            confidentiality: true,
            generating_system: Some(Ii::new("kodverk-id", "sdk-relay-example")),
            recipient: Party {
                id: Ii::participant("0203:region-b.example.se"),
                label: Some("Region B".into()),
                attention: Some(Attention {
                    persons: Vec::new(),
                    sub_organization: SubOrganization {
                        id: Ii::functional_address("vardcentral-norr"),
                        label: Some("Vårdcentral Norr".into()),
                    },
                    references: vec![Reference {
                        id: Ii::new("dnr", "RB 2026/1234"),
                        label: None,
                    }],
                }),
            },
            sender: Party {
                id: Ii::participant("0203:kommun-a.example.se"),
                label: Some("Kommun A".into()),
                attention: Some(Attention {
                    persons: vec![Person {
                        id: None,
                        label: Some("Handläggare socialtjänsten".into()),
                    }],
                    ..Attention::function("socialtjanst")
                }),
            },
        },
        documents: vec![DigitalDocument {
            document_id: "1".into(),
            document_name: Some("Kallelse".into()),
            index: Some("1".into()),
            files: vec![ContentFile {
                file_name: "kallelse.txt".into(),
                content_type: "text/plain".into(),
                content: "S2FsbGVsc2UgdGlsbCBTSVAtbfZ0ZQ==".into(),
            }],
            texts: vec!["Ni kallas till ett SIP-möte **den 1 december** kl. 10.".into()],
        }],
    };
    std::fs::write(dir.join("message.xml"), message.to_xml()?)?;
    let envelope = Xhe::for_message(message, FEDERATION_TEST, TransportModel::Base);
    std::fs::write(dir.join("xhe-message.xml"), envelope.to_xml()?)?;

    let mut receipt = Receipt::rejected(
        "0203:region-b.example.se",
        "0203:kommun-a.example.se",
        id,
        vec![LineResponse {
            line_id: "/messagePayload/message/messageBody/documents/ContentFiles/contentType"
                .into(),
            code: ReasonCode::Bv,
            status_reason_code: Some("not-supported".into()),
            status_reason: "The file type is not supported by the recipient".into(),
        }],
    );
    receipt.id = "0d9a7c61-5b8e-4c1f-a3e2-7f6d5c4b3a29".into();
    receipt.issue_date = "2026-11-22".into();
    receipt.issue_time = "09:30:05Z".into();
    std::fs::write(dir.join("receipt.xml"), receipt.to_xml()?)?;
    let mut receipt_envelope = Xhe::for_receipt(
        receipt,
        "vardcentral-norr",
        FEDERATION_TEST,
        TransportModel::Base,
    );
    receipt_envelope.id = "3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d".into();
    receipt_envelope.creation_date_time = "2026-11-22T09:30:05.000Z".into();
    std::fs::write(dir.join("xhe-receipt.xml"), receipt_envelope.to_xml()?)?;
    println!("wrote 4 documents to {}", dir.display());
    Ok(())
}
