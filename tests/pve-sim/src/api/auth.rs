//! API token authentication: `Authorization: PVEAPIToken=<id>=<secret>` (or a space after
//! `PVEAPIToken`), the value URI-unescaped and split at the last `=` (pve-http-server
//! src/PVE/APIServer/Formatter.pm `extract_auth_value`, pve-access-control
//! src/PVE/AccessControl.pm `verify_token`).

use proxmox_lxcri::api::credentials::Token;

use super::http::{percent_decode, Request};

/// Why a request is not authenticated: the 401 reason phrase.
pub enum Denied {
    NoTicket,
    Failed,
}

impl Denied {
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::NoTicket => "No ticket",
            Denied::Failed => "Authentication failed!",
        }
    }
}

/// The effective user id (`user@realm!tokenid`) of an authenticated request.
pub fn check(req: &Request, tokens: &[Token]) -> Result<String, Denied> {
    let Some(value) = req.header("authorization") else {
        return Err(Denied::NoTicket);
    };
    let Some(rest) = value.strip_prefix("PVEAPIToken") else {
        // Tickets (`PVEAuthCookie`) are not simulated: nobody can log in.
        return Err(Denied::Failed);
    };
    let rest = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix(' '))
        .ok_or(Denied::Failed)?;
    let given = Token::parse(&percent_decode(rest.trim(), false)).ok_or(Denied::Failed)?;
    if tokens.contains(&given) {
        Ok(given.id)
    } else {
        Err(Denied::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(auth: Option<&str>) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            query: vec![],
            headers: auth
                .map(|a| vec![("authorization".to_string(), a.to_string())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn token_header_forms() {
        let t = vec![Token::parse("root@pam!ci=5ecret").unwrap()];
        assert_eq!(
            check(&req(Some("PVEAPIToken=root@pam!ci=5ecret")), &t)
                .ok()
                .as_deref(),
            Some("root@pam!ci")
        );
        // A space instead of `=`, and the value URI-escaped.
        assert!(check(&req(Some("PVEAPIToken root@pam%21ci=5ecret")), &t).is_ok());
        assert!(matches!(
            check(&req(Some("PVEAPIToken=root@pam!ci=wrong")), &t),
            Err(Denied::Failed)
        ));
        // Split at the last `=`: this is token `ci=5ecret` with secret `x`.
        assert!(check(&req(Some("PVEAPIToken=root@pam!ci=5ecret=x")), &t).is_err());
        assert!(matches!(check(&req(None), &t), Err(Denied::NoTicket)));
    }
}
