//! Reading the CT config file (`parse_pct_config`): the current section, `[pve:pending]` and
//! snapshot sections, strict or with Proxmox's warnings.

use std::collections::BTreeMap;

use super::text::decode_text;
use super::{ConfigError, CtConfig, ENV_KEY};
use crate::pve::{confkeys, lxckeys};

#[derive(Default)]
struct Section {
    description: String,
    options: BTreeMap<String, String>,
    env: Vec<String>,
    lxc: Vec<(String, String)>,
    delete: Option<String>,
}

enum Target {
    Current,
    Pending,
    Snapshot(String),
}

/// One problem found while parsing: the strict error and the lenient warning text.
struct Problem {
    error: ConfigError,
    warning: String,
}

fn parse_impl(text: &str, vmid: u32, strict: bool) -> Result<(CtConfig, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let mut current = Section::default();
    let mut pending: Option<Section> = None;
    let mut snapshots: BTreeMap<String, Section> = BTreeMap::new();
    let mut target = Target::Current;

    for (idx, line) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(name) = section_header(line) {
            if name.eq_ignore_ascii_case("pve:pending") {
                target = Target::Pending;
                pending.get_or_insert_with(Section::default);
            } else {
                snapshots.entry(name.to_string()).or_default();
                target = Target::Snapshot(name.to_string());
            }
            continue;
        }
        let is_pending = matches!(target, Target::Pending);
        let sec = match &target {
            Target::Current => &mut current,
            Target::Pending => pending.as_mut().expect("pending section exists"),
            Target::Snapshot(n) => snapshots.get_mut(n).expect("snapshot section exists"),
        };
        match parse_line(sec, line, lineno, vmid, is_pending, &mut warnings) {
            Ok(()) => {}
            Err(p) if strict => return Err(p.error),
            Err(p) => warnings.push(p.warning),
        }
    }

    let mut conf = CtConfig {
        description: current.description,
        options: current.options,
        env: current.env,
        lxc: current.lxc,
        ..Default::default()
    };
    // `snapstate` is transient; Proxmox drops it from the current section only.
    conf.options.remove("snapstate");
    if let Some(p) = pending {
        let mut map = p.options;
        if !p.description.is_empty() {
            map.insert("description".into(), p.description);
        }
        if !p.env.is_empty() {
            map.insert("env".into(), p.env.join("\0"));
        }
        for (k, v) in p.lxc {
            map.insert(k, v);
        }
        conf.pending = map;
        conf.pending_delete = p.delete.map(|d| parse_delete_list(&d)).unwrap_or_default();
    }
    for (name, s) in snapshots {
        let snap = CtConfig {
            description: s.description,
            options: s.options,
            env: s.env,
            lxc: s.lxc,
            ..Default::default()
        };
        conf.snapshots.insert(name, snap);
    }
    Ok((conf, warnings))
}

/// `[pve:pending]` or `[snapname]` (`[a-z][a-z0-9_\-]+`, case-insensitive).
fn section_header(line: &str) -> Option<&str> {
    let inner = line.trim_end().strip_prefix('[')?.strip_suffix(']')?;
    if inner.eq_ignore_ascii_case("pve:pending") {
        return Some(inner);
    }
    let b = inner.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    ok.then_some(inner)
}

/// `parse_pending_delete`: separators `,`, `;` and whitespace; `!` marks a forced delete.
pub fn parse_delete_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A raw lxc line: `lxc.key: value` or `lxc.key = value`.
fn raw_lxc_line(line: &str) -> Option<(&str, &str)> {
    if !line.starts_with("lxc.") {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c)))
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    if key.len() <= 4 {
        return None;
    }
    let value = if let Some(v) = rest.strip_prefix(':') {
        v
    } else {
        rest.trim_start().strip_prefix('=')?
    };
    Some((key, value.trim()))
}

/// A normal line `^([a-z][a-z_]*\d*):\s*(.+?)\s*$`.
fn key_line(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let b = key.as_bytes();
    let letters = b
        .iter()
        .take_while(|c| c.is_ascii_lowercase() || **c == b'_')
        .count();
    let ok =
        !b.is_empty() && b[0].is_ascii_lowercase() && b[letters..].iter().all(u8::is_ascii_digit);
    let value = value.trim();
    (ok && !value.is_empty()).then_some((key, value))
}

fn parse_line(
    sec: &mut Section,
    line: &str,
    lineno: usize,
    vmid: u32,
    is_pending: bool,
    warnings: &mut Vec<String>,
) -> Result<(), Problem> {
    let syntax = || Problem {
        error: ConfigError::Syntax {
            line: lineno,
            text: line.to_string(),
        },
        warning: format!("vm {vmid} - unable to parse config: {line}"),
    };
    if let Some(rest) = line.strip_prefix('#') {
        sec.description.push_str(&decode_text(rest));
        sec.description.push('\n');
        return Ok(());
    }
    if let Some((key, value)) = raw_lxc_line(line) {
        let verdict = lxckeys::check(key);
        if let lxckeys::LxcKey::Warn(_) = verdict {
            warnings.extend(verdict.message(vmid, key, line));
        }
        return match verdict {
            lxckeys::LxcKey::Allowed | lxckeys::LxcKey::Warn(_) => {
                if key == ENV_KEY {
                    sec.env.push(value.to_string());
                } else {
                    sec.lxc.push((key.to_string(), value.to_string()));
                }
                Ok(())
            }
            lxckeys::LxcKey::Rejected(reason) => Err(Problem {
                error: ConfigError::Value {
                    key: key.to_string(),
                    msg: reason.to_string(),
                },
                warning: format!("vm {vmid} - {key}: {reason}"),
            }),
            lxckeys::LxcKey::Unknown => Err(syntax()),
        };
    }
    if let Some(v) = line.strip_prefix("description:") {
        if !v.trim().is_empty() {
            sec.description.push_str(&decode_text(v.trim()));
            return Ok(());
        }
    }
    if let Some(state) = line
        .find("snapstate:")
        .map(|i| line[i + "snapstate:".len()..].trim())
        .filter(|s| *s == "prepare" || *s == "delete")
    {
        sec.options.insert("snapstate".into(), state.to_string());
        return Ok(());
    }
    if let Some(v) = line
        .strip_prefix("delete:")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        if is_pending {
            sec.delete = Some(v.to_string());
            return Ok(());
        }
        return Err(Problem {
            error: ConfigError::Value {
                key: "delete".into(),
                msg: "property 'delete' is only allowed in [pve:pending]".into(),
            },
            warning: format!("vm {vmid} - property 'delete' is only allowed in [pve:pending]"),
        });
    }
    let Some((key, value)) = key_line(line) else {
        return Err(syntax());
    };
    let checked = confkeys::check_file_value(key, value);
    // Proxmox keeps the value as written when the check fails (non-strict read).
    let stored = checked.clone().unwrap_or_else(|_| value.to_string());
    if key == "env" {
        sec.env = stored.split('\0').map(str::to_string).collect();
    } else {
        sec.options.insert(key.to_string(), stored);
    }
    checked.map(|_| ()).map_err(|msg| Problem {
        error: if confkeys::lookup(key).is_none() {
            ConfigError::UnknownKey(key.to_string())
        } else {
            ConfigError::Value {
                key: key.to_string(),
                msg: msg.clone(),
            }
        },
        warning: format!("vm {vmid} - unable to parse value of '{key}' - {msg}"),
    })
}

impl CtConfig {
    /// Strict parse: the first problem is an error.
    pub fn parse(text: &str) -> Result<CtConfig, ConfigError> {
        parse_impl(text, 0, true).map(|(c, _)| c)
    }

    /// Proxmox's normal read of CT `vmid`'s config: problems are returned as warnings in
    /// Proxmox's words (`vm <vmid> - ...`) and the offending raw or unparsable line is skipped.
    pub fn parse_lenient(text: &str, vmid: u32) -> (CtConfig, Vec<String>) {
        parse_impl(text, vmid, false).expect("non-strict parse does not fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_key_line_is_read_without_newline() {
        let c = CtConfig::parse("description: hello%3A world\narch: amd64\n").unwrap();
        assert_eq!(c.description, "hello: world");
    }

    #[test]
    fn booleans_are_normalised() {
        let c = CtConfig::parse("onboot: yes\nunprivileged: off\n").unwrap();
        assert_eq!(c.options["onboot"], "1");
        assert_eq!(c.options["unprivileged"], "0");
    }

    #[test]
    fn unknown_key_error_names_the_key() {
        assert_eq!(
            CtConfig::parse("arch: amd64\nfoo: 1\n"),
            Err(ConfigError::UnknownKey("foo".into()))
        );
        assert_eq!(
            CtConfig::parse("foo: 1").unwrap_err().to_string(),
            "unknown setting 'foo'"
        );
        let e = CtConfig::parse("memory: lots\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "memory: type check ('integer') failed - got 'lots'"
        );
        let e = CtConfig::parse("arch: amd64\nthis is junk\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Syntax {
                line: 2,
                text: "this is junk".into()
            }
        );
        let e = CtConfig::parse("lxc.rootfs.path: /x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs"
        );
        assert!(matches!(
            CtConfig::parse("lxc.foo.bar: 1\n"),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
        assert!(CtConfig::parse("delete: memory\n").is_err());
    }

    #[test]
    fn lenient_parse_warns_like_proxmox() {
        let text =
            "arch: amd64\nlxc.rootfs.path: /x\nlxc.foo = 1\nlxc.utsname: a\nmemory: lots\nfoo: 1\n";
        let (c, w) = CtConfig::parse_lenient(text, 100);
        assert_eq!(
            w,
            vec![
                "vm 100 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs",
                "vm 100 - unable to parse config: lxc.foo = 1",
                "vm 100 - lxc.utsname is deprecated and was renamed to lxc.uts.name",
                "vm 100 - unable to parse value of 'memory' - type check ('integer') failed - got 'lots'",
                "vm 100 - unable to parse value of 'foo' - unknown setting 'foo'",
            ]
        );
        assert_eq!(c.lxc, vec![("lxc.utsname".to_string(), "a".to_string())]);
        assert_eq!(c.options["memory"], "lots");
    }

    #[test]
    fn pending_and_snapshot_sections() {
        let text = "\
arch: amd64
memory: 512

[pve:pending]
#new descr
delete: swap,!cores
entrypoint: /bin/sh -c x
memory: 1024
lxc.environment.runtime: A=1
lxc.init.cwd: /tmp

[snap1]
#snap
arch: amd64
snaptime: 1700000000
lxc.init.cwd: /

[base]
memory: 256
snapstate: prepare
";
        let c = CtConfig::parse(text).unwrap();
        assert_eq!(c.pending["memory"], "1024");
        assert_eq!(c.pending["entrypoint"], "/bin/sh -c x");
        assert_eq!(c.pending["description"], "new descr\n");
        assert_eq!(c.pending["env"], "A=1");
        assert_eq!(c.pending["lxc.init.cwd"], "/tmp");
        assert_eq!(c.pending_delete, vec!["swap", "!cores"]);
        assert_eq!(c.snapshots["snap1"].description, "snap\n");
        assert_eq!(c.snapshots["snap1"].lxc_values("lxc.init.cwd"), vec!["/"]);
        assert_eq!(c.snapshots["base"].options["snapstate"], "prepare");
        // Sections come back in writer order: pending first, snapshots sorted by name.
        let expected = "\
arch: amd64
memory: 512

[pve:pending]
#new descr
delete: swap,!cores
entrypoint: /bin/sh -c x
memory: 1024
lxc.environment.runtime: A=1
lxc.init.cwd: /tmp

[base]
memory: 256
snapstate: prepare

[snap1]
#snap
arch: amd64
snaptime: 1700000000
lxc.init.cwd: /
";
        assert_eq!(c.to_conf_string(), expected);
        assert_eq!(CtConfig::parse(expected).unwrap(), c);
    }

    #[test]
    fn snapstate_is_dropped_from_the_current_section() {
        let c = CtConfig::parse("arch: amd64\nsnapstate: delete\n").unwrap();
        assert!(!c.options.contains_key("snapstate"));
    }
}
