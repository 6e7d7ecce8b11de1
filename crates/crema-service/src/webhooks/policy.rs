//! Which addresses a webhook may be sent to (SSRF policy), and the retry schedule.
//!
//! The contract ("Webhooks"): the SOPHON service refuses private, loopback,
//! link-local and multicast targets; a LAN server must make this a policy
//! (default: refuse loopback, link-local, multicast and cloud metadata
//! addresses; private ranges only where the operator allows them).

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Longest wait between two delivery attempts (10 minutes), whatever `backoff_base` is.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Operator policy for webhook targets and deliveries (`Config::webhooks`).
///
/// Addresses are sorted into three classes ([`WebhookPolicy::check_ip`]):
///
/// - **always refused**, even inside an `allow` entry: unspecified (`0.0.0.0/8`,
///   `::`), broadcast and reserved `240.0.0.0/4`, multicast (`224.0.0.0/4`,
///   `ff00::/8`), deprecated IPv4-compatible IPv6 (`::/96`) and the cloud
///   metadata addresses `169.254.169.254`, `169.254.170.2`, `100.100.100.200`
///   and `fd00:ec2::254`. An allow-list entry that covers a metadata address
///   (say `169.254.0.0/16`) does not open it: those addresses hand out
///   credentials and are never a legitimate webhook receiver.
/// - **restricted**, refused unless inside an `allow` entry: loopback
///   (`127.0.0.0/8`, `::1`), link-local (`169.254.0.0/16`, `fe80::/10`),
///   private (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`,
///   site-local `fec0::/10`, NAT64 local-use `64:ff9b:1::/48`) and shared
///   CGNAT space (`100.64.0.0/10`).
/// - **public**: everything else, allowed.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are judged, and matched
/// against `allow`, as the IPv4 address they carry; NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002::/16`) addresses take the class of the IPv4 address they
/// embed when that class is stricter.
#[derive(Clone, Debug)]
pub struct WebhookPolicy {
    /// CIDRs the operator allows although restricted (e.g. `192.168.1.0/24`
    /// for a LAN receiver, `127.0.0.1/32` for tests); empty by default.
    pub allow: Vec<IpNet>,
    /// Attempts per delivery in all, first one included (default 8, at least 1).
    pub max_attempts: u32,
    /// Wait before the 2nd attempt; attempt n+1 waits about `backoff_base * 2^(n-1)`
    /// with equal jitter (half fixed, half random), capped at [`MAX_BACKOFF`]. Default 2 s.
    pub backoff_base: Duration,
    /// Limit on one attempt: name resolution, connecting, and the whole
    /// request and response each (default 10 s, more than zero).
    pub timeout: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why an address may not receive webhooks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {reason}")]
pub struct PolicyRefusal {
    /// The refused address.
    pub ip: IpAddr,
    /// What it is and why it is refused, in words.
    pub reason: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Always(&'static str),
    Restricted(&'static str),
    Public,
}

impl Class {
    /// The stricter of two classes.
    fn max(self, other: Class) -> Class {
        match (self, other) {
            (a @ Class::Always(_), _) | (_, a @ Class::Always(_)) => a,
            (a @ Class::Restricted(_), _) | (_, a @ Class::Restricted(_)) => a,
            _ => Class::Public,
        }
    }
}

const METADATA: &str = "a cloud metadata address (always refused)";

impl WebhookPolicy {
    /// Whether webhooks may be sent to `ip` (see the type's doc for the classes).
    ///
    /// Errors: a [`PolicyRefusal`] naming the address and its class.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), PolicyRefusal> {
        let ip = canonical(ip);
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6),
            IpAddr::V4(_) => None,
        };
        let class = match (ip, embedded) {
            (IpAddr::V4(v4), _) => class_v4(v4),
            (IpAddr::V6(v6), None) => class_v6(v6),
            (IpAddr::V6(v6), Some(v4)) => class_v6(v6).max(class_v4(v4)),
        };
        match class {
            Class::Public => Ok(()),
            Class::Always(reason) => Err(PolicyRefusal { ip, reason }),
            Class::Restricted(reason) => {
                let allowed = self
                    .allow
                    .iter()
                    .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&IpAddr::V4(v4))));
                if allowed { Ok(()) } else { Err(PolicyRefusal { ip, reason }) }
            }
        }
    }

    /// The wait after failed attempt `attempt` (1-based) before the next:
    /// `d = min(backoff_base * 2^(attempt-1), MAX_BACKOFF)`, then equal jitter,
    /// uniformly in `d/2 ..= d`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let d = self.backoff_base.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
        let half = d / 2;
        let mut r = [0u8; 8];
        let frac = if getrandom::fill(&mut r).is_ok() { u64::from_le_bytes(r) as f64 / u64::MAX as f64 } else { 0.5 };
        half + half.mul_f64(frac)
    }

    /// Checks the settings themselves.
    ///
    /// Errors: [`crate::ServiceError::Validation`] on `webhooks.max_attempts`
    /// (0) or `webhooks.timeout` (zero).
    pub fn validate(&self) -> crate::error::Result<()> {
        if self.max_attempts == 0 {
            return Err(crate::error::ServiceError::validation("webhooks.max_attempts", "must be at least 1"));
        }
        if self.timeout.is_zero() {
            return Err(crate::error::ServiceError::validation("webhooks.timeout", "must be more than zero"));
        }
        Ok(())
    }
}

/// IPv4-mapped IPv6 as the IPv4 address it carries; everything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn class_v4(ip: Ipv4Addr) -> Class {
    const METADATA_V4: [[u8; 4]; 3] = [[169, 254, 169, 254], [169, 254, 170, 2], [100, 100, 100, 200]];
    if METADATA_V4.contains(&ip.octets()) {
        Class::Always(METADATA)
    } else if in_v4(ip, [0, 0, 0, 0], 8) {
        Class::Always("unspecified or 'this network' (0.0.0.0/8, always refused)")
    } else if ip.is_multicast() {
        Class::Always("multicast (always refused)")
    } else if in_v4(ip, [240, 0, 0, 0], 4) {
        Class::Always("broadcast or reserved (240.0.0.0/4, always refused)")
    } else if ip.is_loopback() {
        Class::Restricted("loopback (refused unless in the webhook allow-list)")
    } else if ip.is_link_local() {
        Class::Restricted("link-local (refused unless in the webhook allow-list)")
    } else if ip.is_private() {
        Class::Restricted("private (refused unless in the webhook allow-list)")
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        Class::Restricted("shared CGNAT space 100.64.0.0/10 (refused unless in the webhook allow-list)")
    } else {
        Class::Public
    }
}

fn class_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Class::Always(METADATA)
    } else if ip.is_unspecified() {
        Class::Always("unspecified (::, always refused)")
    } else if ip.is_loopback() {
        Class::Restricted("loopback (refused unless in the webhook allow-list)")
    } else if s[..6] == [0; 6] {
        Class::Always("a deprecated IPv4-compatible IPv6 address (::/96, always refused)")
    } else if ip.is_multicast() {
        Class::Always("multicast (always refused)")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Class::Restricted("link-local (refused unless in the webhook allow-list)")
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 || s[..3] == [0x64, 0xff9b, 1] {
        Class::Restricted("private (refused unless in the webhook allow-list)")
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &WebhookPolicy, ip: &str) -> bool {
        p.check_ip(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn classes_and_allow_list() {
        let default = WebhookPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "169.254.1.1",
            "fe80::1",
            "224.0.0.1",
            "ff02::1",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "fc00::1",
            "fd12::1",
            "100.64.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "::127.0.0.1",
        ] {
            assert!(refused(&default, ip), "{ip} passed the default policy");
        }
        for ip in
            ["93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
        {
            assert!(!refused(&default, ip), "{ip} was refused");
        }
        let lan = WebhookPolicy {
            allow: vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
                "169.254.0.0/16".parse().unwrap(),
            ],
            ..WebhookPolicy::default()
        };
        for ip in ["127.0.0.1", "::ffff:127.0.0.1", "10.20.30.40", "169.254.1.1"] {
            assert!(!refused(&lan, ip), "{ip} refused although allowed");
        }
        for ip in ["127.0.0.2", "::1", "169.254.169.254", "::ffff:169.254.169.254", "192.168.0.1", "224.0.0.1"] {
            assert!(refused(&lan, ip), "{ip} passed");
        }
        let e = default.check_ip("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("metadata"), "{e}");
    }

    #[test]
    fn backoff_grows_with_equal_jitter_and_is_capped() {
        let p = WebhookPolicy { backoff_base: Duration::from_secs(2), ..WebhookPolicy::default() };
        for (attempt, full) in [(1u32, 2u64), (2, 4), (3, 8), (9, 512), (10, 600), (40, 600)] {
            for _ in 0..20 {
                let d = p.backoff(attempt);
                let full = Duration::from_secs(full);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} outside {:?}..={full:?}", full / 2);
            }
        }
    }
}
