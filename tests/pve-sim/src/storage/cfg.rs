//! `etc/pve/storage.cfg`: Proxmox's section config (`<type>: <id>` then indented `key value`
//! lines). A node without the file gets a stock installer's storages, rooted in the sim: `local`
//! (dir, no `rootdir`) and `local-lvm` (lvmthin, whose volumes the sim keeps as directories).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use proxmox_lxcri::pve::confkeys;

use crate::sim::Sim;

/// One storage definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub id: String,
    /// `dir`, `lvmthin`, `zfspool`, ... (`dir` and `lvmthin` are simulated).
    pub kind: String,
    /// `path` of path-based storages.
    pub path: Option<PathBuf>,
    /// `vgname` and `thinpool` of an lvmthin storage.
    pub vgname: Option<String>,
    pub thinpool: Option<String>,
    /// Where the sim keeps an lvmthin storage's logical volumes: one directory per LV under
    /// `$PVE_SIM_ROOT/var/lib/pve-sim-lvm/<vgname>/<thinpool>` (set by `load`).
    pub backing: Option<PathBuf>,
    /// Allowed content types, in file order.
    pub content: Vec<String>,
    pub disabled: bool,
}

impl Storage {
    pub fn allows(&self, content: &str) -> bool {
        self.content.iter().any(|c| c == content)
    }
}

pub fn cfg_path(sim: &Sim) -> PathBuf {
    sim.pve_dir().join("storage.cfg")
}

/// What the installer writes on an LVM node (pve-manager's installer, pve-storage's
/// `storage.cfg` defaults): `local` holds ISOs, templates and backups but no CT volumes; those go
/// to the thin pool `local-lvm`.
pub fn default_cfg(sim: &Sim) -> String {
    format!(
        "dir: local\n\tpath {}\n\tcontent iso,vztmpl,backup\n\n\
         lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n",
        sim.root.join("var/lib/vz").display()
    )
}

/// Writes the default file unless one exists. Concurrent callers are fine: the file appears
/// by `link`, which never replaces what another process (or a user) put there.
fn ensure_cfg(sim: &Sim) -> std::io::Result<()> {
    let path = cfg_path(sim);
    if path.exists() {
        return Ok(());
    }
    fs::create_dir_all(sim.pve_dir())?;
    // A node always has /var/lib/vz; without it the default storage could not be activated.
    fs::create_dir_all(sim.root.join("var/lib/vz"))?;
    // Unique per process and call: the API server's threads may get here at once.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("cfg.tmp.{}.{seq}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&tmp)?;
    f.write_all(default_cfg(sim).as_bytes())?;
    drop(f);
    let res = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match res {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Parses the section config text; malformed lines are skipped, as Proxmox warns and goes on.
pub fn parse(text: &str) -> Vec<Storage> {
    let mut out: Vec<Storage> = Vec::new();
    let mut current: Option<Storage> = None;
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            out.extend(current.take());
            continue;
        }
        if line.starts_with(|c: char| c.is_whitespace()) {
            let Some(st) = current.as_mut() else { continue };
            let body = line.trim();
            let (key, value) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
            let value = value.trim();
            match key {
                "path" => st.path = Some(PathBuf::from(value)),
                "content" => st.content = confkeys::split_list(value).map(String::from).collect(),
                "disable" => st.disabled = value.is_empty() || value == "1",
                "vgname" => st.vgname = Some(value.to_string()),
                "thinpool" => st.thinpool = Some(value.to_string()),
                _ => {}
            }
            continue;
        }
        out.extend(current.take());
        if let Some((kind, id)) = line.split_once(':') {
            let (kind, id) = (kind.trim().to_ascii_lowercase(), id.trim());
            if !kind.is_empty() && !id.is_empty() && !id.contains(char::is_whitespace) {
                current = Some(Storage {
                    id: id.to_string(),
                    kind,
                    path: None,
                    vgname: None,
                    thinpool: None,
                    backing: None,
                    content: Vec::new(),
                    disabled: false,
                });
            }
        }
    }
    out.extend(current);
    out
}

/// All storages of the node (writing the default file first if there is none).
pub fn load(sim: &Sim) -> Result<Vec<Storage>, String> {
    ensure_cfg(sim).map_err(|e| format!("unable to write '{}' - {e}", cfg_path(sim).display()))?;
    let text = fs::read_to_string(cfg_path(sim))
        .map_err(|e| format!("unable to read '{}' - {e}", cfg_path(sim).display()))?;
    let mut list = parse(&text);
    for st in list.iter_mut().filter(|s| s.kind == "lvmthin") {
        if let (Some(vg), Some(pool)) = (&st.vgname, &st.thinpool) {
            st.backing = Some(sim.root.join("var/lib/pve-sim-lvm").join(vg).join(pool));
        }
    }
    Ok(list)
}

/// `storage_config`: the storage called `id`.
pub fn storage_config(sim: &Sim, id: &str) -> Result<Storage, String> {
    load(sim)?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| format!("storage '{id}' does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections() {
        let text = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n\
                    lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\
                    dir: off\n\tpath /x\n\tdisable\n";
        let s = parse(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].id, "local");
        assert_eq!(
            s[0].path.as_deref(),
            Some(std::path::Path::new("/var/lib/vz"))
        );
        assert_eq!(s[0].content, ["iso", "vztmpl", "backup"]);
        assert!(s[1].allows("rootdir") && s[1].kind == "lvmthin" && s[1].path.is_none());
        assert_eq!(
            (s[1].vgname.as_deref(), s[1].thinpool.as_deref()),
            (Some("pve"), Some("data"))
        );
        assert!(s[2].disabled);
    }
}
