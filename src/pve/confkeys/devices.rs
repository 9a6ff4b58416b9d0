//! `devN`: the property string of a device passed through, and its path and mode formats.

use super::key;
use crate::pve::propstr::{Format, Kind};

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
