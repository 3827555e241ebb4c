//! SDK message statuses (KV Meddelandestatus, the MT-MK API's `messageStatusDef`) and the moves between them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Scheduled,
    Submitted,
    ScheduledForResend,
    Acknowledge,
    WaitingForReceipt,
    MessageExchangeError,
    Accepted,
    Rejected,
    Retrieved,
    ReceiptSent,
    New,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Scheduled,
        Status::Submitted,
        Status::ScheduledForResend,
        Status::Acknowledge,
        Status::WaitingForReceipt,
        Status::MessageExchangeError,
        Status::Accepted,
        Status::Rejected,
        Status::Retrieved,
        Status::ReceiptSent,
        Status::New,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "SCHEDULED",
            Status::Submitted => "SUBMITTED",
            Status::ScheduledForResend => "SCHEDULED_FOR_RESEND",
            Status::Acknowledge => "ACKNOWLEDGE",
            Status::WaitingForReceipt => "WAITING_FOR_RECEIPT",
            Status::MessageExchangeError => "MESSAGE_EXCHANGE_ERROR",
            Status::Accepted => "ACCEPTED",
            Status::Rejected => "REJECTED",
            Status::Retrieved => "RETRIEVED",
            Status::ReceiptSent => "RECEIPT_SENT",
            Status::New => "NEW",
            Status::Error => "ERROR",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Final statuses may be deleted (the MT-MK recommendation: NEW, ACCEPTED, MESSAGE_EXCHANGE_ERROR; a
    /// REJECTED receipt is final for the sender too).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::New | Status::Accepted | Status::MessageExchangeError | Status::Rejected
        )
    }

    /// Whether a message may move from `self` to `next`.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        match (self, next) {
            // Outbound: scheduled → submitted (→ acknowledged) → waiting for the Meddelandekvittens → outcome.
            (Scheduled | ScheduledForResend, Submitted) => true,
            // The transport receipt came back on the attempt itself: nothing happened in between to record.
            (Scheduled | ScheduledForResend, WaitingForReceipt) => true,
            (Scheduled | Submitted | ScheduledForResend, ScheduledForResend) => true,
            (Submitted, Acknowledge | WaitingForReceipt) => true,
            (Acknowledge, WaitingForReceipt) => true,
            (WaitingForReceipt | Acknowledge, Accepted | Rejected) => true,
            // Any unfinished outbound message can fail.
            (
                Scheduled | Submitted | ScheduledForResend | Acknowledge | WaitingForReceipt,
                Error | MessageExchangeError,
            ) => true,
            (Error, MessageExchangeError) => true,
            // Inbound: validated → in the mailbox; our receipt's transport receipt noted.
            (Retrieved, New) => true,
            (New, ReceiptSent) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn names_round_trip_and_final_statuses_go_nowhere_but_receipt_sent() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for s in [
            Status::Accepted,
            Status::Rejected,
            Status::MessageExchangeError,
        ] {
            assert!(Status::ALL.iter().all(|n| !s.can_become(*n)), "{s}");
        }
        assert!(Status::Scheduled.can_become(Status::Submitted));
        assert!(!Status::Accepted.can_become(Status::Scheduled));
    }
}
