//! Property strings: the `k=v,k=v` values of `rootfs`, `mpN`, `netN`, `features`, `devN`
//! (pve-common src/PVE/JSONSchema.pm, `parse_property_string` / `print_property_string`).
//!
//! Parsing is generic over the schema's default key (the key a bare value belongs to). Keys are
//! kept in a `BTreeMap`, so input order does not matter; printing puts the default key first as a
//! bare value, then the required keys, then the rest, each group sorted.

use std::collections::BTreeMap;

/// Parsed property string: key -> value.
pub type Props = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PropStrError {
    #[error("duplicate key in comma-separated list property: {0}")]
    DuplicateKey(String),
    #[error("value without key, but schema does not define a default key")]
    NoDefaultKey,
    #[error("missing key in comma-separated list property")]
    MissingKey,
    #[error("invalid key in comma-separated list property: {0}")]
    InvalidKey(String),
    #[error("illegal value with commas for {0}")]
    Comma(String),
    /// A schema check failed for one key (Proxmox reports these as `format error`).
    #[error("format error\n{key}: {msg}")]
    Format { key: String, msg: String },
}

/// A value check returning Proxmox's message on failure.
pub type Check = fn(&str) -> Result<(), String>;

/// What a value inside a property string must look like.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `1|0|on|off|yes|no|true|false`, normalised to `1`/`0` on parse.
    Bool,
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number,
    Enum(&'static [&'static str]),
    /// Free text (no commas), optionally checked by a function returning Proxmox's message.
    Str(Option<Check>),
}

#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub optional: bool,
}

/// A property string schema (`$rootfs_desc`, `$netconf_desc`, ...).
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub default_key: Option<&'static str>,
    pub keys: &'static [Key],
}

impl Format {
    fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == name)
    }

    fn required(&self) -> Vec<&'static str> {
        self.keys
            .iter()
            .filter(|k| !k.optional)
            .map(|k| k.name)
            .collect()
    }

    /// Parses and checks `text` against this schema: unknown keys, booleans (normalised),
    /// integers, enums and missing required keys.
    pub fn parse(&self, text: &str) -> Result<Props, PropStrError> {
        let mut props = parse(text, self.default_key)?;
        for (k, v) in props.iter_mut() {
            let key = self
                .key(k)
                .ok_or_else(|| PropStrError::InvalidKey(k.clone()))?;
            check_value(k, &key.kind, v)?;
        }
        for req in self.required() {
            if !props.contains_key(req) {
                return Err(PropStrError::Format {
                    key: req.to_string(),
                    msg: "property is missing and it is not optional".into(),
                });
            }
        }
        Ok(props)
    }

    /// Prints `props` the way Proxmox re-renders a property string.
    pub fn print(&self, props: &Props) -> Result<String, PropStrError> {
        print(props, self.default_key, &self.required())
    }
}

fn check_value(key: &str, kind: &Kind, value: &mut String) -> Result<(), PropStrError> {
    let fail = |msg: String| PropStrError::Format {
        key: key.to_string(),
        msg,
    };
    match kind {
        Kind::Bool => match parse_boolean(value) {
            Some(b) => *value = if b { "1" } else { "0" }.to_string(),
            None => {
                return Err(fail(format!(
                    "type check ('boolean') failed - got '{value}'"
                )))
            }
        },
        Kind::Int { min, max } => {
            let n: i64 = value
                .parse()
                .ok()
                .filter(|_| is_integer(value))
                .ok_or_else(|| fail(format!("type check ('integer') failed - got '{value}'")))?;
            if let Some(max) = max.filter(|m| n > *m) {
                return Err(fail(format!("value must have a maximum value of {max}")));
            }
            if let Some(min) = min.filter(|m| n < *m) {
                return Err(fail(format!("value must have a minimum value of {min}")));
            }
        }
        Kind::Number => {
            if !is_number(value) {
                return Err(fail(format!(
                    "type check ('number') failed - got '{value}'"
                )));
            }
        }
        Kind::Enum(list) => {
            if !list.contains(&value.as_str()) {
                return Err(fail(format!(
                    "value '{value}' does not have a value in the enumeration '{}'",
                    list.join(", ")
                )));
            }
        }
        Kind::Str(Some(check)) => {
            check(value).map_err(|e| fail(format!("invalid format - {e}")))?;
        }
        Kind::Str(None) => {}
    }
    Ok(())
}

/// `parse_boolean`: `1|on|yes|true` / `0|off|no|false`, case-insensitive.
pub fn parse_boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// JSONSchema's `is_integer`: optional sign, digits.
pub fn is_integer(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// JSONSchema's `is_number`: sign, `1`, `1.`, `.5`, `1.5`, optional exponent.
pub fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let m_ok = match mantissa.split_once('.') {
        Some((a, b)) => (!a.is_empty() || !b.is_empty()) && digits(a) && digits(b),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let e_ok = match exp {
        Some(e) => is_integer(e),
        None => true,
    };
    m_ok && e_ok
}

/// Splits `text` into keys and values without a schema. A part without `=` belongs to
/// `default_key`; a second bare value, or the default key given twice, is a duplicate.
pub fn parse(text: &str, default_key: Option<&str>) -> Result<Props, PropStrError> {
    let mut props = Props::new();
    let mut bare_seen = false;
    for part in text.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                if props.contains_key(k) {
                    return Err(PropStrError::DuplicateKey(k.to_string()));
                }
                props.insert(k.to_string(), v.to_string());
            }
            Some(_) => return Err(PropStrError::MissingKey),
            None => {
                let dk = default_key.ok_or(PropStrError::NoDefaultKey)?;
                if bare_seen || props.contains_key(dk) {
                    return Err(PropStrError::DuplicateKey(dk.to_string()));
                }
                bare_seen = true;
                props.insert(dk.to_string(), part.to_string());
            }
        }
    }
    Ok(props)
}

/// Prints `props`: default key first as a bare value, then `required` keys, then the rest,
/// each group sorted. Values may not contain commas.
pub fn print(
    props: &Props,
    default_key: Option<&str>,
    required: &[&str],
) -> Result<String, PropStrError> {
    let mut order: Vec<&str> = Vec::with_capacity(props.len());
    if let Some(dk) = default_key.filter(|dk| props.contains_key(*dk)) {
        order.push(dk);
    }
    for k in props.keys() {
        if required.contains(&k.as_str()) && !order.contains(&k.as_str()) {
            order.push(k);
        }
    }
    for k in props.keys() {
        if !order.contains(&k.as_str()) {
            order.push(k);
        }
    }
    let mut parts = Vec::with_capacity(order.len());
    for k in order {
        let v = &props[k];
        if v.contains(',') {
            return Err(PropStrError::Comma(k.to_string()));
        }
        if Some(k) == default_key {
            parts.push(v.clone());
        } else {
            parts.push(format!("{k}={v}"));
        }
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP: Format = Format {
        default_key: Some("volume"),
        keys: &[
            Key {
                name: "volume",
                kind: Kind::Str(None),
                optional: false,
            },
            Key {
                name: "mp",
                kind: Kind::Str(None),
                optional: false,
            },
            Key {
                name: "ro",
                kind: Kind::Bool,
                optional: true,
            },
            Key {
                name: "size",
                kind: Kind::Str(None),
                optional: true,
            },
            Key {
                name: "tag",
                kind: Kind::Int {
                    min: Some(1),
                    max: Some(4094),
                },
                optional: true,
            },
        ],
    };

    #[test]
    fn parses_bare_value_as_default_key() {
        let p = parse("/srv/a,mp=/data,ro=1", Some("volume")).unwrap();
        assert_eq!(p["volume"], "/srv/a");
        assert_eq!(p["mp"], "/data");
        assert_eq!(p["ro"], "1");
        let p = parse("ro=1,volume=/srv/a", Some("volume")).unwrap();
        assert_eq!(p["volume"], "/srv/a");
    }

    #[test]
    fn values_may_contain_equals_signs() {
        let p = parse("mountoptions=a=b", None).unwrap();
        assert_eq!(p["mountoptions"], "a=b");
    }

    #[test]
    fn rejects_duplicates_and_missing_keys() {
        assert_eq!(
            parse("ro=1,ro=0", None),
            Err(PropStrError::DuplicateKey("ro".into()))
        );
        assert_eq!(
            parse("/a,/b", Some("volume")),
            Err(PropStrError::DuplicateKey("volume".into()))
        );
        assert_eq!(
            parse("volume=/a,/b", Some("volume")),
            Err(PropStrError::DuplicateKey("volume".into()))
        );
        assert_eq!(parse("/a", None), Err(PropStrError::NoDefaultKey));
        assert_eq!(parse("ro=", None), Err(PropStrError::MissingKey));
        assert_eq!(parse("=1", None), Err(PropStrError::MissingKey));
        assert!(parse(" , ,ro=1", None).is_ok());
    }

    #[test]
    fn prints_default_then_required_then_rest() {
        let p = parse("size=8G,ro=1,mp=/data,/srv/a", Some("volume")).unwrap();
        assert_eq!(
            print(&p, Some("volume"), &["mp"]).unwrap(),
            "/srv/a,mp=/data,ro=1,size=8G"
        );
        let net = parse("type=veth,ip=dhcp,bridge=vmbr0,name=eth0", None).unwrap();
        assert_eq!(
            print(&net, None, &["name"]).unwrap(),
            "name=eth0,bridge=vmbr0,ip=dhcp,type=veth"
        );
    }

    #[test]
    fn print_refuses_commas() {
        let mut p = Props::new();
        p.insert("mp".into(), "/a,b".into());
        assert_eq!(print(&p, None, &[]), Err(PropStrError::Comma("mp".into())));
    }

    #[test]
    fn schema_parse_checks_keys_and_normalises_booleans() {
        let p = MP.parse("/srv/a,mp=/data,ro=yes").unwrap();
        assert_eq!(p["ro"], "1");
        assert_eq!(MP.print(&p).unwrap(), "/srv/a,mp=/data,ro=1");
        assert_eq!(
            MP.parse("/a,mp=/b,foo=1"),
            Err(PropStrError::InvalidKey("foo".into()))
        );
        let e = MP.parse("/a,mp=/b,ro=maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "format error\nro: type check ('boolean') failed - got 'maybe'"
        );
        let e = MP.parse("/a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "format error\nmp: property is missing and it is not optional"
        );
        let e = MP.parse("/a,mp=/b,tag=0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "format error\ntag: value must have a minimum value of 1"
        );
    }

    #[test]
    fn numbers_follow_jsonschema() {
        for ok in ["1", "1.5", ".5", "1.", "-2", "1e3"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", ".", "1.2.3", "x", "1e"] {
            assert!(!is_number(bad), "{bad}");
        }
        assert!(is_integer("-5") && !is_integer("5.0"));
    }
}
