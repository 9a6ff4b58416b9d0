//! Generated documentation, kept in step with the code it comes from:
//! * `man/*.1` from the clap definitions,
//! * `man/proxmox-lxcri-config.5` and `contrib/config.toml.example` from `config::KEYS`.
//!
//! Regenerate with `UPDATE_MAN=1 cargo test --test man_pages`.

use std::path::Path;

use clap::CommandFactory;
use proxmox_lxcri::cli::Cli;
use proxmox_lxcri::config::{self, Config, KEYS};
use roff::{bold, italic, roman, Roff};

const REGENERATE: &str = "UPDATE_MAN=1 cargo test --test man_pages";

/// Write `text` to `rel` under the crate root with `UPDATE_MAN`, else fail if the file differs.
fn check(rel: &str, text: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let have = std::fs::read(&path).unwrap_or_default();
    assert!(have == text, "{rel} is stale: run {REGENERATE}");
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).unwrap();
    out
}

#[test]
fn man_pages_match_the_command_line() {
    let root = Cli::command();
    let mut pages = vec![("proxmox-lxcri.1".to_string(), render(root.clone()))];
    // Hidden subcommands (`completion`, for packaging) get no page.
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("proxmox-lxcri-{}", sub.get_name());
        pages.push((format!("{name}.1"), render(sub.clone().name(name.clone()))));
        // `images import`: the page its parent's SUBCOMMANDS section names.
        for nested in sub.get_subcommands() {
            let name = format!("{name}-{}", nested.get_name());
            pages.push((
                format!("{name}.1"),
                render(nested.clone().name(name.clone())),
            ));
        }
    }
    for (file, text) in pages {
        check(&format!("man/{file}"), &text);
    }
}

/// One key of a table: (name within the table, default, description).
type Key = (&'static str, &'static str, &'static str);

/// `KEYS` split into the top-level keys (table `None`) and one list per table, in that order.
fn by_table() -> Vec<(Option<&'static str>, Vec<Key>)> {
    let mut out: Vec<(Option<&str>, Vec<Key>)> = Vec::new();
    for &(key, default, desc) in KEYS {
        let (table, name) = match key.split_once('.') {
            Some((t, k)) => (Some(t), k),
            None => (None, key),
        };
        match out.iter_mut().find(|(t, _)| *t == table) {
            Some((_, keys)) => keys.push((name, default, desc)),
            None => out.push((table, vec![(name, default, desc)])),
        }
    }
    out.sort_by_key(|(t, _)| t.is_some());
    out
}

fn config_page() -> String {
    let mut r = Roff::new();
    // No date (it would make the page stale every day); " " keeps the slot.
    r.control(
        "TH",
        [
            "proxmox-lxcri-config",
            "5",
            " ",
            "proxmox-lxcri",
            "File Formats Manual",
        ],
    );
    r.control("SH", ["NAME"]);
    r.text([roman(
        "proxmox-lxcri-config - configuration file of the proxmox-lxcri OCI runtime",
    )]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([bold(config::DEFAULT_PATH)]);
    r.control("SH", ["DESCRIPTION"]);
    r.text([
        roman("proxmox-lxcri reads its configuration from the file named by "),
        bold("--config"),
        roman(", else by "),
        bold(format!("${}", config::ENV_VAR)),
        roman(", else from "),
        bold(config::DEFAULT_PATH),
        roman(" if that exists. No file means the defaults below."),
    ]);
    r.control("PP", []);
    r.text([roman(
        "The file is TOML. Every key is optional; an unknown key or a value of the wrong type is \
         an error that names it. CRI-O hands the runtime almost no environment, so everything \
         about the node is set here.",
    )]);
    r.control("PP", []);
    r.text([roman(
        "The file is read when a container is created; the container keeps that configuration \
         in its state for the rest of its life (kill and delete drive the same node with it), \
         so a change applies to containers created afterwards.",
    )]);
    for (table, keys) in by_table() {
        match table {
            None => r.control("SH", ["KEYS"]),
            Some(t) => {
                r.control("SS", [format!("[{t}]").as_str()]);
                r.text([roman(format!("Keys in the {t} table."))])
            }
        };
        for (key, default, desc) in keys {
            r.control("TP", []);
            r.text([bold(key), roman(" = "), italic(default)]);
            r.text([roman(desc)]);
        }
    }
    r.control("SH", ["EXAMPLE"]);
    r.control("nf", []);
    r.text([roman(
        "node = \"pve1\"\nvmid_range = [200000, 209999]\n[pct]\ntimeout = 300",
    )]);
    r.control("fi", []);
    r.control("SH", ["FILES"]);
    r.control("TP", []);
    r.text([bold(config::DEFAULT_PATH)]);
    r.text([roman("the default location")]);
    r.control("TP", []);
    r.text([bold("contrib/config.toml.example")]);
    r.text([roman(
        "in the source tree: every key with its default, ready to copy",
    )]);
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("proxmox-lxcri"),
        roman("(1), "),
        bold("pct"),
        roman("(1), "),
        bold("pct.conf"),
        roman("(5)"),
    ]);
    r.render()
}

fn config_example() -> String {
    let mut s = format!(
        "# proxmox-lxcri configuration: {} (or --config, or ${}).\n\
         # Every key is optional; the values below are the defaults. See proxmox-lxcri-config(5).\n\
         # Generated from KEYS in src/config.rs; regenerate with {REGENERATE}.\n",
        config::DEFAULT_PATH,
        config::ENV_VAR,
    );
    for (table, keys) in by_table() {
        s.push('\n');
        if let Some(t) = table {
            s.push_str(&format!("[{t}]\n"));
        }
        for (i, (key, default, desc)) in keys.iter().enumerate() {
            let gap = if i == 0 { "" } else { "\n" };
            s.push_str(&format!("{gap}# {desc}\n{key} = {default}\n"));
        }
    }
    s
}

#[test]
fn config_page_matches_the_keys() {
    check("man/proxmox-lxcri-config.5", config_page().as_bytes());
}

#[test]
fn config_example_matches_the_keys_and_parses_to_the_defaults() {
    let text = config_example();
    let parsed = Config::parse(&text).unwrap();
    assert_eq!(
        toml::Table::try_from(parsed).unwrap(),
        toml::Table::try_from(Config::default()).unwrap()
    );
    check("contrib/config.toml.example", text.as_bytes());
}
