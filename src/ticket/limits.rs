//! The hourly limits of automatic mail to customers (design.md "Outbound
//! mail": 5 per recipient, 50 per domain, configurable), decided from what
//! the store counted: the limits protect inboxes from a burst and stop loops
//! with other automatic responders. The domain limit counts only mail that
//! looks like a loop: beyond the second to the same address in the hour.
//! An outage that has 2,000 people of one company write in, some of them
//! twice, is not a loop, and each of them hears back. A held mail waits
//! until its hour allows it. Pure.

use std::collections::HashMap;

/// Hourly limits of automatic mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Automatic mails to one customer address per hour.
    pub per_recipient_per_hour: u32,
    /// Automatic mails to one customer domain per hour.
    pub per_domain_per_hour: u32,
    /// Automatic mails to one consultant per hour caused by incoming mail.
    pub consultant_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_recipient_per_hour: 5,
            per_domain_per_hour: 50,
            consultant_per_hour: 30,
        }
    }
}

/// Automatic mail in the hour before a decision, per address and per
/// domain, as the store counted it for the addresses a decision may write
/// to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recent {
    /// Mails per recipient address.
    pub by_address: HashMap<String, u32>,
    /// Loop-like mails per recipient domain: beyond the second to each of
    /// its addresses ([`LOOP_AFTER`]).
    pub by_domain: HashMap<String, u32>,
}

/// Mails to one address in the hour before the domain limit counts the
/// next one as loop-like: an acknowledgement and one more are ordinary.
pub const LOOP_AFTER: u32 = 2;

/// The domain of an address (empty when it has none).
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

impl Recent {
    /// Whether an automatic mail to `to` would pass a limit: counted over
    /// the hour before it is queued.
    pub fn over(&self, limits: &Limits, to: &[String]) -> bool {
        to.iter().any(|addr| {
            let recipient = self.by_address.get(addr).copied().unwrap_or(0);
            let looping = self.by_domain.get(domain_of(addr)).copied().unwrap_or(0);
            // A first or second mail to an address is never loop-like.
            recipient >= limits.per_recipient_per_hour
                || recipient >= LOOP_AFTER && looping >= limits.per_domain_per_hour
        })
    }
}

impl Recent {
    /// Whether a consultant had the hour's share of automatic mail (their
    /// company domain is never limited as a whole).
    pub fn over_consultant(&self, limits: &Limits, consultant: &str) -> bool {
        self.by_address.get(consultant).copied().unwrap_or(0) >= limits.consultant_per_hour
    }

    /// Counts a mail about to be queued, so that the next one of the same
    /// decision sees it (a decision that writes twice to one person must
    /// not pass the limit by writing both at once).
    pub fn count(&mut self, to: &[String]) {
        for addr in to {
            let n = self.by_address.entry(addr.clone()).or_default();
            if *n >= LOOP_AFTER {
                *self
                    .by_domain
                    .entry(domain_of(addr).to_string())
                    .or_default() += 1;
            }
            *n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_table() {
        let limits = Limits::default();
        let recent = Recent {
            by_address: [("a@x.example".to_string(), 5), ("b@x.example".into(), 4)].into(),
            by_domain: [("x.example".to_string(), 9), ("y.example".into(), 50)].into(),
        };
        let mut repeated = recent.clone();
        repeated.by_address.insert("d@y.example".into(), 1);
        let d = ["d@y.example".to_string()];
        assert!(!repeated.over(&limits, &d), "a second mail is ordinary");
        repeated.by_address.insert("d@y.example".into(), 2);
        assert!(
            repeated.over(&limits, &d),
            "a third to y.example is loop-like"
        );
        let table: &[(&[&str], bool)] = &[
            (&["a@x.example"], true),
            (&["b@x.example"], false),
            // y.example had 50 loop-like mails: a first one to c@ still goes.
            (&["c@y.example"], false),
            (&["new@z.example"], false),
            (&["b@x.example", "a@x.example"], true),
            (&[], false),
        ];
        for (to, over) in table {
            let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
            assert_eq!(recent.over(&limits, &to), *over, "{to:?}");
        }
    }
}
