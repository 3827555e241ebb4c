//! The organisation API's JSON (DIGG's MT-MK recommendation, `sdk-api-restful.yml`) to and from the typed SDK
//! message.
//!
//! Requests are read from a `serde_json::Value` by hand rather than through derived types: a derive stops at the
//! first problem and names it by line and column, while a client fixing a request wants every problem at once,
//! each named by the JSON pointer (RFC 6901) of the field it is about. Whatever reaches the SDK message must also
//! pass the message's own validation (`Message::to_xml`), so the reader enforces what that validation would
//! reject (blank values, over-long labels, characters XML cannot carry, a foreign functional-address root).

use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use crate::clip::{ECHO_BYTES, MAX_LISTED, clip, clip_owned, echo};
use crate::directory::ParticipantId;
use crate::envelope::Message;
use crate::envelope::ids;
use crate::envelope::message::{
    Attention, ContentFile, DigitalDocument, Ii, MessageHeader, Party, Person, Reference,
    SubOrganization, timestamp_now,
};
use crate::store::{Direction, Status, StatusEvent, StoredMessage};

/// A field that is wrong in a request, named by its JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

/// The problems of a refused request: the first [`MAX_LISTED`] in full, and how many more there were. Only
/// counting the rest keeps a request of 100 000 unknown members from costing 100 000 listed problems in
/// memory, in the answer and in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldErrors {
    pub listed: Vec<FieldError>,
    pub unlisted: usize,
}

impl FieldErrors {
    fn one(pointer: &str, detail: String) -> FieldErrors {
        FieldErrors {
            listed: vec![FieldError {
                pointer: pointer.to_owned(),
                detail,
            }],
            unlisted: 0,
        }
    }

    /// How many problems were found, listed or not.
    pub fn total(&self) -> usize {
        self.listed.len() + self.unlisted
    }
}

/// Bytes of one problem's detail (it may quote a value, already cut to [`ECHO_BYTES`]).
const MAX_PROBLEM_DETAIL: usize = 2 * ECHO_BYTES;

/// The SDK message's subject and every other `label` are limited to 256 characters by the message schema.
const MAX_LABEL: usize = 256;
/// `extension` values the API limits (functional address, person and reference ids).
const MAX_EXTENSION: usize = 256;
/// The only ICD of SDK organisation ids.
const SDK_ICD: &str = "0203";

/// Attributes a create request may carry.
const ATTRIBUTES: &[&str] = &[
    "messageId",
    "conversationId",
    "refToMessageId",
    "confidentiality",
    "generatingSystem",
    "recipientAttention",
    "senderAttention",
    "sender",
    "recipient",
    "label",
    "digitalDocument",
];
/// Attributes the node sets itself; a client echoing a message it read back may still carry them.
const SERVER_SET: &[&str] = &["messageStatus", "creationDateTime", "events"];

/// Reads a createMessage body into a new SDK message (new messageId unless a valid UUID messageId is given;
/// conversationId defaults to the messageId; creationDateTime = [`timestamp_now`]). Every problem found is
/// reported (not just the first; the first [`MAX_LISTED`] by name, the rest counted), each naming its field by
/// JSON pointer, e.g. `/data/attributes/label`.
pub fn read_create(body: &[u8]) -> Result<Message, FieldErrors> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldErrors::one("", format!("the body is not JSON: {e}")))?;
    let mut p = Problems::default();
    let message = read_body(&value, &mut p);
    match message {
        Some(m) if p.is_empty() => Ok(m),
        _ if p.is_empty() => Err(FieldErrors::one(
            "",
            "the request could not be read".to_owned(),
        )),
        _ => Err(p.0),
    }
}

/// The problems found so far; readers add to it and return `None` for a value they could not take.
#[derive(Default)]
struct Problems(FieldErrors);

impl Problems {
    /// Pointer and detail are cut here, as a member name or value may be megabytes long.
    fn add(&mut self, pointer: &str, detail: impl Into<String>) {
        if self.0.listed.len() >= MAX_LISTED {
            self.0.unlisted += 1;
            return;
        }
        self.0.listed.push(FieldError {
            pointer: echo(pointer).into_owned(),
            detail: clip_owned(detail.into(), MAX_PROBLEM_DETAIL),
        });
    }

    fn count(&self) -> usize {
        self.0.total()
    }

    fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

/// A JSON object being read, with the pointer that names it.
struct Fields<'v> {
    ptr: String,
    map: &'v Map<String, Value>,
}

impl<'v> Fields<'v> {
    fn of(v: &'v Value, ptr: &str, p: &mut Problems) -> Option<Self> {
        match v {
            Value::Object(map) => Some(Self {
                ptr: ptr.to_owned(),
                map,
            }),
            other => {
                p.add(ptr, wrong_type("an object", other));
                None
            }
        }
    }

    /// The pointer of member `key` (RFC 6901 escapes `~` and `/` in member names).
    fn at(&self, key: &str) -> String {
        format!("{}/{}", self.ptr, key.replace('~', "~0").replace('/', "~1"))
    }

    /// A required member, read by `read`; absence is a problem, `null` is read (and so rejected by type).
    fn need<T>(&self, key: &str, p: &mut Problems, read: impl Reader<T>) -> Option<T> {
        let ptr = self.at(key);
        match self.map.get(key) {
            Some(v) => read(v, &ptr, p),
            None => {
                p.add(&ptr, "is required");
                None
            }
        }
    }

    /// An optional member, read by `read`; `null` counts as absent, as clients commonly send it that way.
    fn opt<T>(&self, key: &str, p: &mut Problems, read: impl Reader<T>) -> Option<T> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => read(v, &self.at(key), p),
        }
    }

    /// A required member that must itself be an object.
    fn object(&self, key: &str, p: &mut Problems) -> Option<Fields<'v>> {
        let ptr = self.at(key);
        match self.map.get(key) {
            Some(v) => Fields::of(v, &ptr, p),
            None => {
                p.add(&ptr, "is required");
                None
            }
        }
    }

    fn is_given(&self, key: &str) -> bool {
        !matches!(self.map.get(key), None | Some(Value::Null))
    }

    /// Members outside `allowed` and `ignored` are reported, so a misspelt optional field is not silently lost.
    fn only(&self, allowed: &[&str], ignored: &[&str], p: &mut Problems) {
        let detail = format!("unknown field; expected one of: {}", allowed.join(", "));
        for key in self.map.keys() {
            let key = key.as_str();
            if !allowed.contains(&key) && !ignored.contains(&key) {
                // Only the start of a long name is needed to point at it; escaping all of it would cost as much.
                p.add(&self.at(&clip(key, ECHO_BYTES)), detail.as_str());
            }
        }
    }
}

/// Reads one JSON value found at a pointer.
trait Reader<T>: FnOnce(&Value, &str, &mut Problems) -> Option<T> {}
impl<T, F: FnOnce(&Value, &str, &mut Problems) -> Option<T>> Reader<T> for F {}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(expected: &str, found: &Value) -> String {
    format!("must be {expected}, found {}", kind(found))
}

fn boolean(v: &Value, ptr: &str, p: &mut Problems) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        other => {
            p.add(ptr, wrong_type("a boolean", other));
            None
        }
    }
}

/// Characters XML 1.0 cannot carry at all (not even escaped); such text could never become an SDK message.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// A string that can become an element's text: the SDK message forbids empty elements, and XML some characters.
fn text(v: &Value, ptr: &str, p: &mut Problems) -> Option<String> {
    let Value::String(s) = v else {
        p.add(ptr, wrong_type("a string", v));
        return None;
    };
    if let Some(c) = s.chars().find(|c| !is_xml_char(*c)) {
        p.add(
            ptr,
            format!("contains U+{:04X}, which XML cannot carry", u32::from(c)),
        );
        return None;
    }
    if s.trim().is_empty() {
        p.add(ptr, "must not be empty or blank");
        return None;
    }
    Some(s.clone())
}

/// [`text`] of at most `max` characters (characters, not bytes, as XML Schema counts length).
fn text_max(max: usize) -> impl Fn(&Value, &str, &mut Problems) -> Option<String> {
    move |v, ptr, p| {
        let s = text(v, ptr, p)?;
        let len = s.chars().count();
        if len > max {
            p.add(
                ptr,
                format!("is {len} characters long; at most {max} are allowed"),
            );
            return None;
        }
        Some(s)
    }
}

fn uuid(v: &Value, ptr: &str, p: &mut Problems) -> Option<String> {
    let s = text(v, ptr, p)?;
    if !ids::is_uuid(&s) {
        p.add(
            ptr,
            "must be a UUID (8-4-4-4-12 hexadecimal digits, e.g. ff325210-0690-42fe-b86f-95ecab821223)",
        );
        return None;
    }
    Some(s)
}

/// An SDK organisation id, `0203:<id>` (also as `iso6523-actorid-upis::0203:<id>`), lower-cased as the
/// directory compares them.
fn participant(v: &Value, ptr: &str, p: &mut Problems) -> Option<Ii> {
    let s = text(v, ptr, p)?;
    let id = match ParticipantId::parse(&s) {
        Ok(id) => id,
        // The parser quotes the whole value; a long one is named by its start, before the explanation.
        Err(_) if s.len() > ECHO_BYTES => {
            p.add(
                ptr,
                format!(
                    "participant id {:?} ({} bytes) must look like 0203:example.se",
                    echo(&s),
                    s.len()
                ),
            );
            return None;
        }
        Err(e) => {
            p.add(ptr, e);
            return None;
        }
    };
    if id.as_str().split_once(':').map(|(icd, _)| icd) != Some(SDK_ICD) {
        p.add(
            ptr,
            format!(
                "participant id {:?} must have the SDK ICD {SDK_ICD} (e.g. 0203:example.se)",
                echo(id.as_str())
            ),
        );
        return None;
    }
    Some(Ii::participant(id.as_str()))
}

/// An array, each item read by `item` at its index; `None` if the array or any item is wrong.
fn list<T>(
    v: &Value,
    ptr: &str,
    p: &mut Problems,
    item: impl Fn(&Value, &str, &mut Problems) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Array(items) = v else {
        p.add(ptr, wrong_type("an array", v));
        return None;
    };
    // Every item is read, so the problems of all of them are reported.
    let read: Vec<Option<T>> = items
        .iter()
        .enumerate()
        .map(|(i, it)| item(it, &format!("{ptr}/{i}"), p))
        .collect();
    read.into_iter().collect()
}

/// `{root, extension}`, as `generatingSystem` carries it.
fn instance_id(v: &Value, ptr: &str, p: &mut Problems) -> Option<Ii> {
    let f = Fields::of(v, ptr, p)?;
    f.only(&["root", "extension"], &[], p);
    let root = f.need("root", p, text);
    let extension = f.need("extension", p, text);
    Some(Ii::new(root?, extension?))
}

/// `{root, extension, label}` (personDef, referenceDef): all three are required by the API.
fn labelled_id(v: &Value, ptr: &str, p: &mut Problems) -> Option<(Ii, String)> {
    let f = Fields::of(v, ptr, p)?;
    f.only(&["root", "extension", "label"], &[], p);
    let root = f.need("root", p, text);
    let extension = f.need("extension", p, text_max(MAX_EXTENSION));
    let label = f.need("label", p, text_max(MAX_LABEL));
    Some((Ii::new(root?, extension?), label?))
}

fn person(v: &Value, ptr: &str, p: &mut Problems) -> Option<Person> {
    labelled_id(v, ptr, p).map(|(id, label)| Person {
        id: Some(id),
        label: Some(label),
    })
}

fn reference(v: &Value, ptr: &str, p: &mut Problems) -> Option<Reference> {
    labelled_id(v, ptr, p).map(|(id, label)| Reference {
        id,
        label: Some(label),
    })
}

/// The functional address: the SDK message allows no `organizationId/root` but the functional-address one.
fn sub_organization(v: &Value, ptr: &str, p: &mut Problems) -> Option<SubOrganization> {
    let f = Fields::of(v, ptr, p)?;
    f.only(&["root", "extension", "label"], &[], p);
    let root_ok = !f.is_given("root") || f.opt("root", p, functional_root).is_some();
    let extension = f.need("extension", p, text_max(MAX_EXTENSION));
    let label = f.opt("label", p, text_max(MAX_LABEL));
    if !root_ok {
        return None;
    }
    Some(SubOrganization {
        id: Ii::functional_address(extension?),
        label,
    })
}

fn functional_root(v: &Value, ptr: &str, p: &mut Problems) -> Option<()> {
    let root = text(v, ptr, p)?;
    if root != ids::FUNCTIONAL_ADDRESS_ROOT {
        p.add(
            ptr,
            format!(
                "must be \"{}\" (a functional address) or left out",
                ids::FUNCTIONAL_ADDRESS_ROOT
            ),
        );
        return None;
    }
    Some(())
}

/// recipientAttentionDef / senderAttentionDef.
fn attention(v: &Value, ptr: &str, p: &mut Problems) -> Option<Attention> {
    let f = Fields::of(v, ptr, p)?;
    f.only(
        &["subOrganization", "attentionPerson", "referenceId"],
        &[],
        p,
    );
    let sub = f.need("subOrganization", p, sub_organization);
    let persons = read_optional_list(&f, "attentionPerson", p, person);
    let references = read_optional_list(&f, "referenceId", p, reference);
    Some(Attention {
        persons: persons?,
        sub_organization: sub?,
        references: references?,
    })
}

/// An optional array: absent is empty, a wrong one is `None`.
fn read_optional_list<T>(
    f: &Fields<'_>,
    key: &str,
    p: &mut Problems,
    item: impl Fn(&Value, &str, &mut Problems) -> Option<T>,
) -> Option<Vec<T>> {
    if !f.is_given(key) {
        return Some(Vec::new());
    }
    f.opt(key, p, |v, ptr, p| list(v, ptr, p, item))
}

/// The file's bytes are only decoded to prove they are base64; the message carries the text as given.
fn base64_content(v: &Value, ptr: &str, p: &mut Problems) -> Option<String> {
    let s = text(v, ptr, p)?;
    if let Err(e) = base64::engine::general_purpose::STANDARD.decode(&s) {
        p.add(ptr, format!("is not valid base64 (RFC 4648): {e}"));
        return None;
    }
    Some(s)
}

fn content_type(v: &Value, ptr: &str, p: &mut Problems) -> Option<String> {
    let s = text(v, ptr, p)?;
    if !s.contains('/') {
        p.add(ptr, "must be a MIME type such as application/pdf");
        return None;
    }
    Some(s)
}

fn content_file(v: &Value, ptr: &str, p: &mut Problems) -> Option<ContentFile> {
    let f = Fields::of(v, ptr, p)?;
    f.only(&["fileName", "contentType", "content"], &[], p);
    let file_name = f.need("fileName", p, text);
    let content_type = f.need("contentType", p, content_type);
    let content = f.need("content", p, base64_content);
    Some(ContentFile {
        file_name: file_name?,
        content_type: content_type?,
        content: content?,
    })
}

fn document(v: &Value, ptr: &str, p: &mut Problems) -> Option<DigitalDocument> {
    let f = Fields::of(v, ptr, p)?;
    let before = p.count();
    f.only(
        &[
            "documentId",
            "documentName",
            "index",
            "contentTextBody",
            "contentFiles",
        ],
        &[],
        p,
    );
    let document_id = f.need("documentId", p, text);
    let document_name = f.opt("documentName", p, text);
    let index = f.opt("index", p, text);
    let texts = read_optional_list(&f, "contentTextBody", p, text);
    let files = read_optional_list(&f, "contentFiles", p, content_file);
    // Only said when nothing else is wrong here: a broken list is already reported where it breaks.
    if p.count() == before
        && texts.as_ref().is_some_and(Vec::is_empty)
        && files.as_ref().is_some_and(Vec::is_empty)
    {
        p.add(
            ptr,
            "a document must have at least one contentTextBody text or contentFiles file",
        );
        return None;
    }
    Some(DigitalDocument {
        document_id: document_id?,
        document_name,
        index,
        files: files?,
        texts: texts?,
    })
}

fn documents(v: &Value, ptr: &str, p: &mut Problems) -> Option<Vec<DigitalDocument>> {
    let docs = list(v, ptr, p, document)?;
    if docs.is_empty() {
        p.add(ptr, "must list at least one document");
        return None;
    }
    Some(docs)
}

/// `{"data": {"type": "messages", "attributes": {…}}}`; `data.id` is the node's to give, so it is ignored.
fn read_body(value: &Value, p: &mut Problems) -> Option<Message> {
    let top = Fields::of(value, "", p)?;
    top.only(&["data"], &["meta", "links"], p);
    let data = top.object("data", p)?;
    data.only(&["type", "attributes"], &["id"], p);
    data.opt("type", p, |v, ptr, p| {
        let t = text(v, ptr, p)?;
        if t != "messages" {
            p.add(ptr, "must be \"messages\"");
        }
        Some(())
    });
    let attributes = data.object("attributes", p)?;
    read_attributes(&attributes, p)
}

fn read_attributes(a: &Fields<'_>, p: &mut Problems) -> Option<Message> {
    a.only(ATTRIBUTES, SERVER_SET, p);
    let confidentiality = a.need("confidentiality", p, boolean);
    let label = a.need("label", p, text_max(MAX_LABEL));
    let sender = a.need("sender", p, participant);
    let recipient = a.need("recipient", p, participant);
    let recipient_attention = a.need("recipientAttention", p, attention);
    let sender_attention = a.opt("senderAttention", p, attention);
    let message_id = a.opt("messageId", p, uuid);
    let conversation_id = a.opt("conversationId", p, uuid);
    let ref_to_message_id = a.opt("refToMessageId", p, uuid);
    let generating_system = a.opt("generatingSystem", p, instance_id);
    let documents = a.need("digitalDocument", p, documents);
    // Optional members that were given but wrong are in `p`; building would silently drop them.
    if !p.is_empty() {
        return None;
    }
    let message_id = message_id.unwrap_or_else(ids::new_uuid);
    Some(Message {
        header: MessageHeader {
            creation_date_time: timestamp_now(),
            conversation_id: conversation_id.unwrap_or_else(|| message_id.clone()),
            message_id,
            ref_to_message_id,
            label: Some(label?),
            confidentiality: confidentiality?,
            generating_system,
            recipient: Party {
                id: recipient?,
                label: None,
                attention: Some(recipient_attention?),
            },
            sender: Party {
                id: sender?,
                label: None,
                attention: sender_attention,
            },
        },
        documents: documents?,
    })
}

/// The `messageDef` object (type "messages", id, attributes) for a stored message; `content` (the parsed SDK
/// message) adds the header fields and `digitalDocument` (only given for received messages' GET by id);
/// `events` from the stored status history become the `events` list.
pub fn message_def(stored: &StoredMessage, content: Option<&Message>) -> Value {
    let m = &stored.message;
    let (sender, recipient, direction) = match m.direction {
        Direction::Outbound => (&m.org, &m.peer_org, "outbound"),
        Direction::Inbound => (&m.peer_org, &m.org, "inbound"),
    };
    let mut a = Map::new();
    a.insert("messageStatus".into(), stored.status.as_str().into());
    a.insert("messageId".into(), m.id.as_str().into());
    a.insert("conversationId".into(), m.conversation_id.as_str().into());
    if !m.label.is_empty() {
        a.insert("label".into(), m.label.as_str().into());
    }
    a.insert("direction".into(), direction.into());
    a.insert("sender".into(), sender.as_str().into());
    a.insert("recipient".into(), recipient.as_str().into());
    match content {
        Some(msg) => add_content(&mut a, msg),
        None => add_stored_function(&mut a, stored),
    }
    a.insert("events".into(), events(&stored.events));
    json!({"type": "messages", "id": m.id, "attributes": a})
}

/// Without the message itself only the hosted organisation's functional address is known: the recipient's for
/// an inbound message, the sender's for an outbound one.
fn add_stored_function(a: &mut Map<String, Value>, stored: &StoredMessage) {
    let Some(function) = &stored.message.function else {
        return;
    };
    let key = match stored.message.direction {
        Direction::Inbound => "recipientAttention",
        Direction::Outbound => "senderAttention",
    };
    a.insert(
        key.into(),
        json!({"subOrganization": {"root": ids::FUNCTIONAL_ADDRESS_ROOT, "extension": function}}),
    );
}

fn add_content(a: &mut Map<String, Value>, msg: &Message) {
    let h = &msg.header;
    a.insert(
        "creationDateTime".into(),
        h.creation_date_time.as_str().into(),
    );
    a.insert("confidentiality".into(), h.confidentiality.into());
    if let Some(r) = &h.ref_to_message_id {
        a.insert("refToMessageId".into(), r.as_str().into());
    }
    if let Some(g) = &h.generating_system {
        a.insert("generatingSystem".into(), ii_json(g));
    }
    if let Some(att) = &h.recipient.attention {
        a.insert("recipientAttention".into(), attention_json(att));
    }
    if let Some(att) = &h.sender.attention {
        a.insert("senderAttention".into(), attention_json(att));
    }
    a.insert(
        "digitalDocument".into(),
        msg.documents.iter().map(document_json).collect(),
    );
}

fn ii_json(ii: &Ii) -> Value {
    json!({"root": ii.root, "extension": ii.extension})
}

/// `{root, extension, label}` with the absent parts left out.
fn labelled_json(id: Option<&Ii>, label: Option<&String>) -> Value {
    let mut o = Map::new();
    if let Some(id) = id {
        o.insert("root".into(), id.root.as_str().into());
        o.insert("extension".into(), id.extension.as_str().into());
    }
    if let Some(l) = label {
        o.insert("label".into(), l.as_str().into());
    }
    Value::Object(o)
}

fn attention_json(att: &Attention) -> Value {
    let sub = &att.sub_organization;
    let mut o = Map::new();
    o.insert(
        "subOrganization".into(),
        labelled_json(Some(&sub.id), sub.label.as_ref()),
    );
    if !att.persons.is_empty() {
        let persons = att.persons.iter();
        o.insert(
            "attentionPerson".into(),
            persons
                .map(|x| labelled_json(x.id.as_ref(), x.label.as_ref()))
                .collect(),
        );
    }
    if !att.references.is_empty() {
        let refs = att.references.iter();
        o.insert(
            "referenceId".into(),
            refs.map(|x| labelled_json(Some(&x.id), x.label.as_ref()))
                .collect(),
        );
    }
    Value::Object(o)
}

fn document_json(d: &DigitalDocument) -> Value {
    let mut o = Map::new();
    o.insert("documentId".into(), d.document_id.as_str().into());
    if let Some(n) = &d.document_name {
        o.insert("documentName".into(), n.as_str().into());
    }
    if let Some(i) = &d.index {
        o.insert("index".into(), i.as_str().into());
    }
    if !d.texts.is_empty() {
        o.insert("contentTextBody".into(), d.texts.clone().into());
    }
    if !d.files.is_empty() {
        let files = d.files.iter().map(|f| {
            json!({"fileName": f.file_name, "contentType": f.content_type, "content": f.content})
        });
        o.insert("contentFiles".into(), files.collect());
    }
    Value::Object(o)
}

/// The status history as MT-MK `eventIssues`-style entries: the status, why (or what it means), and when.
fn events(history: &[StatusEvent]) -> Value {
    history
        .iter()
        .map(|e| {
            let mut o = Map::new();
            o.insert("typeCode".into(), e.status.as_str().into());
            let title = e
                .reason
                .clone()
                .unwrap_or_else(|| status_title(e.status).to_owned());
            o.insert("title".into(), title.into());
            // A time outside RFC 3339's range (years beyond 9999) is left out rather than shown wrong.
            if let Ok(at) = e.at.format(&Rfc3339) {
                o.insert("detail".into(), at.into());
            }
            Value::Object(o)
        })
        .collect()
}

/// What a status means, for an event without a recorded reason.
fn status_title(s: Status) -> &'static str {
    match s {
        Status::Scheduled => "Message scheduled for sending",
        Status::Submitted => "Message submitted to the recipient's access point",
        Status::ScheduledForResend => "Message scheduled to be sent again",
        Status::Acknowledge => "The recipient's access point acknowledged the message",
        Status::WaitingForReceipt => "Waiting for the recipient's message receipt",
        Status::MessageExchangeError => "The message could not be delivered",
        Status::Accepted => "The recipient accepted the message",
        Status::Rejected => "The recipient rejected the message",
        Status::Retrieved => "Message received and being checked",
        Status::ReceiptSent => "The message receipt was delivered to the sender",
        Status::New => "Message received and waiting in the mailbox",
        Status::Error => "Sending failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Kind, NewMessage};
    use serde_json::json;

    const MESSAGE_ID: &str = "ff325210-0690-42fe-b86f-95ecab821223";
    const CONVERSATION_ID: &str = "a8480ada-6a1f-44a3-a960-9acaf4efcdcd";
    const REPLY_TO: &str = "862693f7-53d4-4d96-b35c-470055710092";

    fn pdf_base64() -> String {
        let pdf =
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
        base64::engine::general_purpose::STANDARD.encode(pdf)
    }

    fn minimal() -> Value {
        json!({"data": {"type": "messages", "attributes": {
            "confidentiality": false,
            "label": "Hej",
            "sender": "0203:inera.se",
            "recipient": "0203:digg.se",
            "recipientAttention": {"subOrganization": {"extension": "sdk:inkorg:0203:digg.se"}},
            "digitalDocument": [{"documentId": "1", "contentTextBody": ["Hej från Inera"]}]
        }}})
    }

    fn full() -> Value {
        json!({"data": {"type": "messages", "id": "ignored", "attributes": {
            "messageId": MESSAGE_ID,
            "conversationId": CONVERSATION_ID,
            "refToMessageId": REPLY_TO,
            "confidentiality": true,
            "generatingSystem": {"root": "1.2.752.29.4.71", "extension": "journal-x"},
            "label": "Remiss angående Tolvan",
            "sender": "iso6523-actorid-upis::0203:Inera.SE",
            "recipient": "0203:Digg.se",
            "recipientAttention": {
                "subOrganization": {
                    "root": ids::FUNCTIONAL_ADDRESS_ROOT,
                    "extension": "sdk:inkorg:0203:digg.se",
                    "label": "Inkorgen hos Digg"
                },
                "attentionPerson": [
                    {"root": "1.2.752.29.6.2.1", "extension": "SE2321000016-1234", "label": "Anna Andersson"}
                ],
                "referenceId": [
                    {"root": "1.2.752.129.2.1.3.1", "extension": "19121212-1212", "label": "Tolvan Tolvansson"}
                ]
            },
            "senderAttention": {"subOrganization": {"extension": "sdk:utkorg:0203:inera.se"}},
            "digitalDocument": [
                {"documentId": "doc-1", "documentName": "Remiss", "index": "1",
                 "contentTextBody": ["# Remiss\n\nSe bifogad fil."]},
                {"documentId": "doc-2", "index": "2",
                 "contentFiles": [{"fileName": "remiss.pdf", "contentType": "application/pdf",
                                   "content": pdf_base64()}]}
            ],
            "messageStatus": 42,
            "creationDateTime": "2019-08-15T17:52:58.1Z",
            "events": {"title": "whatever"}
        }}})
    }

    fn read(v: &Value) -> Result<Message, FieldErrors> {
        read_create(&serde_json::to_vec(v).unwrap())
    }

    fn errors(v: &Value) -> Vec<FieldError> {
        let e = read(v).expect_err("the request should be refused");
        assert_eq!(e.unlisted, 0, "{e:?}");
        e.listed
    }

    fn pointers(v: &Value) -> Vec<String> {
        errors(v).into_iter().map(|e| e.pointer).collect()
    }

    /// `minimal()` with attribute `key` set to `value`.
    fn with(key: &str, value: Value) -> Value {
        let mut v = minimal();
        v["data"]["attributes"][key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = minimal();
        v["data"]["attributes"].as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn full_body_becomes_a_valid_message() {
        let m = read(&full()).unwrap();
        let h = &m.header;
        assert_eq!(h.message_id, MESSAGE_ID);
        assert_eq!(h.conversation_id, CONVERSATION_ID);
        assert_eq!(h.ref_to_message_id.as_deref(), Some(REPLY_TO));
        assert!(h.confidentiality);
        assert_eq!(
            h.generating_system,
            Some(Ii::new("1.2.752.29.4.71", "journal-x"))
        );
        // Participant ids are lower-cased and lose the scheme prefix.
        assert_eq!(h.sender.id, Ii::new(ids::PARTY_SCHEME, "0203:inera.se"));
        assert_eq!(h.recipient.id, Ii::new(ids::PARTY_SCHEME, "0203:digg.se"));
        assert_eq!(h.sender.label, None);
        let to = h.recipient.attention.as_ref().unwrap();
        assert_eq!(
            to.sub_organization.id,
            Ii::functional_address("sdk:inkorg:0203:digg.se")
        );
        assert_eq!(
            to.sub_organization.label.as_deref(),
            Some("Inkorgen hos Digg")
        );
        assert_eq!(
            to.persons,
            vec![Person {
                id: Some(Ii::new("1.2.752.29.6.2.1", "SE2321000016-1234")),
                label: Some("Anna Andersson".into()),
            }]
        );
        assert_eq!(to.references[0].id.extension, "19121212-1212");
        assert_eq!(
            h.sender.attention,
            Some(Attention::function("sdk:utkorg:0203:inera.se"))
        );
        // The server-set creationDateTime in the request is not taken.
        assert_ne!(h.creation_date_time, "2019-08-15T17:52:58.1Z");
        assert_eq!(m.documents.len(), 2);
        assert_eq!(m.documents[0].texts, vec!["# Remiss\n\nSe bifogad fil."]);
        assert_eq!(m.documents[1].files[0].content, pdf_base64());
        assert_eq!(m.documents[1].document_name, None);

        let xml = m.to_xml().unwrap();
        let back = Message::parse(xml.as_bytes(), &crate::xml::Limits::default()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn minimal_body_gets_fresh_ids_and_a_valid_message() {
        let m = read(&minimal()).unwrap();
        let h = &m.header;
        assert!(ids::is_uuid(&h.message_id));
        assert_eq!(h.conversation_id, h.message_id);
        assert_eq!(h.ref_to_message_id, None);
        assert_eq!(h.label.as_deref(), Some("Hej"));
        assert!(!h.confidentiality);
        assert_eq!(h.sender.attention, None);
        assert_eq!(
            h.recipient.attention,
            Some(Attention::function("sdk:inkorg:0203:digg.se"))
        );
        assert!(m.to_xml().is_ok());
        let other = read(&minimal()).unwrap();
        assert_ne!(other.header.message_id, h.message_id);
    }

    #[test]
    fn not_json_is_named_by_the_empty_pointer() {
        let e = read_create(b"{\"data\": ").unwrap_err().listed;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pointer, "");
        assert!(e[0].detail.contains("not JSON"), "{}", e[0].detail);
        let e = read_create(b"[]").unwrap_err().listed;
        assert_eq!(e[0].pointer, "");
        assert_eq!(e[0].detail, "must be an object, found an array");
    }

    #[test]
    fn envelope_problems_name_data_and_attributes() {
        assert_eq!(pointers(&json!({})), vec!["/data"]);
        let mut v = minimal();
        v["data"]["type"] = json!("message");
        assert_eq!(pointers(&v), vec!["/data/type"]);
        let e = errors(&json!({"data": {"attributes": []}}));
        assert_eq!(e[0].pointer, "/data/attributes");
        assert_eq!(e[0].detail, "must be an object, found an array");
    }

    #[test]
    fn wrong_type_names_the_field_and_both_types() {
        let e = errors(&with("label", json!(5)));
        assert_eq!(
            e,
            vec![FieldError {
                pointer: "/data/attributes/label".into(),
                detail: "must be a string, found a number".into(),
            }]
        );
        let e = errors(&with("confidentiality", json!("true")));
        assert_eq!(e[0].pointer, "/data/attributes/confidentiality");
        assert_eq!(e[0].detail, "must be a boolean, found a string");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let e = errors(&without("recipient"));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pointer, "/data/attributes/recipient");
        assert_eq!(e[0].detail, "is required");
        assert_eq!(
            pointers(&without("recipientAttention")),
            vec!["/data/attributes/recipientAttention"]
        );
        assert_eq!(
            pointers(&with("recipientAttention", json!({"subOrganization": {}}))),
            vec!["/data/attributes/recipientAttention/subOrganization/extension"]
        );
    }

    #[test]
    fn bad_base64_is_named_down_to_the_file() {
        let mut v = full();
        v["data"]["attributes"]["digitalDocument"][1]["contentFiles"][0]["content"] =
            json!("JVBERi0x*NA==");
        let e = errors(&v);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].pointer,
            "/data/attributes/digitalDocument/1/contentFiles/0/content"
        );
        assert!(e[0].detail.contains("base64"), "{}", e[0].detail);

        let v = with(
            "digitalDocument",
            json!([{"documentId": "1", "contentFiles": [
                {"fileName": "a.pdf", "contentType": "application/pdf", "content": "QQ="}
            ]}]),
        );
        assert_eq!(
            pointers(&v),
            vec!["/data/attributes/digitalDocument/0/contentFiles/0/content"]
        );
    }

    #[test]
    fn a_document_needs_text_or_a_file() {
        let e = errors(&with(
            "digitalDocument",
            json!([{"documentId": "1", "contentTextBody": []}]),
        ));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pointer, "/data/attributes/digitalDocument/0");
        assert!(e[0].detail.contains("at least one"), "{}", e[0].detail);
        assert_eq!(
            pointers(&with("digitalDocument", json!([]))),
            vec!["/data/attributes/digitalDocument"]
        );
        // A blank text is its own problem, not also "no text".
        assert_eq!(
            pointers(&with(
                "digitalDocument",
                json!([{"documentId": "1", "contentTextBody": [" "]}])
            )),
            vec!["/data/attributes/digitalDocument/0/contentTextBody/0"]
        );
    }

    #[test]
    fn unknown_fields_are_reported_but_server_set_ones_ignored() {
        let e = errors(&with("lable", json!("typo")));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pointer, "/data/attributes/lable");
        assert!(e[0].detail.starts_with("unknown field"), "{}", e[0].detail);
        assert_eq!(
            pointers(&with("a/b~c", json!(1))),
            vec!["/data/attributes/a~1b~0c"]
        );
        let mut v = minimal();
        v["data"]["attributes"]["recipientAttention"]["subOrganization"]["extention"] = json!("x");
        assert_eq!(
            pointers(&v),
            vec!["/data/attributes/recipientAttention/subOrganization/extention"]
        );
        let v = with("messageStatus", json!({"not": "a status"}));
        assert!(read(&v).is_ok());
    }

    #[test]
    fn many_unknown_fields_are_listed_up_to_the_cap_and_the_rest_counted() {
        let mut v = minimal();
        let attributes = v["data"]["attributes"].as_object_mut().unwrap();
        for i in 0..10_000 {
            attributes.insert(format!("f{i:05}"), json!(1));
        }
        let e = read(&v).unwrap_err();
        assert_eq!(e.listed.len(), MAX_LISTED);
        assert_eq!(e.total(), 10_000);
        assert_eq!(e.unlisted, 10_000 - MAX_LISTED);
    }

    #[test]
    fn a_long_field_name_or_value_is_named_by_its_start() {
        let name = "k".repeat(1 << 20);
        let e = errors(&with(&name, json!(1)));
        assert!(e[0].pointer.starts_with("/data/attributes/kkk"));
        assert!(
            e[0].pointer.len() <= ECHO_BYTES + 3,
            "{}",
            e[0].pointer.len()
        );
        let e = errors(&with("recipient", json!("x".repeat(1 << 20))));
        assert!(e[0].detail.contains("(1048576 bytes)"), "{}", e[0].detail);
        assert!(e[0].detail.len() <= MAX_PROBLEM_DETAIL + 3);
        let e = errors(&with(
            "recipient",
            json!(format!("0007:{}", "x".repeat(1 << 20))),
        ));
        assert!(e[0].detail.len() <= MAX_PROBLEM_DETAIL + 3);
    }

    #[test]
    fn labels_are_counted_in_characters() {
        let e = errors(&with("label", json!("å".repeat(257))));
        assert_eq!(e[0].pointer, "/data/attributes/label");
        assert!(e[0].detail.contains("257"), "{}", e[0].detail);
        let m = read(&with("label", json!("å".repeat(256)))).unwrap();
        assert!(m.to_xml().is_ok());
        assert_eq!(
            pointers(&with("label", json!("   "))),
            vec!["/data/attributes/label"]
        );
    }

    #[test]
    fn ids_and_addresses_are_checked() {
        assert_eq!(
            pointers(&with("sender", json!("inera.se"))),
            vec!["/data/attributes/sender"]
        );
        assert_eq!(
            pointers(&with("recipient", json!("0007:2021006883"))),
            vec!["/data/attributes/recipient"]
        );
        assert_eq!(
            pointers(&with("conversationId", json!("not-a-uuid"))),
            vec!["/data/attributes/conversationId"]
        );
        let mut v = minimal();
        v["data"]["attributes"]["recipientAttention"]["subOrganization"]["root"] =
            json!("1.2.752.129.2.1.4.1");
        assert_eq!(
            pointers(&v),
            vec!["/data/attributes/recipientAttention/subOrganization/root"]
        );
        let e = errors(&with("label", json!("a\u{0}b")));
        assert!(e[0].detail.contains("U+0000"), "{}", e[0].detail);
    }

    #[test]
    fn every_problem_is_reported_together() {
        let mut v = without("digitalDocument");
        let a = &mut v["data"]["attributes"];
        a["confidentiality"] = json!("yes");
        a["sender"] = json!(203);
        a["messageId"] = json!("123");
        a["recipientAttention"]["attentionPerson"] = json!([{"root": "1.2", "extension": "x"}]);
        let mut got = pointers(&v);
        got.sort();
        assert_eq!(
            got,
            vec![
                "/data/attributes/confidentiality",
                "/data/attributes/digitalDocument",
                "/data/attributes/messageId",
                "/data/attributes/recipientAttention/attentionPerson/0/label",
                "/data/attributes/sender",
            ]
        );
    }

    fn stored(direction: Direction, function: Option<&str>) -> StoredMessage {
        let at = time::macros::datetime!(2024-05-01 08:00:00 UTC);
        StoredMessage {
            message: NewMessage {
                id: MESSAGE_ID.into(),
                direction,
                conversation_id: CONVERSATION_ID.into(),
                org: "0203:digg.se".into(),
                function: function.map(str::to_owned),
                peer_org: "0203:inera.se".into(),
                label: "Remiss angående Tolvan".into(),
                kind: Kind::Message,
            },
            status: Status::New,
            as4_message_id: None,
            payload_bytes: 0,
            events: vec![
                StatusEvent {
                    status: Status::Retrieved,
                    at,
                    reason: None,
                },
                StatusEvent {
                    status: Status::New,
                    at: at + time::Duration::seconds(1),
                    reason: Some("delivered to the mailbox".into()),
                },
            ],
        }
    }

    #[test]
    fn message_def_from_the_store_alone() {
        let s = stored(Direction::Inbound, Some("sdk:inkorg:0203:digg.se"));
        let d = message_def(&s, None);
        assert_eq!(d["type"], "messages");
        assert_eq!(d["id"], MESSAGE_ID);
        let a = &d["attributes"];
        assert_eq!(a["messageStatus"], "NEW");
        assert_eq!(a["direction"], "inbound");
        assert_eq!(a["sender"], "0203:inera.se");
        assert_eq!(a["recipient"], "0203:digg.se");
        assert_eq!(
            a["recipientAttention"]["subOrganization"],
            json!({"root": ids::FUNCTIONAL_ADDRESS_ROOT, "extension": "sdk:inkorg:0203:digg.se"})
        );
        assert_eq!(
            a["events"],
            json!([
                {"typeCode": "RETRIEVED", "title": status_title(Status::Retrieved),
                 "detail": "2024-05-01T08:00:00Z"},
                {"typeCode": "NEW", "title": "delivered to the mailbox",
                 "detail": "2024-05-01T08:00:01Z"}
            ])
        );
        // Nothing the store does not know is shown, not even as null.
        for absent in [
            "digitalDocument",
            "creationDateTime",
            "confidentiality",
            "senderAttention",
        ] {
            assert!(a.get(absent).is_none(), "{absent}");
        }

        let out = message_def(&stored(Direction::Outbound, None), None);
        assert_eq!(out["attributes"]["direction"], "outbound");
        assert_eq!(out["attributes"]["sender"], "0203:digg.se");
        assert_eq!(out["attributes"]["recipient"], "0203:inera.se");
        assert!(out["attributes"].get("recipientAttention").is_none());
        assert!(!out.to_string().contains("null"));
    }

    #[test]
    fn message_def_with_content_reads_back_as_the_same_message() {
        let m = read(&full()).unwrap();
        let d = message_def(&stored(Direction::Inbound, None), Some(&m));
        let a = &d["attributes"];
        assert_eq!(a["creationDateTime"], m.header.creation_date_time.as_str());
        assert_eq!(a["confidentiality"], true);
        assert_eq!(a["refToMessageId"], REPLY_TO);
        assert_eq!(
            a["digitalDocument"][1]["contentFiles"][0],
            json!({"fileName": "remiss.pdf", "contentType": "application/pdf", "content": pdf_base64()})
        );
        assert_eq!(
            a["digitalDocument"][0]["contentTextBody"],
            json!(["# Remiss\n\nSe bifogad fil."])
        );
        assert!(a["digitalDocument"][1].get("documentName").is_none());
        assert_eq!(
            a["recipientAttention"]["attentionPerson"][0]["label"],
            "Anna Andersson"
        );
        assert!(!d.to_string().contains("null"));

        // Sent back as a create request (without what only a read shows), it is the same message.
        let mut again = d.clone();
        let attrs = again["attributes"].as_object_mut().unwrap();
        attrs.remove("direction");
        let back = read(&json!({ "data": again })).unwrap();
        let mut expected = m.clone();
        expected.header.creation_date_time = back.header.creation_date_time.clone();
        assert_eq!(back, expected);
    }
}
