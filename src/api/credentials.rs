//! Credentials for a remote node: the API token file and the TLS leaf fingerprint as Proxmox
//! prints them. The secret never appears in `Debug` output or error messages.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("token file {path}: {msg}")]
    Token { path: String, msg: String },
    #[error("fingerprint {0:?}: expected 32 colon-separated hex bytes (AA:BB:...)")]
    Fingerprint(String),
}

/// `USER@REALM!TOKENID=SECRET`, as Proxmox shows a new API token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// `user@realm!tokenid`
    pub id: String,
    secret: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Token {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        format!("PVEAPIToken={}={}", self.id, self.secret)
    }

    pub fn parse(text: &str) -> Option<Token> {
        let (id, secret) = text.trim().rsplit_once('=')?;
        let (user, token) = id.split_once('!')?;
        let (name, realm) = user.split_once('@')?;
        let ok = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
        (ok(name) && ok(realm) && ok(token) && ok(secret)).then(|| Token {
            id: id.into(),
            secret: secret.into(),
        })
    }

    /// Read a token file; refuse one that group or others may read, like ssh refuses a key.
    pub fn from_file(path: &Path) -> Result<Token, CredentialError> {
        let err = |msg: String| CredentialError::Token {
            path: path.display().to_string(),
            msg,
        };
        let md = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        let mode = md.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "readable by group or others (mode {mode:04o}); chmod 600 it"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Token::parse(&text).ok_or_else(|| err("expected USER@REALM!TOKENID=SECRET".into()))
    }
}

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fingerprint(pub [u8; 32]);

impl std::str::FromStr for Fingerprint {
    type Err = CredentialError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CredentialError::Fingerprint(s.to_string());
        let parts: Vec<&str> = s.trim().split(':').collect();
        if parts.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    /// Upper-case and colon-separated, as Proxmox prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&hex.join(":"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn token_parsing_and_redaction() {
        let t = Token::parse("root@pam!ocirt=aaaa-bbbb\n").unwrap();
        assert_eq!(t.id, "root@pam!ocirt");
        assert_eq!(t.header(), "PVEAPIToken=root@pam!ocirt=aaaa-bbbb");
        assert!(!format!("{t:?}").contains("aaaa"), "the secret never shows");
        for bad in [
            "root@pam=x",
            "root!id=x",
            "@pam!id=x",
            "root@pam!id=",
            "root@pam!id",
        ] {
            assert!(Token::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn token_files_readable_by_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "root@pam!ocirt=s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = Token::from_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("readable by group or others (mode 0640)") && !e.contains("s3cret"),
            "{e}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Token::from_file(&p).unwrap().id, "root@pam!ocirt");
    }

    #[test]
    fn fingerprints_round_trip_in_proxmox_format() {
        let s = (0..32)
            .map(|i| format!("{:02X}", i * 7))
            .collect::<Vec<_>>()
            .join(":");
        let f: Fingerprint = s.parse().unwrap();
        assert_eq!(f.to_string(), s);
        assert_eq!(s.to_lowercase().parse::<Fingerprint>().unwrap(), f);
        for bad in [
            "",
            "AA:BB",
            &format!("{s}:00"),
            &s.replace(':', "-"),
            &s.replacen("00", "GG", 1),
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad}");
        }
    }
}
