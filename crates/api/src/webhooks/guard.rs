//! Which URLs a webhook may target: `https` (or `http` when the operator allows it), and no
//! host that resolves to a loopback, private, link-local (cloud metadata), CGNAT or otherwise
//! non-public address unless the operator allows private networks.
//!
//! Checked when a webhook is created, and again at each delivery on the addresses the name
//! resolves to then ([`GuardedResolver`] is the delivery client's resolver, so the address
//! checked is the address connected to: a name that resolves to a public address at creation
//! and to `127.0.0.1` later, DNS rebinding, is refused at delivery).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// The longest a URL may be.
pub const MAX_URL_LEN: usize = 2048;
/// How long creation waits for a name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// `[webhooks]`'s target rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlGuard {
    pub allow_http: bool,
    pub allow_private_networks: bool,
}

/// Why an address is refused, if it is.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_link_local() {
        // 169.254/16, where the cloud metadata services answer (169.254.169.254).
        Some("a link-local or cloud metadata address")
    } else if ip.is_private() {
        Some("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if (a == 192 && b == 0 && ip.octets()[2] == 0) || (a == 198 && (18..20).contains(&b)) {
        Some("a reserved address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xfe00 == 0xfc00 {
        // Unique local addresses, among them AWS's metadata service (fd00:ec2::254).
        Some("a private address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64: the embedded IPv4 address decides.
        let [.., c, d] = ip.segments();
        let [c1, c2] = c.to_be_bytes();
        let [d1, d2] = d.to_be_bytes();
        refused_v4(Ipv4Addr::new(c1, c2, d1, d2))
    } else if ip.segments()[..6].iter().all(|&s| s == 0) {
        // IPv4-compatible (deprecated), e.g. ::127.0.0.1.
        Some("an IPv4-compatible address")
    } else {
        None
    }
}

impl UrlGuard {
    /// The URL if it may be a webhook's target as written (scheme, host, length, and a host
    /// that is an address must be allowed); else why not. Names are checked by [`Self::resolve`].
    pub fn parse(&self, raw: &str) -> Result<Url, String> {
        if raw.len() > MAX_URL_LEN {
            return Err(format!("`url` must be at most {MAX_URL_LEN} characters."));
        }
        let url = Url::parse(raw).map_err(|e| format!("`url` is not a URL: {e}."))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err("`url` must use https.".into()),
            _ => return Err("`url` must be an https URL.".into()),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("`url` must name a host.".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("`url` must not hold credentials; sign-in is the signature's job.".into());
        }
        if let Some(ip) = literal_ip(&url) {
            self.check(ip)?;
        }
        Ok(url)
    }

    /// Refuses an address the rules refuse.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        match refused_address(ip) {
            Some(what) if !self.allow_private_networks => Err(format!(
                "`url` points to {what} ({ip}), which webhooks may not target."
            )),
            _ => Ok(()),
        }
    }

    /// At creation: refuses a name that resolves to a refused address now. A name that does not
    /// resolve (yet) is accepted: every delivery checks again.
    pub async fn resolve(&self, url: &Url) -> Result<(), String> {
        if self.allow_private_networks || literal_ip(url).is_some() {
            return Ok(());
        }
        let Some(host) = url.host_str() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host.to_owned(), port));
        if let Ok(Ok(addrs)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            for addr in addrs {
                self.check(addr.ip())?;
            }
        }
        Ok(())
    }
}

/// The URL's host when it is an address (`[::1]` included).
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// The delivery client's resolver: the system's answer, refused whole if any address is
/// refused (a name with one private address is not a public target).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub guard: UrlGuard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                guard.check(addr.ip()).map_err(
                    |why| -> Box<dyn std::error::Error + Send + Sync> {
                        format!("{host} resolves to a refused address: {why}").into()
                    },
                )?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn refused(ip: &str) -> bool {
        refused_address(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn every_non_public_range_is_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "ff02::1",
        ] {
            assert!(refused(ip), "{ip} allowed");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(ip), "{ip} refused");
        }
    }

    #[test]
    fn urls_need_https_a_host_and_a_public_address() {
        let strict = UrlGuard::default();
        assert!(strict.parse("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pw@hooks.example.com/",
            "not a url",
        ] {
            assert!(strict.parse(bad).is_err(), "{bad} accepted");
        }
        let open = UrlGuard {
            allow_http: true,
            allow_private_networks: true,
        };
        assert!(open.parse("http://127.0.0.1:9/x").is_ok());
        assert!(
            open.parse(&format!("https://a.example/{}", "x".repeat(MAX_URL_LEN)))
                .is_err()
        );
    }

    #[actix_rt::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let strict = UrlGuard::default();
        let url = strict.parse("https://localhost:8443/hook").unwrap();
        let err = strict.resolve(&url).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }
}
