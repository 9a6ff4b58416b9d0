//! The `{"data":…}` envelope and Proxmox's error answers (pve-http-server
//! src/PVE/APIServer/Formatter/Standard.pm and AnyEvent.pm): the reason
//! phrase is the message's first line, the body `{"data":null,"message":"…\n","errors":{…}}`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ApiError;

/// One HTTP answer, whatever its status.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub reason: String,
    pub body: String,
}

/// Which request a reply belongs to, for error messages.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub token_id: &'a str,
}

impl Call<'_> {
    fn bad(&self, msg: impl Into<String>) -> ApiError {
        ApiError::BadResponse {
            method: self.method.into(),
            path: self.path.into(),
            msg: msg.into(),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim_end()
}

/// Proxmox's own error message, when the body is its error envelope.
fn message(body: &Value) -> Option<&str> {
    body.get("message")
        .and_then(Value::as_str)
        .map(first_line)
        .filter(|m| !m.is_empty())
}

impl Reply {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// A 5xx that did not come from an API handler (pveproxy failing to reach the daemon or
    /// another node answers without Proxmox's message): worth retrying a GET. A handler's `die`
    /// (`Configuration file … does not exist`) is an answer and comes out the same every time.
    pub fn is_transient(&self) -> bool {
        self.status >= 500 && self.json().as_ref().and_then(message).is_none()
    }

    /// The envelope's `data`, or the error the reply stands for.
    pub fn decode(self, call: &Call) -> Result<Value, ApiError> {
        if (200..300).contains(&self.status) {
            let mut body = self
                .json()
                .ok_or_else(|| call.bad(format!("status {} without a JSON body", self.status)))?;
            return match body.get_mut("data") {
                Some(data) => Ok(data.take()),
                None => Err(call.bad("no 'data' in the response")),
            };
        }
        let body = self.json().unwrap_or(Value::Null);
        let text = message(&body)
            .map(str::to_string)
            .or_else(|| Some(first_line(&self.reason).to_string()).filter(|r| !r.is_empty()))
            .unwrap_or_else(|| format!("http status {}", self.status));
        let (method, path) = (call.method.to_string(), call.path.to_string());
        Err(match self.status {
            400 => match param_errors(&body) {
                Some(errors) => ApiError::Params {
                    method,
                    path,
                    errors,
                },
                None => ApiError::Http {
                    method,
                    path,
                    status: 400,
                    message: text,
                },
            },
            401 => ApiError::Auth {
                method,
                path,
                token: call.token_id.to_string(),
            },
            403 => ApiError::Forbidden {
                method,
                path,
                reason: text,
            },
            status => ApiError::Http {
                method,
                path,
                status,
                message: text,
            },
        })
    }
}

/// `errors: {param: "msg\n"}`, messages trimmed; `None` when there is no such map.
fn param_errors(body: &Value) -> Option<BTreeMap<String, String>> {
    let map = body.get("errors")?.as_object()?;
    let errors: BTreeMap<String, String> = map
        .iter()
        .map(|(k, v)| {
            let msg = match v {
                Value::String(s) => s.trim_end().to_string(),
                other => other.to_string(),
            };
            (k.clone(), msg)
        })
        .collect();
    (!errors.is_empty()).then_some(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CALL: Call = Call {
        method: "POST",
        path: "/nodes/pve1/lxc",
        token_id: "root@pam!ocirt",
    };

    fn reply(status: u16, reason: &str, body: &str) -> Reply {
        Reply {
            status,
            reason: reason.into(),
            body: body.into(),
        }
    }

    #[test]
    fn success_envelope_gives_data() {
        let upid = "UPID:pve1:000934AF:0D015579:68BF3A41:vzcreate:100:root@pam!ocirt:";
        let r = reply(200, "OK", &format!(r#"{{"data":"{upid}"}}"#));
        assert_eq!(r.decode(&CALL).unwrap(), json!(upid));
        let r = reply(
            200,
            "OK",
            r#"{"data":[{"n":1,"t":"no content"}],"total":1}"#,
        );
        assert_eq!(r.decode(&CALL).unwrap()[0]["t"], "no content");
    }

    #[test]
    fn null_data_is_a_value() {
        assert_eq!(
            reply(200, "OK", r#"{"data":null}"#).decode(&CALL).unwrap(),
            Value::Null
        );
        let e = reply(200, "OK", "<html>").decode(&CALL).unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/lxc: unexpected response: status 200 without a JSON body"
        );
        let e = reply(200, "OK", "{}").decode(&CALL).unwrap_err();
        assert!(e.to_string().ends_with("no 'data' in the response"), "{e}");
    }

    #[test]
    fn parameter_errors_are_listed() {
        // A bad VMID, as Proxmox answers it.
        let body = r#"{"data":null,"errors":{"vmid":"invalid format - value does not look like a valid VM ID\n"},"message":"Parameter verification failed.\n"}"#;
        let e = reply(400, "Parameter verification failed.", body)
            .decode(&CALL)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/lxc: parameter verification failed: \
             vmid: invalid format - value does not look like a valid VM ID"
        );
        assert_eq!(e.status(), Some(400));
        let two = r#"{"data":null,"errors":{"ostemplate":"property is missing and it is not optional\n","vmid":"value must have a minimum value of 100\n"},"message":"Parameter verification failed.\n"}"#;
        let e = reply(400, "Parameter verification failed.", two)
            .decode(&CALL)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(
                "ostemplate: property is missing and it is not optional; \
                 vmid: value must have a minimum value of 100"
            ),
            "{e}"
        );
        // A 400 without the map keeps the message.
        let body = r#"{"data":null,"message":"duplicate parameter (already defined in URI) with conflicting values!\n"}"#;
        let e = reply(400, "duplicate parameter", body)
            .decode(&CALL)
            .unwrap_err();
        assert!(matches!(e, ApiError::Http { status: 400, .. }), "{e:?}");
    }

    #[test]
    fn server_errors_keep_the_first_line() {
        let body = r#"{"data":null,"message":"unable to create CT 100 - CT 100 already exists on node 'pve1'\n"}"#;
        let e = reply(500, "unable to create CT 100", body)
            .decode(&CALL)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/lxc: unable to create CT 100 - CT 100 already exists on node 'pve1'"
        );
        assert_eq!(e.status(), Some(500));
        let body =
            r#"{"data":null,"message":"Method 'POST /nodes/pve1/lxc/100/exec' not implemented\n"}"#;
        let e = reply(501, "Method not implemented", body)
            .decode(&CALL)
            .unwrap_err();
        assert!(
            matches!(&e, ApiError::Http { status: 501, message, .. }
                if message == "Method 'POST /nodes/pve1/lxc/100/exec' not implemented"),
            "{e:?}"
        );
        // No body: the reason phrase is all there is.
        let e = reply(596, "Connection timed out", "")
            .decode(&CALL)
            .unwrap_err();
        assert_eq!(e.to_string(), "POST /nodes/pve1/lxc: Connection timed out");
    }

    #[test]
    fn auth_and_permission_errors() {
        let e = reply(401, "Authentication failed!", "")
            .decode(&CALL)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/lxc: authentication failed for token root@pam!ocirt"
        );
        let body = r#"{"data":null,"message":"Permission check failed (/vms/100, VM.Allocate)\n"}"#;
        let e = reply(403, "Permission check failed (/vms/100, VM.Allocate)", body)
            .decode(&CALL)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/lxc: Permission check failed (/vms/100, VM.Allocate)"
        );
        let e = reply(403, "Permission check failed (/, Sys.Modify)", "")
            .decode(&CALL)
            .unwrap_err();
        assert!(e.to_string().ends_with("(/, Sys.Modify)"), "{e}");
    }

    #[test]
    fn only_answers_without_a_handler_message_are_transient() {
        let handler = r#"{"data":null,"message":"Configuration file 'nodes/pve1/lxc/100.conf' does not exist\n"}"#;
        assert!(!reply(500, "Configuration file", handler).is_transient());
        assert!(reply(500, "proxy error", "").is_transient());
        assert!(reply(502, "Bad Gateway", "<html>").is_transient());
        assert!(!reply(400, "x", "").is_transient());
    }
}
