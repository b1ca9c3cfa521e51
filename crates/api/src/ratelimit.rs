//! Rate limits (GCRA). Who a request counts against depends on what is proven about it:
//!
//! - a request whose key is proven counts against that key (`per_key_*`, `governor`);
//! - every other request (no key, or a key not proven yet) is anonymous: it counts against the
//!   client's address (`anonymous_per_ip_*`), **before** the key is looked up, so unknown keys
//!   cannot buy database queries past that limit; a key that is then proven gets the address's
//!   cell back and is charged to the key instead;
//! - a request with a key also takes a cell of its address's failed-authentication budget
//!   (`failed_auth_per_ip_*`, much smaller), given back unless the key turns out invalid. Once
//!   that budget is spent, every request with a key from the address is answered 429 before any
//!   lookup: until it is looked up, a valid key cannot be told from a guess.
//!
//! Over a limit: 429 `rate_limit_exceeded` with `Retry-After`. The per-address tables have a
//! fixed ceiling ([`MAX_CLIENTS`]); see [`addresses`].

mod addresses;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use domain::{ApiKeyId, ErrorCode};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use self::addresses::AddressLimiter;
use crate::error::ApiError;
use crate::settings::RateLimitSettings;

/// Forget idle keys and addresses every this many checks, so the tables stay small.
const RETAIN_EVERY: u64 = 4096;

/// Most client addresses each per-address table remembers (about 4 MB of table at most).
pub const MAX_CLIENTS: usize = 65_536;

pub struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<ApiKeyId>>,
    per_ip: Option<AddressLimiter>,
    failed_auth: Option<AddressLimiter>,
    checks: AtomicU64,
}

fn quota(per_second: u32, burst: u32) -> Option<Quota> {
    Some(Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?))
}

/// `per_period` requests per `period` with bursts of `burst`, per address; `None` if either is 0.
fn per_address(period: Duration, per_period: u32, burst: u32) -> Option<AddressLimiter> {
    (per_period > 0 && burst > 0)
        .then(|| AddressLimiter::new(period / per_period, burst, MAX_CLIENTS))
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let enabled = settings.enabled;
        Self {
            per_key: quota(settings.per_key_per_second, settings.per_key_burst)
                .filter(|_| enabled)
                .map(RateLimiter::keyed),
            per_ip: per_address(
                Duration::from_secs(1),
                settings.anonymous_per_ip_per_second,
                settings.anonymous_per_ip_burst,
            )
            .filter(|_| enabled),
            failed_auth: per_address(
                Duration::from_secs(60),
                settings.failed_auth_per_ip_per_minute,
                settings.failed_auth_per_ip_burst,
            )
            .filter(|_| enabled),
            checks: AtomicU64::new(0),
        }
    }

    /// One request by this (proven) key.
    pub fn check_key(&self, key: ApiKeyId) -> Result<(), ApiError> {
        self.housekeeping();
        match &self.per_key {
            Some(limiter) => limiter.check_key(&key).map_err(|not_until| {
                exceeded(not_until.wait_time_from(DefaultClock::default().now()))
            }),
            None => Ok(()),
        }
    }

    /// One anonymous request from this address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.housekeeping();
        match &self.per_ip {
            Some(limiter) => limiter.take(ip, Instant::now()).map_err(exceeded),
            None => Ok(()),
        }
    }

    /// A request with a key from `ip` (if known), before the key is looked up: charged as an
    /// anonymous request and as a failed authentication until [`Unproven`] says otherwise.
    pub fn before_authentication(&self, ip: Option<IpAddr>) -> Result<Unproven<'_>, ApiError> {
        self.housekeeping();
        if let Some(ip) = ip {
            let now = Instant::now();
            if let Some(limiter) = &self.failed_auth {
                limiter.take(ip, now).map_err(|wait| {
                    tracing::info!(%ip, "too many failed authentications");
                    ApiError {
                        message: format!(
                            "Too many failed authentications from your address. Retry after {} s.",
                            whole_seconds(wait)
                        )
                        .into(),
                        ..exceeded(wait)
                    }
                })?;
            }
            if let Some(limiter) = &self.per_ip
                && let Err(wait) = limiter.take(ip, now)
            {
                if let Some(failed) = &self.failed_auth {
                    failed.give_back(ip);
                }
                return Err(exceeded(wait));
            }
        }
        Ok(Unproven { limits: self, ip })
    }

    fn housekeeping(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            if let Some(l) = &self.per_key {
                l.retain_recent();
            }
            let now = Instant::now();
            for l in [&self.per_ip, &self.failed_auth].into_iter().flatten() {
                l.forget_idle(now);
            }
        }
    }
}

/// A request charged to its address while its key is looked up; say how that went.
#[must_use = "say whether the key was proven, invalid or not looked up"]
pub struct Unproven<'a> {
    limits: &'a RateLimits,
    ip: Option<IpAddr>,
}

impl Unproven<'_> {
    /// The key is valid: the address gets both cells back and the key is charged instead.
    pub fn proven(self, key: ApiKeyId) -> Result<(), ApiError> {
        self.give_back(true);
        self.limits.check_key(key)
    }

    /// The key is malformed, unknown, revoked or expired: both cells stay spent.
    pub fn failed(self) {}

    /// The key could not be looked up (the database failed): not the client's failure, but
    /// still an anonymous request.
    pub fn not_looked_up(self) {
        self.give_back(false);
    }

    fn give_back(&self, anonymous_cell_too: bool) {
        let Some(ip) = self.ip else { return };
        if let Some(l) = &self.limits.failed_auth {
            l.give_back(ip);
        }
        if let Some(l) = self.limits.per_ip.as_ref().filter(|_| anonymous_cell_too) {
            l.give_back(ip);
        }
    }
}

/// Retry-After is in whole seconds; never tell a client 0.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

fn exceeded(wait: Duration) -> ApiError {
    let secs = whole_seconds(wait);
    ApiError {
        retry_after: Some(secs),
        ..ApiError::new(
            ErrorCode::RateLimitExceeded,
            format!("Too many requests. Retry after {secs} s."),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
    }
}
