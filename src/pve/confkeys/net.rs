//! `netN` and the network keys (`hostname`, `searchdomain`, `nameserver`): the property string
//! and the formats of addresses, names and interfaces (pve-common JSONSchema.pm, pve-container
//! src/PVE/LXC/Config.pm).

use super::key;
use super::strings::{split_list, word_chars};
use crate::pve::propstr::{Format, Key, Kind};

pub static NET_FORMAT: Format = Format {
    default_key: None,
    keys: &[
        Key {
            name: "name",
            kind: Kind::Str(Some(verify_ifname)),
            optional: false,
        },
        key("bridge", Kind::Str(Some(verify_bridge))),
        key("firewall", Kind::Bool),
        key("gw", Kind::Str(Some(verify_ipv4))),
        key("gw6", Kind::Str(Some(verify_ipv6))),
        key("host-managed", Kind::Bool),
        key("hwaddr", Kind::Str(Some(verify_mac))),
        key("ip", Kind::Str(Some(verify_ipv4_config))),
        key("ip6", Kind::Str(Some(verify_ipv6_config))),
        key("link_down", Kind::Bool),
        key(
            "mtu",
            Kind::Int {
                min: Some(64),
                max: Some(65535),
            },
        ),
        key("rate", Kind::Number),
        key(
            "tag",
            Kind::Int {
                min: Some(1),
                max: Some(4094),
            },
        ),
        key("trunks", Kind::Str(Some(verify_trunks))),
        key("type", Kind::Enum(&["veth"])),
    ],
};

fn is_dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

pub fn verify_dns_name(v: &str) -> Result<(), String> {
    if v.split('.').all(is_dns_label) {
        Ok(())
    } else {
        Err("value does not look like a valid DNS name".into())
    }
}

pub(super) fn verify_dns_name_list(v: &str) -> Result<(), String> {
    split_list(v).try_for_each(verify_dns_name)
}

pub(super) fn verify_ip_list(v: &str) -> Result<(), String> {
    for ip in split_list(v) {
        // Link-local addresses may carry an interface: fe80::1%eth0.
        let addr = ip.split_once('%').map_or(ip, |(a, _)| a);
        if addr.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("unable to parse IP address '{ip}'"));
        }
    }
    Ok(())
}

fn verify_ipv4(v: &str) -> Result<(), String> {
    v.parse::<std::net::Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| "value does not look like a valid IPv4 address".into())
}

fn verify_ipv6(v: &str) -> Result<(), String> {
    v.parse::<std::net::Ipv6Addr>()
        .map(|_| ())
        .map_err(|_| "value does not look like a valid IPv6 address".into())
}

fn cidr_ok<T: std::str::FromStr>(v: &str, min: u32, max: u32) -> bool {
    match v.split_once('/') {
        Some((a, m)) => {
            a.parse::<T>().is_ok() && m.parse::<u32>().is_ok_and(|m| m >= min && m <= max)
        }
        None => false,
    }
}

fn verify_ipv4_config(v: &str) -> Result<(), String> {
    if v == "dhcp" || v == "manual" || cidr_ok::<std::net::Ipv4Addr>(v, 8, 32) {
        Ok(())
    } else {
        Err("value does not look like a valid ipv4 network configuration".into())
    }
}

fn verify_ipv6_config(v: &str) -> Result<(), String> {
    if v == "auto" || v == "dhcp" || v == "manual" || cidr_ok::<std::net::Ipv6Addr>(v, 8, 128) {
        Ok(())
    } else {
        Err("value does not look like a valid ipv6 network configuration".into())
    }
}

fn verify_mac(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let hex2 = |p: &&str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit());
    // The I/G bit must not be set: the second hex digit is even.
    let unicast = v
        .as_bytes()
        .get(1)
        .is_some_and(|c| b"02468aceACE".contains(c));
    if parts.len() == 6 && parts.iter().all(hex2) && unicast {
        Ok(())
    } else {
        Err("value does not look like a valid unicast MAC address".into())
    }
}

fn verify_ifname(v: &str) -> Result<(), String> {
    if word_chars(v, b"-.") {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

fn verify_bridge(v: &str) -> Result<(), String> {
    if word_chars(v, b"-.") {
        Ok(())
    } else {
        Err(format!("invalid bridge ID '{v}'"))
    }
}

fn verify_trunks(v: &str) -> Result<(), String> {
    if v.split(';')
        .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}
