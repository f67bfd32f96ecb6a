//! Retry policy: a per-record attempt budget and exponential backoff with full jitter.

use crate::error::OptionError;
use crate::limits::whole_in_range;

pub const DEFAULT_MAX_ATTEMPTS: usize = 8;
pub const DEFAULT_BASE_DELAY_MS: usize = 100;
pub const DEFAULT_MAX_DELAY_MS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per record, the first included.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS as u32,
            base_delay_ms: DEFAULT_BASE_DELAY_MS as u64,
            max_delay_ms: DEFAULT_MAX_DELAY_MS as u64,
        }
    }
}

impl RetryPolicy {
    pub fn new(max_attempts: Option<f64>, base_delay_ms: Option<f64>, max_delay_ms: Option<f64>) -> Result<Self, OptionError> {
        let policy = Self {
            max_attempts: whole_in_range("maxAttempts", max_attempts, DEFAULT_MAX_ATTEMPTS, 1, 100)? as u32,
            base_delay_ms: whole_in_range("retryBaseDelayMs", base_delay_ms, DEFAULT_BASE_DELAY_MS, 0, 600_000)? as u64,
            max_delay_ms: whole_in_range("retryMaxDelayMs", max_delay_ms, DEFAULT_MAX_DELAY_MS, 0, 3_600_000)? as u64,
        };
        if policy.max_delay_ms < policy.base_delay_ms {
            return Err(OptionError::new("retryMaxDelayMs", "must be at least retryBaseDelayMs"));
        }
        Ok(policy)
    }

    /// The delay before the next try after `attempts` tries: uniform in
    /// `0..=min(cap, base * 2^(attempts-1))` (full jitter), from `random`.
    pub fn backoff_ms(&self, attempts: u32, random: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(40);
        let ceiling = self.base_delay_ms.saturating_mul(1u64 << exp).min(self.max_delay_ms);
        u64::from(random) % (ceiling + 1)
    }

    pub fn has_budget(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps_and_is_jittered() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_ms(1, u32::MAX), u64::from(u32::MAX) % 101);
        assert!(p.backoff_ms(1, 12345) <= 100);
        assert!(p.backoff_ms(3, u32::MAX) <= 400);
        assert!((0u32..1000).all(|r| p.backoff_ms(30, r.wrapping_mul(7919)) <= 5_000));
        assert_eq!(p.backoff_ms(30, 5_000), 5_000);
        assert_eq!(p.backoff_ms(30, 0), 0);
        let distinct: std::collections::HashSet<u64> = (0u32..100).map(|r| p.backoff_ms(5, r.wrapping_mul(2654435761))).collect();
        assert!(distinct.len() > 50, "jitter spreads delays");
    }

    #[test]
    fn budget_counts_the_first_try() {
        let p = RetryPolicy::new(Some(1.0), None, None).unwrap();
        assert!(!p.has_budget(1));
        let p = RetryPolicy::default();
        assert!(p.has_budget(7) && !p.has_budget(8));
        assert_eq!(RetryPolicy::new(Some(0.0), None, None).unwrap_err().option, "maxAttempts");
        assert!(RetryPolicy::new(None, Some(500.0), Some(100.0)).is_err());
    }
}
