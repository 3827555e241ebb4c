//! createMessage bodies (the organisation API's JSON) between lab nodes.

use base64::Engine;
use serde_json::{Value, json};

use super::LabNode;

/// A confidential message with one document of one text, from a functional address of one node to one of
/// another.
pub struct Draft<'a> {
    pub from: &'a LabNode,
    pub from_function: &'a str,
    pub to: &'a LabNode,
    pub to_function: &'a str,
    pub label: &'a str,
    pub document_name: &'a str,
    pub text: &'a str,
}

impl Draft<'_> {
    pub fn json(&self) -> Value {
        json!({"data": {"type": "messages", "attributes": {
            "confidentiality": true,
            "label": self.label,
            "sender": self.from.org,
            "recipient": self.to.org,
            "senderAttention": {"subOrganization": {"extension": self.from_function}},
            "recipientAttention": {"subOrganization": {"extension": self.to_function}},
            "digitalDocument": [{"documentId": "doc-1", "documentName": self.document_name,
                "contentTextBody": [self.text]}]
        }}})
    }
}

/// Makes `bytes` the file of a createMessage body's first document.
pub fn attach(message: &mut Value, name: &str, content_type: &str, bytes: &[u8]) {
    let file = json!({"fileName": name, "contentType": content_type,
        "content": base64::engine::general_purpose::STANDARD.encode(bytes)});
    message["data"]["attributes"]["digitalDocument"][0]["contentFiles"] = json!([file]);
}
