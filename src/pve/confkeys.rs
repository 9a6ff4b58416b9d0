//! The CT config keys (`$confdesc`, pve-container src/PVE/LXC/Config.pm) and their value checks.
//!
//! Two checks exist in Proxmox and both are here: `check_file_value` is what the config file
//! parser does (`check_type`: types and formats only, booleans normalised), `verify_param` is
//! the API/CLI schema check (also ranges, enums, patterns, lengths) with JSONSchema's messages.

use crate::pve::propstr::{self, Check, Format, Key, Kind};

/// Value type of a config key.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    Bool,
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number {
        min: f64,
        max: f64,
    },
    Enum(&'static [&'static str]),
    Str {
        check: Option<Check>,
        pattern: Option<fn(&str) -> bool>,
        max_len: Option<usize>,
    },
    Prop(&'static Format),
}

const fn s(check: Option<Check>, max_len: Option<usize>) -> Type {
    Type::Str {
        check,
        pattern: None,
        max_len,
    }
}

pub const ARCHES: &[&str] = &["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"];
pub const OSTYPES: &[&str] = &[
    "debian",
    "devuan",
    "ubuntu",
    "centos",
    "fedora",
    "opensuse",
    "archlinux",
    "alpine",
    "gentoo",
    "nixos",
    "unmanaged",
];
pub const LOCKS: &[&str] = &[
    "backup",
    "create",
    "destroyed",
    "disk",
    "fstrim",
    "migrate",
    "mounted",
    "rollback",
    "snapshot",
    "snapshot-delete",
];

/// Highest index + 1 of the numbered key families.
pub const MAX_MOUNT_POINTS: u32 = 256;
pub const MAX_NETWORKS: u32 = 32;
pub const MAX_DEVICES: u32 = 256;
pub const MAX_UNUSED: u32 = 256;

const fn key(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        optional: true,
    }
}

const MP_COMMON: [Key; 9] = [
    Key {
        name: "volume",
        kind: Kind::Str(Some(verify_mp_string)),
        optional: false,
    },
    key("acl", Kind::Bool),
    key("idmap", Kind::Str(Some(verify_idmap))),
    key("mountoptions", Kind::Str(Some(verify_mountoptions))),
    key("quota", Kind::Bool),
    key("replicate", Kind::Bool),
    key("ro", Kind::Bool),
    key("shared", Kind::Bool),
    key("size", Kind::Str(Some(verify_disk_size))),
];

pub static ROOTFS_FORMAT: Format = Format {
    default_key: Some("volume"),
    keys: &MP_COMMON,
};

pub static MP_FORMAT: Format = Format {
    default_key: Some("volume"),
    keys: &[
        MP_COMMON[0],
        MP_COMMON[1],
        MP_COMMON[2],
        MP_COMMON[3],
        MP_COMMON[4],
        MP_COMMON[5],
        MP_COMMON[6],
        MP_COMMON[7],
        MP_COMMON[8],
        key("backup", Kind::Bool),
        key("keepattrs", Kind::Bool),
        Key {
            name: "mp",
            kind: Kind::Str(Some(verify_mp_string)),
            optional: false,
        },
    ],
};

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

pub static FEATURES_FORMAT: Format = Format {
    default_key: None,
    keys: &[
        key("force_rw_sys", Kind::Bool),
        key("fuse", Kind::Bool),
        key("keyctl", Kind::Bool),
        key("mknod", Kind::Bool),
        key("mount", Kind::Str(None)),
        key("nesting", Kind::Bool),
    ],
};

pub static DEV_FORMAT: Format = Format {
    default_key: Some("path"),
    keys: &[
        key("path", Kind::Str(Some(verify_dev_string))),
        key("deny-write", Kind::Bool),
        key(
            "gid",
            Kind::Int {
                min: Some(0),
                max: None,
            },
        ),
        key("mode", Kind::Str(Some(verify_mode))),
        key(
            "uid",
            Kind::Int {
                min: Some(0),
                max: None,
            },
        ),
    ],
};

pub static UNUSED_FORMAT: Format = Format {
    default_key: Some("volume"),
    keys: &[Key {
        name: "volume",
        kind: Kind::Str(None),
        optional: false,
    }],
};

/// The type of `key`, including the numbered families (`mp0`..`mp255`, `net0`..`net31`, ...).
/// `None` means Proxmox would say `unknown setting '<key>'`.
pub fn lookup(key: &str) -> Option<Type> {
    let int = |min, max| Type::Int { min, max };
    let t = match key {
        "arch" => Type::Enum(ARCHES),
        "ostype" => Type::Enum(OSTYPES),
        "cmode" => Type::Enum(&["shell", "console", "tty"]),
        "lock" => Type::Enum(LOCKS),
        "console" | "debug" | "onboot" | "protection" | "template" | "unprivileged" => Type::Bool,
        "tty" => int(Some(0), Some(6)),
        "cores" => int(Some(1), Some(8192)),
        "cpulimit" => Type::Number {
            min: 0.0,
            max: 8192.0,
        },
        "cpuunits" => int(Some(0), Some(500_000)),
        "memory" => int(Some(16), None),
        "swap" => int(Some(0), None),
        "snaptime" => int(None, None),
        "hostname" => s(Some(verify_dns_name), Some(255)),
        "description" => s(None, Some(8192)),
        "searchdomain" => s(Some(verify_dns_name_list), None),
        "nameserver" => s(Some(verify_ip_list), None),
        "timezone" => s(Some(verify_timezone), None),
        "parent" => s(Some(verify_configid), Some(40)),
        "hookscript" => s(Some(verify_volume_id), None),
        "tags" => s(Some(verify_tag_list), None),
        "startup" => s(Some(verify_startup), None),
        "entrypoint" => Type::Str {
            check: None,
            pattern: Some(entrypoint_pattern),
            max_len: None,
        },
        "env" => Type::Str {
            check: None,
            pattern: Some(env_pattern),
            max_len: None,
        },
        "rootfs" => Type::Prop(&ROOTFS_FORMAT),
        "features" => Type::Prop(&FEATURES_FORMAT),
        _ => return lookup_numbered(key),
    };
    Some(t)
}

fn lookup_numbered(key: &str) -> Option<Type> {
    let split = key.find(|c: char| c.is_ascii_digit())?;
    let (family, idx) = key.split_at(split);
    // No leading zeros: `mp01` is not `mp1`.
    if idx.len() > 1 && idx.starts_with('0') {
        return None;
    }
    let idx: u32 = idx.parse().ok()?;
    match family {
        "mp" if idx < MAX_MOUNT_POINTS => Some(Type::Prop(&MP_FORMAT)),
        "net" if idx < MAX_NETWORKS => Some(Type::Prop(&NET_FORMAT)),
        "dev" if idx < MAX_DEVICES => Some(Type::Prop(&DEV_FORMAT)),
        "unused" if idx < MAX_UNUSED => Some(Type::Prop(&UNUSED_FORMAT)),
        _ => None,
    }
}

/// The config file parser's check (`PVE::LXC::Config::check_type`): returns the normalised value
/// or Proxmox's message. Ranges and enums are not checked here, only types and formats.
pub fn check_file_value(key: &str, value: &str) -> Result<String, String> {
    let ty = lookup(key).ok_or_else(|| format!("unknown setting '{key}'"))?;
    if value.contains(['\n', '\r']) {
        return Err("property contains a line feed".into());
    }
    match ty {
        Type::Bool => match value {
            "1" => Ok("1".into()),
            "0" => Ok("0".into()),
            v if ["on", "yes", "true"].contains(&v.to_ascii_lowercase().as_str()) => Ok("1".into()),
            v if ["off", "no", "false"].contains(&v.to_ascii_lowercase().as_str()) => {
                Ok("0".into())
            }
            _ => Err(format!("type check ('boolean') failed - got '{value}'")),
        },
        Type::Int { .. } => {
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                // Perl's int() drops leading zeros.
                let t = value.trim_start_matches('0');
                Ok(if t.is_empty() {
                    "0".into()
                } else {
                    t.to_string()
                })
            } else {
                Err(format!("type check ('integer') failed - got '{value}'"))
            }
        }
        Type::Number { .. } => {
            let ok = match value.split_once('.') {
                Some((a, b)) => {
                    !a.is_empty()
                        && !b.is_empty()
                        && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
                }
                None => !value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()),
            };
            if ok {
                Ok(value.to_string())
            } else {
                Err(format!("type check ('number') failed - got '{value}'"))
            }
        }
        Type::Enum(_) => Ok(value.to_string()),
        Type::Str { check, .. } => {
            if let Some(check) = check {
                check(value)?;
            }
            Ok(value.to_string())
        }
        Type::Prop(fmt) => {
            fmt.parse(value).map_err(|e| e.to_string())?;
            Ok(value.to_string())
        }
    }
}

/// The API/CLI schema check of one parameter (JSONSchema `check_prop`): `Err` carries the text
/// Proxmox prints after `<param>: `. Booleans must already be `0`/`1` (the CLI converts them).
pub fn verify_param(key: &str, value: &str) -> Result<(), String> {
    let ty = lookup(key).ok_or_else(|| {
        "property is not defined in schema and the schema does not allow additional properties"
            .to_string()
    })?;
    verify_type(key, &ty, value)
}

/// Checks `value` against `ty` with JSONSchema's messages (type, format, pattern, length, range,
/// enum, in that order).
pub fn verify_type(key: &str, ty: &Type, value: &str) -> Result<(), String> {
    match ty {
        Type::Bool => {
            if value != "0" && value != "1" {
                return Err(format!("type check ('boolean') failed - got '{value}'"));
            }
        }
        Type::Int { min, max } => {
            if !propstr::is_integer(value) {
                return Err(format!("type check ('integer') failed - got '{value}'"));
            }
            let n: i128 = value.parse().unwrap_or(i128::MAX);
            if let Some(max) = max.filter(|m| n > i128::from(*m)) {
                return Err(format!("value must have a maximum value of {max}"));
            }
            if let Some(min) = min.filter(|m| n < i128::from(*m)) {
                return Err(format!("value must have a minimum value of {min}"));
            }
        }
        Type::Number { min, max } => {
            if !propstr::is_number(value) {
                return Err(format!("type check ('number') failed - got '{value}'"));
            }
            let n: f64 = value.parse().unwrap_or(f64::NAN);
            if n > *max {
                return Err(format!("value must have a maximum value of {max}"));
            }
            if n < *min {
                return Err(format!("value must have a minimum value of {min}"));
            }
        }
        Type::Enum(list) => {
            if !list.contains(&value) {
                return Err(format!(
                    "value '{value}' does not have a value in the enumeration '{}'",
                    list.join(", ")
                ));
            }
        }
        Type::Str {
            check,
            pattern,
            max_len,
        } => {
            if let Some(check) = check {
                check(value).map_err(|e| format!("invalid format - {e}\n"))?;
            }
            if let Some(p) = pattern {
                if !p(value) {
                    return Err("value does not match the regex pattern".into());
                }
            }
            if let Some(max) = max_len.filter(|m| value.chars().count() > *m) {
                return Err(format!("value may only be {max} characters long"));
            }
        }
        Type::Prop(fmt) => {
            fmt.parse(value).map_err(|e| match e {
                propstr::PropStrError::Format { key: sub, msg } => {
                    format!("invalid format - format error\n{key}.{sub}: {msg}\n")
                }
                other => format!("invalid format - {other}\n"),
            })?;
        }
    }
    Ok(())
}

// ---- formats (pve-common JSONSchema.pm / pve-container Config.pm) ----

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

/// `PVE::Tools::split_list`: separators are `,`, `;`, whitespace and NUL.
pub fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn verify_dns_name_list(v: &str) -> Result<(), String> {
    split_list(v).try_for_each(verify_dns_name)
}

fn verify_ip_list(v: &str) -> Result<(), String> {
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

fn word_chars(v: &str, extra: &[u8]) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || extra.contains(&b))
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

/// `pve-lxc-mp-string`: no `/./`, `/../`, trailing `/.` or `/..`, leading `../`.
pub fn verify_mp_string(v: &str) -> Result<(), String> {
    let bad = v.contains("/./")
        || v.contains("/../")
        || v.ends_with("/.")
        || v.ends_with("/..")
        || v.starts_with("../");
    if bad {
        Err(format!("{v} contains illegal character sequences"))
    } else {
        Ok(())
    }
}

fn verify_dev_string(v: &str) -> Result<(), String> {
    let dotdot = v.split('/').any(|c| c == "." || c == "..");
    if dotdot || !v.starts_with("/dev/") {
        Err(format!("{v} is not a valid device path"))
    } else {
        Ok(())
    }
}

fn verify_mode(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    if b.len() == 4 && b[0] == b'0' && b[1..].iter().all(|c| (b'0'..=b'7').contains(c)) {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

/// `disk-size`: `\d+(\.\d+)?[KMGT]?`.
pub fn parse_size(v: &str) -> Option<u64> {
    let (num, mult) = match v.chars().last()? {
        'K' => (&v[..v.len() - 1], 1u64 << 10),
        'M' => (&v[..v.len() - 1], 1 << 20),
        'G' => (&v[..v.len() - 1], 1 << 30),
        'T' => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    let ok = match num.split_once('.') {
        Some((a, b)) => {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        }
        None => !num.is_empty() && num.bytes().all(|c| c.is_ascii_digit()),
    };
    if !ok {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as u64)
}

/// `format_size`: the largest unit that represents `bytes` exactly (`0` prints as `0T`).
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0T".into();
    }
    let units = ["", "K", "M", "G", "T"];
    let (mut n, mut i) = (bytes, 0);
    while i < 4 && n % 1024 == 0 {
        n /= 1024;
        i += 1;
    }
    format!("{n}{}", units[i])
}

fn verify_disk_size(v: &str) -> Result<(), String> {
    parse_size(v)
        .map(|_| ())
        .ok_or_else(|| format!("value does not look like a valid disk size: {v}"))
}

fn verify_mountoptions(v: &str) -> Result<(), String> {
    const OPTS: &[&str] = &[
        "discard", "lazytime", "noatime", "nodev", "noexec", "nosuid",
    ];
    if v.split(';').all(|o| OPTS.contains(&o)) {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

/// `idmap=passthrough` or `[ug]:ct:host:count` entries separated by `;`.
fn verify_idmap(v: &str) -> Result<(), String> {
    if v == "passthrough" {
        return Ok(());
    }
    let entry_ok = |e: &str| {
        let f: Vec<&str> = e.split(':').collect();
        let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        f.len() == 4
            && (f[0] == "u" || f[0] == "g")
            && num(f[1])
            && num(f[2])
            && num(f[3])
            && !f[3].starts_with('0')
    };
    if v.split(';').all(entry_ok) {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

fn verify_configid(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid configuration ID '{v}'"))
    }
}

fn verify_volume_id(v: &str) -> Result<(), String> {
    match v.split_once(':') {
        Some((sid, name)) if !name.is_empty() && word_chars(sid, b"-.") => Ok(()),
        _ => Err(format!("unable to parse volume ID '{v}'")),
    }
}

/// `pve-tag`: `[a-z0-9_][a-z0-9_\-\+\.]*`, case-insensitive.
pub fn verify_tag(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let first = b
        .first()
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if first
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c))
    {
        Ok(())
    } else {
        Err("invalid characters in tag".into())
    }
}

fn verify_tag_list(v: &str) -> Result<(), String> {
    split_list(v).try_for_each(verify_tag)
}

/// Tags as Proxmox stores them: split, lowercased, sorted, deduplicated, `;`-joined.
pub fn normalize_tags(v: &str) -> String {
    let mut tags: Vec<String> = split_list(v).map(|t| t.to_ascii_lowercase()).collect();
    tags.sort();
    tags.dedup();
    tags.join(";")
}

fn verify_startup(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.split(',').filter(|p| !p.trim().is_empty()).all(|p| {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            digits(p)
                || p.strip_prefix("order=").is_some_and(digits)
                || p.strip_prefix("up=").is_some_and(digits)
                || p.strip_prefix("down=").is_some_and(digits)
        });
    if ok {
        Ok(())
    } else {
        Err("unable to parse startup options".into())
    }
}

fn verify_timezone(v: &str) -> Result<(), String> {
    if v == "host" || v == "UTC" {
        return Ok(());
    }
    let tab = std::fs::read_to_string("/usr/share/zoneinfo/zone.tab").unwrap_or_default();
    let known = tab
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.split('\t').nth(2) == Some(v));
    if known {
        Ok(())
    } else {
        Err(format!("invalid time zone '{v}'"))
    }
}

/// Characters `entrypoint` and env values may not contain: `\x00-\x08`, `\x0a-\x1f`, `\x7f`.
fn forbidden_ctl(c: char) -> bool {
    matches!(c, '\x00'..='\x08' | '\x0a'..='\x1f' | '\x7f')
}

fn entrypoint_pattern(v: &str) -> bool {
    !v.is_empty() && !v.chars().any(forbidden_ctl)
}

/// `(?:\w+=[^ctl]*)(?:\0\w+=[^ctl]*)*` where ctl excludes TAB.
fn env_pattern(v: &str) -> bool {
    v.split('\0').all(|e| match e.split_once('=') {
        Some((name, val)) => word_chars(name, b"") && !val.chars().any(forbidden_ctl),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_families() {
        assert!(lookup("mp0").is_some() && lookup("mp255").is_some() && lookup("mp256").is_none());
        assert!(lookup("net31").is_some() && lookup("net32").is_none());
        assert!(lookup("mp01").is_none() && lookup("foo0").is_none() && lookup("mp").is_none());
    }

    #[test]
    fn file_check_normalises_and_names_errors() {
        assert_eq!(check_file_value("onboot", "yes").unwrap(), "1");
        assert_eq!(check_file_value("memory", "0512").unwrap(), "512");
        assert_eq!(
            check_file_value("foo", "1").unwrap_err(),
            "unknown setting 'foo'"
        );
        assert_eq!(
            check_file_value("memory", "lots").unwrap_err(),
            "type check ('integer') failed - got 'lots'"
        );
        // The file parser does not check enums or ranges.
        assert!(check_file_value("ostype", "redhat").is_ok());
        assert!(check_file_value("memory", "1").is_ok());
        assert!(check_file_value("mp0", "/srv/a").is_err());
        assert!(check_file_value("mp0", "/srv/a,mp=/data").is_ok());
    }

    #[test]
    fn param_check_messages() {
        assert_eq!(
            verify_param("memory", "8").unwrap_err(),
            "value must have a minimum value of 16"
        );
        assert_eq!(
            verify_param("cores", "9000").unwrap_err(),
            "value must have a maximum value of 8192"
        );
        assert_eq!(
            verify_param("arch", "x86").unwrap_err(),
            "value 'x86' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'"
        );
        assert_eq!(
            verify_param("hostname", "a_b").unwrap_err(),
            "invalid format - value does not look like a valid DNS name\n"
        );
        assert_eq!(
            verify_param("mp0", "/srv/a").unwrap_err(),
            "invalid format - format error\nmp0.mp: property is missing and it is not optional\n"
        );
        assert!(verify_param("rootfs", "/srv/a,ro=1,idmap=passthrough").is_ok());
        assert!(verify_param("rootfs", "/srv/a,mp=/x").is_err());
        assert!(verify_param("cpulimit", "1.5").is_ok());
        assert!(verify_param("env", "A=1\0B_2=x y").is_ok());
        assert!(verify_param("env", "A-B=1").is_err());
        assert!(verify_param("entrypoint", "/init a\tb").is_ok());
        assert!(verify_param("entrypoint", "/init\n").is_err());
        assert!(verify_param(
            "net0",
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24"
        )
        .is_ok());
        assert!(verify_param("net0", "name=eth0,hwaddr=01:00:00:00:00:00").is_err());
        assert!(verify_param("tags", "proxmox-lxcri;b").is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("8X"), None);
        assert_eq!(format_size(8 << 30), "8G");
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(0), "0T");
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(normalize_tags("b,A; a c"), "a;b;c");
    }
}
