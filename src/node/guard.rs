//! What the receiving side keeps against a federation member that probes it (issue 18): open failures per
//! sender organisation, and when replay marks were last forgotten. Senders are organisations whose signature
//! verified against their CertPub certificate, so the map is bounded by the federation, each entry by the
//! threshold.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

#[derive(Default)]
pub struct Guard {
    failures: Mutex<HashMap<String, VecDeque<OffsetDateTime>>>,
    last_forget: Mutex<Option<OffsetDateTime>>,
    unauthenticated: Mutex<Tally>,
}

/// Unauthenticated API requests since the last audit record about them.
#[derive(Default)]
struct Tally {
    since: u64,
    last_record: Option<OffsetDateTime>,
}

/// The threshold: `limit` failures within `window`.
#[derive(Clone, Copy)]
pub struct Threshold {
    pub limit: u32,
    pub window: Duration,
}

impl Guard {
    /// Counts a failure of `sender` at `now`; true when this one reaches the threshold.
    pub fn fail(&self, sender: &str, now: OffsetDateTime, t: Threshold) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = failures.entry(sender.to_owned()).or_default();
        forget_old(times, now, t.window);
        times.push_back(now);
        let limit = usize::try_from(t.limit).unwrap_or(usize::MAX);
        while times.len() > limit {
            times.pop_front();
        }
        times.len() == limit
    }

    /// Until when `sender` is refused, when it has reached the threshold within the window.
    pub fn blocked_until(
        &self,
        sender: &str,
        now: OffsetDateTime,
        t: Threshold,
    ) -> Option<OffsetDateTime> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = failures.get_mut(sender)?;
        forget_old(times, now, t.window);
        let limit = usize::try_from(t.limit).unwrap_or(usize::MAX);
        if times.len() >= limit {
            times.front().map(|first| *first + t.window)
        } else {
            None
        }
    }

    /// Counts an unauthenticated request at `now`. `Some(n)` when it is time for an audit record (the first
    /// one, then at most one per `every`): the `n` requests it covers. Anyone can send these, so each one
    /// writing an fsynced record would let anyone decide how often the node fsyncs.
    pub fn unauthenticated(&self, now: OffsetDateTime, every: Duration) -> Option<u64> {
        let mut tally = self
            .unauthenticated
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        tally.since += 1;
        match tally.last_record {
            Some(at) if now - at < every && at <= now => None,
            _ => {
                tally.last_record = Some(now);
                Some(std::mem::take(&mut tally.since))
            }
        }
    }

    /// True at most once per `every`: time to forget old replay marks.
    pub fn forget_due(&self, now: OffsetDateTime, every: Duration) -> bool {
        let mut last = self.last_forget.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if now - at < every && at <= now => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

fn forget_old(times: &mut VecDeque<OffsetDateTime>, now: OffsetDateTime, window: Duration) {
    while times.front().is_some_and(|t| now - *t >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_requests_make_one_record_per_interval_that_counts_them() {
        let g = Guard::default();
        let every = Duration::minutes(1);
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        assert_eq!(g.unauthenticated(start, every), Some(1));
        let records = (1..10_000)
            .filter_map(|i| g.unauthenticated(start + Duration::milliseconds(i), every))
            .count();
        assert_eq!(
            records, 0,
            "10 000 requests within the minute: no further record"
        );
        assert_eq!(
            g.unauthenticated(start + Duration::seconds(61), every),
            Some(10_000),
            "the next record counts them all"
        );
    }

    #[test]
    fn a_sender_is_blocked_at_the_threshold_until_its_first_failure_leaves_the_window() {
        let g = Guard::default();
        let t = Threshold {
            limit: 3,
            window: Duration::hours(1),
        };
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        assert!(!g.fail("a", start, t));
        assert!(!g.fail("a", start + Duration::minutes(1), t));
        assert!(g.blocked_until("a", start, t).is_none());
        assert!(g.fail("a", start + Duration::minutes(2), t));
        assert_eq!(
            g.blocked_until("a", start + Duration::minutes(3), t),
            Some(start + Duration::hours(1))
        );
        assert!(g.blocked_until("b", start, t).is_none(), "others are not");
        assert!(
            g.blocked_until("a", start + Duration::minutes(61), t)
                .is_none()
        );
    }
}
