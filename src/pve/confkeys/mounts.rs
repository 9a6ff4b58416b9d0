//! `rootfs`, `mpN` and `unusedN`: their property strings and the formats of their values
//! (pve-container src/PVE/LXC/Config.pm, pve-common JSONSchema.pm).

use super::key;
use crate::pve::propstr::{Format, Key, Kind};

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

pub static UNUSED_FORMAT: Format = Format {
    default_key: Some("volume"),
    keys: &[Key {
        name: "volume",
        kind: Kind::Str(None),
        optional: false,
    }],
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
