//! When and how long to wait before trying a Graph call again: 429/503 with `Retry-After`,
//! exponential back-off with jitter otherwise, and transport failures.

use std::time::Duration;

/// The retry rules of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Back-off before the first retry when the server gave no `Retry-After`.
    pub base_delay: Duration,
    /// No single wait is longer than this (a hostile `Retry-After: 86400` included).
    pub max_delay: Duration,
    /// Tries in all when no connection could be made (refused, no such host): such a failure
    /// is reported within about a second and a half instead of after every back-off.
    pub connect_attempts: u32,
    /// Whether a write whose answer was lost (none came, it was cut off or garbled, or a 5xx:
    /// the write may have landed) is sent again like any failure. A bulk job turns it off: it
    /// reads the record back and writes again only when the first write did not land, so no
    /// write is sent twice (`jobs::runner`).
    pub resend_unanswered_writes: bool,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        // Graph SDKs give up after 3 retries, which admins report is too few under Intune's
        // write throttling; 6 tries with a 60 s cap rides out a throttling window.
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            connect_attempts: 3,
            resend_unanswered_writes: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1), given what went wrong.
    /// `None`: don't retry. `jitter` is a number in [0, 1) from the caller, so this stays pure.
    pub fn delay(&self, attempt: u32, failure: &Failure, jitter: f64) -> Option<Duration> {
        if attempt >= self.max_attempts || !failure.is_retryable() {
            return None;
        }
        if *failure == Failure::Connect && attempt >= self.connect_attempts {
            return None;
        }
        if let Failure::Status { retry_after: Some(wait), .. } = failure {
            return Some((*wait).min(self.max_delay));
        }
        // Exponential with "equal jitter": half fixed, half random, so waits grow but spread out.
        let exp = self.base_delay.saturating_mul(1u32 << (attempt - 1).min(16)).min(self.max_delay);
        let half = exp / 2;
        Some(half + half.mul_f64(jitter.clamp(0.0, 1.0)))
    }

    /// [`RetryPolicy::delay`] for a write: `None` also for a failure after which the write
    /// may have landed, unless [`RetryPolicy::resend_unanswered_writes`] is on.
    pub fn write_delay(&self, attempt: u32, failure: &Failure, jitter: f64) -> Option<Duration> {
        if !self.resend_unanswered_writes && failure.may_have_landed() {
            return None;
        }
        self.delay(attempt, failure, jitter)
    }
}

/// What made an attempt fail, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// An HTTP error status, with the server's `Retry-After` if it sent one.
    Status {
        /// HTTP status code.
        status: u16,
        /// Parsed `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// No answer: the connection was reset, or the answer was cut off.
    Transport,
    /// No connection could be made (refused, no such host).
    Connect,
    /// No answer in time.
    Timeout,
}

impl Failure {
    /// Throttling (429), unavailability (503, 502, 504) and lost connections are worth another try;
    /// 500 is too, because Intune answers passing faults with it. 4xx other than 429 are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Failure::Transport | Failure::Connect | Failure::Timeout => true,
        }
    }

    /// Whether a write that failed so may still have been applied: no answer, a cut-off or
    /// garbled one, or a 5xx. A 4xx (429 included) was refused; no connection, never sent.
    pub fn may_have_landed(&self) -> bool {
        match self {
            Failure::Status { status, .. } => *status >= 500,
            Failure::Transport | Failure::Timeout => true,
            Failure::Connect => false,
        }
    }
}

/// Parses `Retry-After`: seconds, possibly fractional (`2.128`), or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 2.128 ", now), Some(Duration::from_millis(2128)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert!(parse_retry_after("1e300", SystemTime::now()).is_some());
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let p = RetryPolicy::default();
        let throttled = |s| Failure::Status { status: 429, retry_after: Some(Duration::from_secs_f64(s)) };
        assert_eq!(p.delay(1, &throttled(2.5), 0.9), Some(Duration::from_millis(2500)));
        assert_eq!(p.delay(1, &throttled(9999.0), 0.0), Some(p.max_delay));
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let p = RetryPolicy::default();
        let f = Failure::Status { status: 503, retry_after: None };
        for attempt in 1..p.max_attempts {
            let exp = p.base_delay * 2u32.pow(attempt - 1);
            let lo = p.delay(attempt, &f, 0.0).unwrap();
            let hi = p.delay(attempt, &f, 0.999_999).unwrap();
            assert_eq!(lo, exp.min(p.max_delay) / 2);
            assert!(hi <= exp.min(p.max_delay) && hi > lo, "attempt {attempt}: {lo:?}..{hi:?}");
        }
        let huge = RetryPolicy { max_attempts: 100, ..p.clone() };
        assert!(huge.delay(60, &f, 1.0).unwrap() <= p.max_delay);
    }

    #[test]
    fn what_is_retried() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(p.max_attempts, &Failure::Transport, 0.5), None);
        assert!(p.delay(1, &Failure::Timeout, 0.5).is_some());
        for status in [400, 401, 403, 404, 409, 412] {
            assert_eq!(p.delay(1, &Failure::Status { status, retry_after: None }, 0.5), None, "{status}");
        }
        assert_eq!(RetryPolicy::none().delay(1, &Failure::Transport, 0.5), None);
        // A refused connection is tried three times, not six.
        assert!(p.delay(2, &Failure::Connect, 0.5).is_some());
        assert_eq!(p.delay(3, &Failure::Connect, 0.5), None);
        assert!(p.delay(3, &Failure::Transport, 0.5).is_some());
    }

    #[test]
    fn a_write_that_may_have_landed_is_not_resent_when_told() {
        let p = RetryPolicy { resend_unanswered_writes: false, ..RetryPolicy::default() };
        let status = |status| Failure::Status { status, retry_after: Some(Duration::from_secs(1)) };
        for lost in [Failure::Transport, Failure::Timeout, status(500), status(503), status(504)] {
            assert!(lost.may_have_landed(), "{lost:?}");
            assert_eq!(p.write_delay(1, &lost, 0.5), None, "{lost:?}");
            assert!(RetryPolicy::default().write_delay(1, &lost, 0.5).is_some(), "{lost:?}");
        }
        // Refused or never sent: sent again as before.
        assert_eq!(p.write_delay(1, &status(429), 0.5), Some(Duration::from_secs(1)));
        assert!(p.write_delay(1, &Failure::Connect, 0.5).is_some());
        assert!(!status(429).may_have_landed() && !Failure::Connect.may_have_landed());
    }
}
