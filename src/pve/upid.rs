//! Task IDs: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:` with the numbers in
//! upper-case hex (pve-common src/PVE/UPID.pm `encode`/`decode`).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    /// Process start time in clock ticks; 8 hex digits, 9 once it outgrows them.
    pub pstart: u64,
    /// Unix time the task started.
    pub starttime: u32,
    /// Task type, e.g. `vzcreate`.
    pub worker_type: String,
    /// Task subject, usually the VMID; may be empty.
    pub id: String,
    /// `user@realm` or, for API tokens, `user@realm!tokenid`.
    pub user: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unable to parse worker upid '{0}'")]
pub struct UpidError(pub String);

impl Upid {
    /// The user without the token part.
    pub fn user_name(&self) -> &str {
        self.user.split_once('!').map_or(&self.user, |(u, _)| u)
    }

    /// The API token id, when a token started the task.
    pub fn token_id(&self) -> Option<&str> {
        self.user.split_once('!').map(|(_, t)| t)
    }
}

fn hex_field(s: &str, min: usize, max: usize) -> Option<u64> {
    if (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u64::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

fn node_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `[^:\s/]` repeated; `allow_empty` for the `id` field.
fn word_ok(s: &str, allow_empty: bool) -> bool {
    (allow_empty || !s.is_empty()) && !s.chars().any(|c| c == ':' || c == '/' || c.is_whitespace())
}

impl FromStr for Upid {
    type Err = UpidError;

    fn from_str(s: &str) -> Result<Self, UpidError> {
        let err = || UpidError(s.to_string());
        let body = s
            .strip_prefix("UPID:")
            .and_then(|r| r.strip_suffix(':'))
            .ok_or_else(err)?;
        let f: Vec<&str> = body.split(':').collect();
        if f.len() != 7 {
            return Err(err());
        }
        if !node_ok(f[0]) || !word_ok(f[4], false) || !word_ok(f[5], true) || !word_ok(f[6], false)
        {
            return Err(err());
        }
        Ok(Upid {
            node: f[0].to_string(),
            pid: hex_field(f[1], 8, 8).ok_or_else(err)? as u32,
            pstart: hex_field(f[2], 8, 9).ok_or_else(err)?,
            starttime: hex_field(f[3], 8, 8).ok_or_else(err)? as u32,
            worker_type: f[4].to_string(),
            id: f[5].to_string(),
            user: f[6].to_string(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.worker_type, self.id, self.user
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "UPID:pve1:000934AF:0D015579:68BF3A41:vzcreate:100:root@pam!ocirt:";

    #[test]
    fn parses_a_token_users_upid() {
        let u: Upid = EXAMPLE.parse().unwrap();
        assert_eq!(u.node, "pve1");
        assert_eq!(u.pid, 0x934AF);
        assert_eq!(u.pstart, 0x0D015579);
        assert_eq!(u.starttime, 0x68BF3A41);
        assert_eq!(u.worker_type, "vzcreate");
        assert_eq!(u.id, "100");
        assert_eq!(u.user, "root@pam!ocirt");
        assert_eq!(u.user_name(), "root@pam");
        assert_eq!(u.token_id(), Some("ocirt"));
        assert_eq!(u.to_string(), EXAMPLE);
    }

    #[test]
    fn nine_digit_pstart_and_empty_id() {
        let s = "UPID:node-2:00000001:1D0155790:68BF3A41:vzdump::root@pam:";
        let u: Upid = s.parse().unwrap();
        assert_eq!(u.pstart, 0x1D0155790);
        assert_eq!(u.id, "");
        assert_eq!(u.token_id(), None);
        assert_eq!(u.to_string(), s);
    }

    #[test]
    fn lower_case_hex_is_accepted() {
        let u: Upid = "UPID:pve1:000934af:0d015579:68bf3a41:vzstart:100:root@pam:"
            .parse()
            .unwrap();
        assert_eq!(u.pid, 0x934AF);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "UPID:pve1:000934AF:0D015579:68BF3A41:vzcreate:100:root@pam",
            "UPID:pve1:934AF:0D015579:68BF3A41:vzcreate:100:root@pam:",
            "UPID:pve1:000934AF:0D01557:68BF3A41:vzcreate:100:root@pam:",
            "UPID:pve1:000934AF:0D015579:68BF3A41::100:root@pam:",
            "UPID:-pve:000934AF:0D015579:68BF3A41:vzcreate:100:root@pam:",
            "UPID:pve1:000934AF:0D015579:68BF3A41:vz/x:100:root@pam:",
            "UPID:pve1:000934AG:0D015579:68BF3A41:vzcreate:100:root@pam:",
            "",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
        assert_eq!(
            "x".parse::<Upid>().unwrap_err().to_string(),
            "unable to parse worker upid 'x'"
        );
    }
}
