//! A rate limit per client address (GCRA) whose table has a fixed ceiling, so a flood from many
//! addresses costs bounded memory.
//!
//! IPv6 clients are counted per /64 (one host usually holds a whole /64, so counting single
//! addresses would give it 2^64 budgets); IPv4 (and IPv4-mapped IPv6) per address. Unlike
//! `governor`'s keyed limiter this one can give a cell back: a request is charged to its address
//! before its key is looked up and refunded once the key is proven.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What an address is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    /// The first four segments: the /64.
    V6([u16; 4]),
}

impl Client {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                Self::V6([a, b, c, d])
            }
        }
    }
}

/// `burst` requests at once, then one per `interval`, per client.
pub(super) struct AddressLimiter {
    interval: Duration,
    /// `burst × interval`: how far ahead of now a client's schedule may run.
    tolerance: Duration,
    /// Most clients remembered at once.
    capacity: usize,
    /// Each client's theoretical arrival time: when its budget is whole again.
    table: Mutex<HashMap<Client, Instant>>,
}

impl AddressLimiter {
    pub(super) fn new(interval: Duration, burst: u32, capacity: usize) -> Self {
        Self {
            interval,
            tolerance: interval.saturating_mul(burst),
            capacity: capacity.max(2),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<Client, Instant>> {
        // The table holds plain numbers; one a panicking thread left behind is still usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one request's cell from `ip`'s budget; `Err(wait)` if none is left.
    pub(super) fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let client = Client::of(ip);
        let mut table = self.table();
        let known = table.get(&client).copied();
        let next = known.map_or(now, |tat| tat.max(now)) + self.interval;
        let ahead = next.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if known.is_none() && table.len() >= self.capacity {
            self.make_room(&mut table, now);
        }
        table.insert(client, next);
        Ok(())
    }

    /// Gives back a cell [`take`](Self::take) took from `ip`.
    pub(super) fn give_back(&self, ip: IpAddr) {
        if let Some(tat) = self.table().get_mut(&Client::of(ip)) {
            *tat = tat.checked_sub(self.interval).unwrap_or(*tat);
        }
    }

    /// Forgets clients whose budget is whole again (remembering them changes nothing).
    pub(super) fn forget_idle(&self, now: Instant) {
        let mut table = self.table();
        table.retain(|_, tat| *tat > now);
        let room = self.capacity.min(table.len() * 2);
        table.shrink_to(room);
    }

    /// The table is full: forget idle clients and, if that is not enough, arbitrary ones until
    /// half of it is free (so this runs at most once per `capacity / 2` new clients). A
    /// forgotten client starts again with a whole budget: under a flood from more addresses
    /// than the table holds, limits loosen rather than memory growing.
    fn make_room(&self, table: &mut HashMap<Client, Instant>, now: Instant) {
        let keep = self.capacity / 2;
        let mut kept = 0;
        table.retain(|_, tat| {
            let stays = *tat > now && kept < keep;
            kept += usize::from(stays);
            stays
        });
        tracing::warn!(
            capacity = self.capacity,
            kept,
            "rate limit table full: forgot clients"
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let limiter = AddressLimiter::new(Duration::from_secs(1), 3, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take(v4(1), t0), Ok(()));
        }
        assert_eq!(limiter.take(v4(1), t0), Err(Duration::from_secs(1)));
        assert_eq!(limiter.take(v4(2), t0), Ok(()), "another client");
        let later = t0 + Duration::from_secs(1);
        assert_eq!(limiter.take(v4(1), later), Ok(()));
        assert!(limiter.take(v4(1), later).is_err());
    }

    #[test]
    fn a_cell_given_back_can_be_taken_again() {
        let limiter = AddressLimiter::new(Duration::from_secs(60), 2, 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(limiter.take(v4(1), t0), Ok(()));
            limiter.give_back(v4(1));
        }
        assert_eq!(limiter.take(v4(1), t0), Ok(()));
        assert_eq!(limiter.take(v4(1), t0), Ok(()));
        assert!(limiter.take(v4(1), t0).is_err());
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = AddressLimiter::new(Duration::from_secs(60), 1, 100);
        let t0 = Instant::now();
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        assert_eq!(limiter.take(host(1), t0), Ok(()));
        assert!(limiter.take(host(2), t0).is_err(), "same /64");
        let next_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert_eq!(limiter.take(next_64, t0), Ok(()));
        assert_eq!(limiter.take(v4(7), t0), Ok(()));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert!(limiter.take(mapped, t0).is_err(), "the same IPv4 client");
    }

    #[test]
    fn the_table_never_outgrows_its_capacity() {
        let limiter = AddressLimiter::new(Duration::from_secs(60), 5, 64);
        let t0 = Instant::now();
        for n in 0..10_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(n));
            assert_eq!(limiter.take(ip, t0), Ok(()));
            assert!(limiter.len() <= 64, "{} clients", limiter.len());
        }
        // The newest client is remembered and limited.
        let last = IpAddr::V4(Ipv4Addr::from(9_999u32));
        for _ in 0..4 {
            assert_eq!(limiter.take(last, t0), Ok(()));
        }
        assert!(limiter.take(last, t0).is_err());
    }

    #[test]
    fn idle_clients_are_forgotten() {
        let limiter = AddressLimiter::new(Duration::from_secs(1), 2, 100);
        let t0 = Instant::now();
        limiter.take(v4(1), t0).unwrap();
        limiter.take(v4(2), t0).unwrap();
        limiter.take(v4(2), t0).unwrap();
        limiter.forget_idle(t0 + Duration::from_millis(1500));
        assert_eq!(limiter.len(), 1, "v4(2) still owes half a second");
        limiter.forget_idle(t0 + Duration::from_secs(2));
        assert_eq!(limiter.len(), 0);
    }
}
