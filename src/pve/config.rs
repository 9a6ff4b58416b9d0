//! The CT config file `/etc/pve/nodes/<node>/lxc/<vmid>.conf` (pve-container
//! src/PVE/LXC/Config.pm, `parse_pct_config` / `write_pct_config`).
//!
//! API contract (implement; keep it):
//!
//! * `CtConfig::parse(text) -> Result<CtConfig, ConfigError>`: strict parse of the whole file
//!   (current section, `[pve:pending]`, snapshot sections). `#` lines are the description
//!   (percent-decoded), `lxc.*` lines (both `:` and `=` forms) go to `lxc` in file order except
//!   `lxc.environment.runtime`, which is folded into `env`; other `key: value` lines go to `options`.
//! * `CtConfig::to_conf_string(&self) -> String`: Proxmox's writer order: description lines,
//!   sorted keys, `lxc.environment.runtime:` per env entry, raw `lxc.*` pairs (colon form), then
//!   `[pve:pending]` and snapshots.
//!
//! `CtConfig::parse_lenient` is Proxmox's normal (non-strict) read: problems become warnings with
//! Proxmox's text and the line is skipped, except a bad value of a known line shape, which Proxmox
//! keeps as written.
//!
//! The pending section is kept in `pending` the way Proxmox keeps it: `description` and `env`
//! (NUL-joined) are ordinary entries there, and raw `lxc.*` lines of the pending section are
//! entries named by their key (a repeated pending raw key keeps its last value).

use std::collections::BTreeMap;

use crate::pve::{confkeys, lxckeys};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtConfig {
    /// Free text, one logical line per `#` line in the file.
    pub description: String,
    /// Normal keys (`arch`, `rootfs`, `mp0`, ...), kept sorted.
    pub options: BTreeMap<String, String>,
    /// `VAR=value` entries (the `env` key; `lxc.environment.runtime` lines in the file).
    pub env: Vec<String>,
    /// Raw `lxc.*` pairs in file order.
    pub lxc: Vec<(String, String)>,
    /// `[pve:pending]` keys and the pending `delete:` list.
    pub pending: BTreeMap<String, String>,
    pub pending_delete: Vec<String>,
    /// Snapshot sections by name.
    pub snapshots: BTreeMap<String, CtConfig>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unable to parse config line {line}: {text}")]
    Syntax { line: usize, text: String },
    #[error("unknown setting '{0}'")]
    UnknownKey(String),
    #[error("{key}: {msg}")]
    Value { key: String, msg: String },
}

/// The key raw env entries are stored under in the file.
pub const ENV_KEY: &str = "lxc.environment.runtime";

/// Proxmox's `encode_text` for `#` lines: `%`, `:`, control and non-ASCII bytes become `%XX`.
pub fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let safe = matches!(b, 0x20..=0x24 | 0x26..=0x39 | 0x3b..=0x7e);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Proxmox's `decode_text`: `%XX` unescaped, then read as UTF-8.
pub fn decode_text(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Perl's `split(/\n/, $s)`: trailing empty fields are dropped.
fn split_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split('\n').collect();
    while v.last() == Some(&"") {
        v.pop();
    }
    v
}

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

/// One section as Proxmox's `generate_raw_config` writes it.
fn write_section(
    out: &mut String,
    description: &str,
    keys: &BTreeMap<String, String>,
    env: &[&str],
    lxc: &[(&str, &str)],
) {
    for l in split_lines(description) {
        out.push('#');
        out.push_str(&encode_text(l));
        out.push('\n');
    }
    for (k, v) in keys {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    }
    for e in env {
        out.push_str(ENV_KEY);
        out.push_str(": ");
        out.push_str(e);
        out.push('\n');
    }
    for (k, v) in lxc {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    }
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

    pub fn to_conf_string(&self) -> String {
        let mut out = String::new();
        let env: Vec<&str> = self.env.iter().map(String::as_str).collect();
        let lxc: Vec<(&str, &str)> = self
            .lxc
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        write_section(&mut out, &self.description, &self.options, &env, &lxc);

        if !self.pending.is_empty() || !self.pending_delete.is_empty() {
            out.push_str("\n[pve:pending]\n");
            let mut keys: BTreeMap<String, String> = self
                .pending
                .iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "description" | "env") && !k.starts_with("lxc.")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !self.pending_delete.is_empty() {
                keys.insert("delete".into(), self.pending_delete.join(","));
            }
            let env: Vec<&str> = self
                .pending
                .get("env")
                .map(|e| e.split('\0').collect())
                .unwrap_or_default();
            let lxc: Vec<(&str, &str)> = self
                .pending
                .iter()
                .filter(|(k, _)| k.starts_with("lxc."))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let descr = self.pending.get("description").map_or("", String::as_str);
            write_section(&mut out, descr, &keys, &env, &lxc);
        }

        for (name, snap) in &self.snapshots {
            out.push_str(&format!("\n[{name}]\n"));
            let env: Vec<&str> = snap.env.iter().map(String::as_str).collect();
            let lxc: Vec<(&str, &str)> = snap
                .lxc
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            write_section(&mut out, &snap.description, &snap.options, &env, &lxc);
        }
        out
    }

    /// A key's current value; `description` and `env` (NUL-joined) included.
    pub fn get(&self, key: &str) -> Option<String> {
        match key {
            "description" => Some(self.description.clone()).filter(|d| !d.is_empty()),
            "env" => Some(self.env.join("\0")).filter(|_| !self.env.is_empty()),
            _ => self.options.get(key).cloned(),
        }
    }

    /// Sets a key; `description` and `env` (NUL-separated) go to their own fields.
    pub fn set(&mut self, key: &str, value: &str) {
        match key {
            "description" => self.description = value.to_string(),
            "env" => {
                self.env = value
                    .split('\0')
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => {
                self.options.insert(key.to_string(), value.to_string());
            }
        }
    }

    /// Removes a key (also `description`, `env`), returning whether it was set.
    pub fn remove(&mut self, key: &str) -> bool {
        match key {
            "description" => !std::mem::take(&mut self.description).is_empty(),
            "env" => !std::mem::take(&mut self.env).is_empty(),
            _ => self.options.remove(key).is_some(),
        }
    }

    /// Values of raw key `key`, in file order.
    pub fn lxc_values(&self, key: &str) -> Vec<&str> {
        self.lxc
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn lock(&self) -> Option<&str> {
        self.options.get("lock").map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
#proxmox-lxcri id%3Aabc
#second line 100%25
arch: amd64
cores: 1
hostname: web01
memory: 512
mp0: /srv/data,mp=/data,ro=1
ostype: unmanaged
rootfs: /run/bundle/rootfs
swap: 512
tags: proxmox-lxcri
unprivileged: 1
lxc.environment.runtime: PATH=/usr/bin:/bin
lxc.environment.runtime: A=b c
lxc.init.cwd: /work
lxc.apparmor.profile: unconfined
";

    #[test]
    fn round_trips_a_typical_config() {
        let c = CtConfig::parse(SAMPLE).unwrap();
        assert_eq!(c.description, "proxmox-lxcri id:abc\nsecond line 100%\n");
        assert_eq!(c.options["rootfs"], "/run/bundle/rootfs");
        assert_eq!(c.env, vec!["PATH=/usr/bin:/bin", "A=b c"]);
        assert_eq!(c.lxc_values("lxc.init.cwd"), vec!["/work"]);
        assert_eq!(c.lxc.len(), 2);
        assert_eq!(c.to_conf_string(), SAMPLE);
    }

    #[test]
    fn description_encoding() {
        assert_eq!(encode_text("a:b%c d\te\u{e9}"), "a%3Ab%25c d%09e%C3%A9");
        assert_eq!(
            decode_text("a%3Ab%25c%20d%C3%A9%zz%4"),
            "a:b%c d\u{e9}%zz%4"
        );
        let c = CtConfig {
            description: "x: 1\n\nlast".into(),
            ..Default::default()
        };
        assert_eq!(c.to_conf_string(), "#x%3A 1\n#\n#last\n");
        let back = CtConfig::parse(&c.to_conf_string()).unwrap();
        assert_eq!(back.description, "x: 1\n\nlast\n");
    }

    #[test]
    fn description_key_line_is_read_without_newline() {
        let c = CtConfig::parse("description: hello%3A world\narch: amd64\n").unwrap();
        assert_eq!(c.description, "hello: world");
    }

    #[test]
    fn equals_form_lxc_lines_are_written_in_colon_form() {
        let c = CtConfig::parse(
            "arch: amd64\nlxc.init.cmd = /sbin/init x\nlxc.environment.runtime=A=1\n",
        )
        .unwrap();
        assert_eq!(
            c.lxc,
            vec![("lxc.init.cmd".to_string(), "/sbin/init x".to_string())]
        );
        assert_eq!(c.env, vec!["A=1"]);
        assert_eq!(
            c.to_conf_string(),
            "arch: amd64\nlxc.environment.runtime: A=1\nlxc.init.cmd: /sbin/init x\n"
        );
    }

    #[test]
    fn env_folding_and_env_key() {
        let mut c = CtConfig::parse("arch: amd64\n").unwrap();
        c.set("env", "A=1\0B=2");
        assert_eq!(c.get("env").unwrap(), "A=1\0B=2");
        assert_eq!(
            c.to_conf_string(),
            "arch: amd64\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\n"
        );
    }

    #[test]
    fn keys_are_written_sorted() {
        let c = CtConfig::parse("swap: 0\narch: amd64\nmemory: 64\n").unwrap();
        assert_eq!(c.to_conf_string(), "arch: amd64\nmemory: 64\nswap: 0\n");
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

    #[test]
    fn helpers() {
        let mut c = CtConfig::default();
        c.set("lock", "create");
        assert_eq!(c.lock(), Some("create"));
        assert!(c.remove("lock"));
        assert!(!c.remove("lock"));
        c.set("description", "d");
        assert_eq!(c.get("description").as_deref(), Some("d"));
        assert_eq!(c.get("memory"), None);
    }
}
