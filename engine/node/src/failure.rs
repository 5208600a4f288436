//! Why a node failed, whether to try again, and when.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The classes of failure. Only transient and infrastructure failures are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// Connection reset, HTTP 5xx, a timeout: likely to pass on retry.
    Transient,
    /// The host, the container or the process died (OOM kill, lost node).
    Infrastructure,
    /// The machine is being taken away (spot notice); the node is not at fault.
    Preemption,
    /// Invalid configuration, an engine rejecting its arguments: retrying changes nothing.
    Permanent,
    /// Stopped by the user.
    Cancelled,
}

impl FailureClass {
    pub fn name(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Infrastructure => "infrastructure",
            Self::Preemption => "preemption",
            Self::Permanent => "permanent",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn retriable(self) -> bool {
        matches!(self, Self::Transient | Self::Infrastructure)
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Transient,
            Self::Infrastructure,
            Self::Preemption,
            Self::Permanent,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|c| c.name() == s)
    }
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub class: FailureClass,
    pub message: String,
}

impl Failure {
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// Classifies an error message from the outside world (an HTTP client, the OS).
    pub fn classify(message: impl Into<String>) -> Self {
        let message = message.into();
        let m = message.to_ascii_lowercase();
        let class = if [
            "connection reset",
            "connection refused",
            "timed out",
            "timeout",
            "broken pipe",
            "503",
            "502",
            "500 internal",
            "temporarily unavailable",
        ]
        .iter()
        .any(|p| m.contains(p))
        {
            FailureClass::Transient
        } else if [
            "out of memory",
            "oom",
            "killed",
            "no space left",
            "container exited",
            "host unreachable",
        ]
        .iter()
        .any(|p| m.contains(p))
        {
            FailureClass::Infrastructure
        } else {
            FailureClass::Permanent
        };
        Self { class, message }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failure: {}", self.class.name(), self.message)
    }
}

/// Attempts and exponential backoff with jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts whose cluster job was preempted (the scheduler took its node for other
    /// work; not this build's machine being taken away) run again at once, this many times
    /// at most, without counting against `attempts`.
    pub preemptions: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            preemptions: 10,
        }
    }
}

impl RetryPolicy {
    /// Whether attempt `attempt` (1-based) that failed this way is followed by another.
    pub fn retry(&self, attempt: u32, f: &Failure) -> bool {
        f.class.retriable() && attempt < self.attempts
    }

    /// The wait before attempt `attempt + 1`: first · 2^(attempt-1), capped, with ±25 % jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base =
            self.first_backoff.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let base = base.min(self.max_backoff.as_secs_f64());
        let jitter = rand::rng().random_range(0.75..=1.25);
        Duration::from_secs_f64(base * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_messages() {
        assert_eq!(
            Failure::classify("Connection reset by peer").class,
            FailureClass::Transient
        );
        assert_eq!(
            Failure::classify("HTTP 503 Service Unavailable").class,
            FailureClass::Transient
        );
        assert_eq!(
            Failure::classify("container exited with code 137 (OOM killed)").class,
            FailureClass::Infrastructure
        );
        assert_eq!(
            Failure::classify("unrecognized arguments: --bogus").class,
            FailureClass::Permanent
        );
    }

    #[test]
    fn only_retriable_classes_retry_and_attempts_are_bounded() {
        let p = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        let t = Failure::new(FailureClass::Transient, "x");
        assert!(p.retry(1, &t) && p.retry(2, &t) && !p.retry(3, &t));
        assert!(!p.retry(1, &Failure::new(FailureClass::Permanent, "x")));
        assert!(!p.retry(1, &Failure::new(FailureClass::Preemption, "x")));
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let p = RetryPolicy {
            attempts: 10,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let b1 = p.backoff(1).as_secs_f64();
            let b3 = p.backoff(3).as_secs_f64();
            let b9 = p.backoff(9).as_secs_f64();
            assert!((0.75..=1.25).contains(&b1), "{b1}");
            assert!((3.0..=5.0).contains(&b3), "{b3}");
            assert!((7.5..=12.5).contains(&b9), "{b9}");
        }
    }
}
