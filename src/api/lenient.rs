//! Scalars as Proxmox's Perl sends them: a number may arrive as a JSON number or as a numeric
//! string (`/cluster/nextid` gives `"123"`, `cpulimit` may be `"0.5"`), a boolean as
//! `0|1|true|false|"0"|"1"` (docs/proxmox-facts.md, "REST API").

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Largest f64 that still converts to u64 without saturating.
const U64_LIMIT: f64 = 18_446_744_073_709_551_615.0;

pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A non-negative integer; integral floats (`1.0`, `"1e3"`) count too.
pub fn as_u64(v: &Value) -> Option<u64> {
    let direct = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    direct.or_else(|| {
        as_f64(v)
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < U64_LIMIT)
            .map(|f| f as u64)
    })
}

pub fn as_i64(v: &Value) -> Option<i64> {
    let direct = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    direct.or_else(|| {
        as_f64(v)
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    })
}

pub fn as_u32(v: &Value) -> Option<u32> {
    as_u64(v).and_then(|n| u32::try_from(n).ok())
}

pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim() {
            "0" | "false" => Some(false),
            "1" | "true" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// A string field that Perl may have turned into a number (e.g. a numeric CT name).
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn lenient<'de, D, T>(d: D, what: &str, conv: fn(&Value) -> Option<T>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    conv(&v).ok_or_else(|| D::Error::custom(format!("expected {what}, got {v}")))
}

fn lenient_opt<'de, D, T>(
    d: D,
    what: &str,
    conv: fn(&Value) -> Option<T>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => conv(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected {what}, got {v}"))),
    }
}

/// `#[serde(deserialize_with = "lenient::de_u64")]`
pub fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    lenient(d, "an unsigned integer", as_u64)
}

pub fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    lenient_opt(d, "an unsigned integer", as_u64)
}

pub fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    lenient(d, "an unsigned 32-bit integer", as_u32)
}

pub fn de_opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    lenient_opt(d, "an unsigned 32-bit integer", as_u32)
}

pub fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    lenient_opt(d, "an integer", as_i64)
}

pub fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    lenient(d, "a number", as_f64)
}

pub fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    lenient(d, "a boolean", as_bool)
}

pub fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient_opt(d, "a string", as_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_numbers_or_strings() {
        // `GET /cluster/nextid` answers `{"data":"123"}`.
        let nextid: Value = serde_json::from_str(r#"{"data":"123"}"#).unwrap();
        assert_eq!(as_u64(&nextid["data"]), Some(123));
        assert_eq!(as_u32(&nextid["data"]), Some(123));
        assert_eq!(as_u64(&json!(123)), Some(123));
        assert_eq!(as_u64(&json!(2.0)), Some(2));
        assert_eq!(as_f64(&json!("0.5")), Some(0.5));
        assert_eq!(as_f64(&json!(0.5)), Some(0.5));
        assert_eq!(as_i64(&json!("-4")), Some(-4));
        for bad in [
            json!(""),
            json!("abc"),
            json!(-1),
            json!(0.5),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(as_u64(&bad), None, "{bad}");
        }
        assert_eq!(as_u32(&json!("4294967296")), None);
        assert_eq!(as_f64(&json!("NaN")), None);
    }

    #[test]
    fn booleans_in_all_spellings() {
        for t in [json!(1), json!(true), json!("1"), json!("true")] {
            assert_eq!(as_bool(&t), Some(true), "{t}");
        }
        for f in [json!(0), json!(false), json!("0"), json!("false")] {
            assert_eq!(as_bool(&f), Some(false), "{f}");
        }
        for bad in [json!(2), json!("yes"), json!(null)] {
            assert_eq!(as_bool(&bad), None, "{bad}");
        }
    }

    #[derive(Deserialize, Debug)]
    struct Ct {
        #[serde(deserialize_with = "de_f64")]
        cpulimit: f64,
        #[serde(deserialize_with = "de_u32")]
        vmid: u32,
        #[serde(default, deserialize_with = "de_opt_i64")]
        pid: Option<i64>,
        #[serde(deserialize_with = "de_bool")]
        template: bool,
        #[serde(default, deserialize_with = "de_opt_string")]
        name: Option<String>,
    }

    #[test]
    fn serde_helpers_accept_perl_shapes() {
        let ct: Ct = serde_json::from_value(
            json!({"cpulimit":"0.5","vmid":"100","pid":4711,"template":"0","name":123}),
        )
        .unwrap();
        assert_eq!(ct.cpulimit, 0.5);
        assert_eq!(ct.vmid, 100);
        assert_eq!(ct.pid, Some(4711));
        assert!(!ct.template);
        assert_eq!(ct.name.as_deref(), Some("123"));
        let ct: Ct = serde_json::from_value(json!({"cpulimit":2,"vmid":101,"template":1})).unwrap();
        assert_eq!((ct.cpulimit, ct.pid, ct.template), (2.0, None, true));
        let e = serde_json::from_value::<Ct>(json!({"cpulimit":"x","vmid":1,"template":0}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a number, got \"x\""), "{e}");
    }
}
