use serde::Serialize;

/// One thing wrong with a document: which rule, where, and what, in plain English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `XSD-…` for structure, DIGG's own id (`R12-XHE`, `R5-APP`, `MessageId`, …) for their rules, `SDK-…` for
    /// the SDK prose rules the rule files do not encode.
    pub rule: String,
    /// Where: a location path such as `/XHE/Header/ToParty/PartyIdentification/ID`.
    pub location: String,
    pub message: String,
}

impl Violation {
    pub fn new(rule: &str, location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: rule.to_owned(),
            location: location.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}  {}  {}", self.rule, self.location, self.message)
    }
}
