//! Writing the CT config file in Proxmox's order (`write_pct_config`, `generate_raw_config`).

use std::collections::BTreeMap;

use super::text::encode_text;
use super::{CtConfig, ENV_KEY};

/// Perl's `split(/\n/, $s)`: trailing empty fields are dropped.
fn split_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split('\n').collect();
    while v.last() == Some(&"") {
        v.pop();
    }
    v
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
    fn keys_are_written_sorted() {
        let c = CtConfig::parse("swap: 0\narch: amd64\nmemory: 64\n").unwrap();
        assert_eq!(c.to_conf_string(), "arch: amd64\nmemory: 64\nswap: 0\n");
    }
}
