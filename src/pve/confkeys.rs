//! The CT config keys (`$confdesc`, pve-container src/PVE/LXC/Config.pm) and their value checks.
//!
//! Two checks exist in Proxmox and both are here: `check_file_value` is what the config file
//! parser does (`check_type`: types and formats only, booleans normalised), `verify_param` is
//! the API/CLI schema check (also ranges, enums, patterns, lengths) with JSONSchema's messages.
//!
//! One file per key family: `mounts.rs` (rootfs, mpN, unusedN), `net.rs` (netN, DNS and
//! addresses), `devices.rs` (devN), `strings.rs` (the other string keys); `check.rs` holds the
//! two checks. Each `*_FORMAT` is the family's property string (`propstr`).

use crate::pve::propstr::{Check, Format, Key, Kind};

mod check;
mod devices;
mod mounts;
mod net;
mod strings;

pub use check::{check_file_value, verify_param, verify_type};
pub use devices::DEV_FORMAT;
pub use mounts::{
    format_size, parse_size, verify_mp_string, MP_FORMAT, ROOTFS_FORMAT, UNUSED_FORMAT,
};
pub use net::{verify_dns_name, NET_FORMAT};
pub use strings::{normalize_tags, split_list, verify_tag};

use net::{verify_dns_name_list, verify_ip_list};
use strings::{
    entrypoint_pattern, env_pattern, verify_configid, verify_startup, verify_tag_list,
    verify_timezone, verify_volume_id,
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_families() {
        assert!(lookup("mp0").is_some() && lookup("mp255").is_some() && lookup("mp256").is_none());
        assert!(lookup("net31").is_some() && lookup("net32").is_none());
        assert!(lookup("mp01").is_none() && lookup("foo0").is_none() && lookup("mp").is_none());
    }
}
