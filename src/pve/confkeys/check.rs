//! The two value checks: the config file parser's (`check_file_value`) and the API/CLI schema's
//! (`verify_param`, `verify_type`).

use super::{lookup, Type};
use crate::pve::propstr;

/// The config file parser's check (`PVE::LXC::Config::check_type`): returns the normalised value
/// or Proxmox's message. Ranges and enums are not checked here, only types and formats.
pub fn check_file_value(key: &str, value: &str) -> Result<String, String> {
    let ty = lookup(key).ok_or_else(|| format!("unknown setting '{key}'"))?;
    if value.contains(['\n', '\r']) {
        return Err("property contains a line feed".into());
    }
    match ty {
        Type::Bool => match value {
            "1" => Ok("1".into()),
            "0" => Ok("0".into()),
            v if ["on", "yes", "true"].contains(&v.to_ascii_lowercase().as_str()) => Ok("1".into()),
            v if ["off", "no", "false"].contains(&v.to_ascii_lowercase().as_str()) => {
                Ok("0".into())
            }
            _ => Err(format!("type check ('boolean') failed - got '{value}'")),
        },
        Type::Int { .. } => {
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                // Perl's int() drops leading zeros.
                let t = value.trim_start_matches('0');
                Ok(if t.is_empty() {
                    "0".into()
                } else {
                    t.to_string()
                })
            } else {
                Err(format!("type check ('integer') failed - got '{value}'"))
            }
        }
        Type::Number { .. } => {
            let ok = match value.split_once('.') {
                Some((a, b)) => {
                    !a.is_empty()
                        && !b.is_empty()
                        && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
                }
                None => !value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()),
            };
            if ok {
                Ok(value.to_string())
            } else {
                Err(format!("type check ('number') failed - got '{value}'"))
            }
        }
        Type::Enum(_) => Ok(value.to_string()),
        Type::Str { check, .. } => {
            if let Some(check) = check {
                check(value)?;
            }
            Ok(value.to_string())
        }
        Type::Prop(fmt) => {
            fmt.parse(value).map_err(|e| e.to_string())?;
            Ok(value.to_string())
        }
    }
}

/// The API/CLI schema check of one parameter (JSONSchema `check_prop`): `Err` carries the text
/// Proxmox prints after `<param>: `. Booleans must already be `0`/`1` (the CLI converts them).
pub fn verify_param(key: &str, value: &str) -> Result<(), String> {
    let ty = lookup(key).ok_or_else(|| {
        "property is not defined in schema and the schema does not allow additional properties"
            .to_string()
    })?;
    verify_type(key, &ty, value)
}

/// Checks `value` against `ty` with JSONSchema's messages (type, format, pattern, length, range,
/// enum, in that order).
pub fn verify_type(key: &str, ty: &Type, value: &str) -> Result<(), String> {
    match ty {
        Type::Bool => {
            if value != "0" && value != "1" {
                return Err(format!("type check ('boolean') failed - got '{value}'"));
            }
        }
        Type::Int { min, max } => {
            if !propstr::is_integer(value) {
                return Err(format!("type check ('integer') failed - got '{value}'"));
            }
            let n: i128 = value.parse().unwrap_or(i128::MAX);
            if let Some(max) = max.filter(|m| n > i128::from(*m)) {
                return Err(format!("value must have a maximum value of {max}"));
            }
            if let Some(min) = min.filter(|m| n < i128::from(*m)) {
                return Err(format!("value must have a minimum value of {min}"));
            }
        }
        Type::Number { min, max } => {
            if !propstr::is_number(value) {
                return Err(format!("type check ('number') failed - got '{value}'"));
            }
            let n: f64 = value.parse().unwrap_or(f64::NAN);
            if n > *max {
                return Err(format!("value must have a maximum value of {max}"));
            }
            if n < *min {
                return Err(format!("value must have a minimum value of {min}"));
            }
        }
        Type::Enum(list) => {
            if !list.contains(&value) {
                return Err(format!(
                    "value '{value}' does not have a value in the enumeration '{}'",
                    list.join(", ")
                ));
            }
        }
        Type::Str {
            check,
            pattern,
            max_len,
        } => {
            if let Some(check) = check {
                check(value).map_err(|e| format!("invalid format - {e}\n"))?;
            }
            if let Some(p) = pattern {
                if !p(value) {
                    return Err("value does not match the regex pattern".into());
                }
            }
            if let Some(max) = max_len.filter(|m| value.chars().count() > *m) {
                return Err(format!("value may only be {max} characters long"));
            }
        }
        Type::Prop(fmt) => {
            fmt.parse(value).map_err(|e| match e {
                propstr::PropStrError::Format { key: sub, msg } => {
                    format!("invalid format - format error\n{key}.{sub}: {msg}\n")
                }
                other => format!("invalid format - {other}\n"),
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_check_normalises_and_names_errors() {
        assert_eq!(check_file_value("onboot", "yes").unwrap(), "1");
        assert_eq!(check_file_value("memory", "0512").unwrap(), "512");
        assert_eq!(
            check_file_value("foo", "1").unwrap_err(),
            "unknown setting 'foo'"
        );
        assert_eq!(
            check_file_value("memory", "lots").unwrap_err(),
            "type check ('integer') failed - got 'lots'"
        );
        // The file parser does not check enums or ranges.
        assert!(check_file_value("ostype", "redhat").is_ok());
        assert!(check_file_value("memory", "1").is_ok());
        assert!(check_file_value("mp0", "/srv/a").is_err());
        assert!(check_file_value("mp0", "/srv/a,mp=/data").is_ok());
    }

    #[test]
    fn param_check_messages() {
        assert_eq!(
            verify_param("memory", "8").unwrap_err(),
            "value must have a minimum value of 16"
        );
        assert_eq!(
            verify_param("cores", "9000").unwrap_err(),
            "value must have a maximum value of 8192"
        );
        assert_eq!(
            verify_param("arch", "x86").unwrap_err(),
            "value 'x86' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'"
        );
        assert_eq!(
            verify_param("hostname", "a_b").unwrap_err(),
            "invalid format - value does not look like a valid DNS name\n"
        );
        assert_eq!(
            verify_param("mp0", "/srv/a").unwrap_err(),
            "invalid format - format error\nmp0.mp: property is missing and it is not optional\n"
        );
        assert!(verify_param("rootfs", "/srv/a,ro=1,idmap=passthrough").is_ok());
        assert!(verify_param("rootfs", "/srv/a,mp=/x").is_err());
        assert!(verify_param("cpulimit", "1.5").is_ok());
        assert!(verify_param("env", "A=1\0B_2=x y").is_ok());
        assert!(verify_param("env", "A-B=1").is_err());
        assert!(verify_param("entrypoint", "/init a\tb").is_ok());
        assert!(verify_param("entrypoint", "/init\n").is_err());
        assert!(verify_param(
            "net0",
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24"
        )
        .is_ok());
        assert!(verify_param("net0", "name=eth0,hwaddr=01:00:00:00:00:00").is_err());
        assert!(verify_param("tags", "proxmox-lxcri;b").is_ok());
    }
}
