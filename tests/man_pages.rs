//! man/ holds pages generated from the clap definitions; this keeps them in step.
//! Regenerate with `UPDATE_MAN=1 cargo test --test man_pages`.

use clap::CommandFactory;
use proxmox_lxcri::cli::Cli;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).unwrap();
    out
}

#[test]
fn man_pages_match_the_command_line() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let root = Cli::command();
    let mut pages = vec![("proxmox-lxcri.1".to_string(), render(root.clone()))];
    for sub in root.get_subcommands() {
        let name = format!("proxmox-lxcri-{}", sub.get_name());
        pages.push((format!("{name}.1"), render(sub.clone().name(name.clone()))));
    }
    let update = std::env::var_os("UPDATE_MAN").is_some();
    for (file, text) in pages {
        let path = dir.join(&file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let have = std::fs::read(&path).unwrap_or_default();
        assert!(
            have == text,
            "man/{file} is stale: run UPDATE_MAN=1 cargo test --test man_pages"
        );
    }
}
