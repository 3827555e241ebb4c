//! What the benchmarks share: SDK envelopes of a chosen size.

use sdk_relay::envelope::ids::{FEDERATION_SDK, TransportModel};
use sdk_relay::envelope::message::{
    Attention, ContentFile, DigitalDocument, Ii, MessageHeader, Party, timestamp_now,
};
use sdk_relay::envelope::{self, Message, Xhe};

/// An XHE carrying an SDK message of about `target` bytes (a base64 attachment fills it), for `tm`.
pub fn envelope_of_size(target: usize, tm: TransportModel) -> String {
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
    let content: String = line.repeat(fill / line.len() + 1)[..fill / 4 * 4].to_owned();
    message.documents[0].files.push(ContentFile {
        file_name: "kallelse.pdf".into(),
        content_type: "application/pdf".into(),
        content: content.replace('\n', "A"),
    });
    Xhe::for_message(message, FEDERATION_SDK, tm)
        .to_xml()
        .expect("valid")
}
