//! Duplicate detection (AS4 reception awareness): a sender that got no receipt sends the same MessageId again,
//! and the receiver must deliver it once. The node keeps the ids durably in its store; this is the rule.

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

/// Message ids seen within a window.
#[derive(Debug)]
pub struct SeenMessageIds {
    window: Duration,
    seen: HashMap<String, OffsetDateTime>,
}

impl SeenMessageIds {
    pub fn new(window: Duration) -> Self {
        SeenMessageIds {
            window,
            seen: HashMap::new(),
        }
    }

    /// True when `id` was already seen within the window (a duplicate to answer with the same receipt and not
    /// deliver again); otherwise records it. Ids older than the window are forgotten.
    pub fn is_duplicate(&mut self, id: &str, now: OffsetDateTime) -> bool {
        let window = self.window;
        self.seen.retain(|_, at| now - *at <= window);
        if self.seen.contains_key(id) {
            return true;
        }
        self.seen.insert(id.to_owned(), now);
        false
    }
}
