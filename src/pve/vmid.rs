//! VMIDs: integers 100 ..= 999_999_999 (`pve-vmid`, pve-common src/PVE/JSONSchema.pm).

use std::fmt;
use std::str::FromStr;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct Vmid(u32);

pub const MIN: u32 = 100;
pub const MAX: u32 = 999_999_999;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("value does not look like a valid VM ID: '{0}'")]
pub struct VmidError(pub String);

impl Vmid {
    pub fn new(n: u32) -> Result<Self, VmidError> {
        if (MIN..=MAX).contains(&n) {
            Ok(Vmid(n))
        } else {
            Err(VmidError(n.to_string()))
        }
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Vmid {
    type Error = VmidError;
    fn try_from(n: u32) -> Result<Self, VmidError> {
        Vmid::new(n)
    }
}

impl From<Vmid> for u32 {
    fn from(v: Vmid) -> u32 {
        v.0
    }
}

impl FromStr for Vmid {
    type Err = VmidError;
    /// Proxmox's pattern `^[1-9][0-9]{2,8}$`: no sign, no leading zero, 3 to 9 digits.
    fn from_str(s: &str) -> Result<Self, VmidError> {
        let ok = (3..=9).contains(&s.len())
            && !s.starts_with('0')
            && s.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(VmidError(s.to_string()));
        }
        s.parse::<u32>()
            .map(Vmid)
            .map_err(|_| VmidError(s.to_string()))
    }
}

impl fmt::Display for Vmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proxmox_pattern_only() {
        assert_eq!("100".parse::<Vmid>().unwrap().get(), 100);
        assert_eq!("999999999".parse::<Vmid>().unwrap().get(), 999_999_999);
        for bad in ["99", "0100", "1000000000", "+100", "10a", "", " 100"] {
            assert!(bad.parse::<Vmid>().is_err(), "{bad} accepted");
        }
        assert!(Vmid::new(99).is_err());
    }
}
