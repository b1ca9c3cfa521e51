//! Rate limits: per API key, and per client IP for anonymous catalog reads (GCRA, `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::{ApiKeyId, ErrorCode};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::settings::RateLimitSettings;

/// Forget idle keys every this many checks, so the tables stay small.
const RETAIN_EVERY: u64 = 4096;

pub struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<ApiKeyId>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

fn quota(per_second: u32, burst: u32) -> Option<Quota> {
    Some(Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?))
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let enabled = settings.enabled;
        Self {
            per_key: quota(settings.per_key_per_second, settings.per_key_burst)
                .filter(|_| enabled)
                .map(RateLimiter::keyed),
            per_ip: quota(
                settings.anonymous_per_ip_per_second,
                settings.anonymous_per_ip_burst,
            )
            .filter(|_| enabled)
            .map(RateLimiter::keyed),
            checks: AtomicU64::new(0),
        }
    }

    /// One request by this key.
    pub fn check_key(&self, key: ApiKeyId) -> Result<(), ApiError> {
        self.housekeeping();
        match &self.per_key {
            Some(limiter) => limiter.check_key(&key).map_err(|not_until| {
                exceeded(
                    not_until
                        .wait_time_from(DefaultClock::default().now())
                        .as_secs_f64(),
                )
            }),
            None => Ok(()),
        }
    }

    /// One anonymous request from this address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.housekeeping();
        match &self.per_ip {
            Some(limiter) => limiter.check_key(&ip).map_err(|not_until| {
                exceeded(
                    not_until
                        .wait_time_from(DefaultClock::default().now())
                        .as_secs_f64(),
                )
            }),
            None => Ok(()),
        }
    }

    fn housekeeping(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            if let Some(l) = &self.per_key {
                l.retain_recent();
            }
            if let Some(l) = &self.per_ip {
                l.retain_recent();
            }
        }
    }
}

fn exceeded(wait_secs: f64) -> ApiError {
    // Retry-After is in whole seconds; never tell a client 0.
    let secs = wait_secs.ceil().max(1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = secs as u64;
    ApiError {
        retry_after: Some(secs),
        ..ApiError::new(
            ErrorCode::RateLimitExceeded,
            format!("Too many requests. Retry after {secs} s."),
        )
    }
}
