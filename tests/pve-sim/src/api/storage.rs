//! `/nodes/{node}/storage…`: the storages of the sim's `storage.cfg` (a stock node's `local`
//! and `local-lvm` unless the file says otherwise). Files (templates, ISOs) live on the dir
//! storage `local` at `$PVE_SIM_ROOT/var/lib/vz` (templates in `template/cache`, the path `pct`
//! and `pvesm` of the sim use for `local:vztmpl/<name>`); lvmthin storages list their CT
//! volumes. All nodes share them, as they share the sim root.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};

use super::http::{Chunked, Request};
use super::multipart::{self, Multipart};
use super::reply::{subdirs, ApiError, ApiResult};
use super::schema::Entry;
use super::tasks::Work;
use super::{Call, Ctx};
use crate::storage::Storage;

pub const LOCAL: &str = "local";
pub const TEMPLATE_DIR: &str = "var/lib/vz/template/cache";
pub const ISO_DIR: &str = "var/lib/vz/template/iso";
pub const DUMP_DIR: &str = "var/lib/vz/dump";
/// The node's storages (`storage.cfg`).
fn storages(ctx: &Ctx, node: &str) -> Result<Vec<Storage>, ApiError> {
    crate::storage::load(&ctx.sim(node)).map_err(ApiError::die)
}

/// The storage the call names (`storage_check_enabled`).
fn check_storage(c: &Call) -> Result<Storage, ApiError> {
    let sid = c.get("storage").unwrap_or(LOCAL);
    storages(c.ctx, c.node())?
        .into_iter()
        .find(|s| s.id == sid)
        .ok_or_else(|| ApiError::die(format!("storage '{sid}' does not exist")))
}

/// `content_hash_to_string`: the content types sorted, comma-separated.
fn content_string(st: &Storage) -> String {
    let mut c = st.content.clone();
    c.sort();
    c.join(",")
}

fn content_dir(ctx: &Ctx, content: &str) -> Option<PathBuf> {
    match content {
        "vztmpl" => Some(ctx.root.join(TEMPLATE_DIR)),
        "iso" => Some(ctx.root.join(ISO_DIR)),
        "backup" => Some(ctx.root.join(DUMP_DIR)),
        _ => None,
    }
}

/// The format Proxmox reports for a template or ISO name; `None` if the name does not fit.
fn format_of(content: &str, name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    match content {
        "vztmpl" => [
            (".tar.gz", "tgz"),
            (".tgz", "tgz"),
            (".tar.xz", "txz"),
            (".tar.zst", "tzst"),
            (".tar.bz2", "tbz2"),
            (".tar", "tar"),
        ]
        .iter()
        .find(|(ext, _)| n.ends_with(ext) && n.len() > ext.len())
        .map(|(_, f)| *f),
        "iso" => (n.ends_with(".iso") || n.ends_with(".img")).then_some("iso"),
        // pve-storage src/PVE/Storage/Plugin.pm `get_subdir_files`: `vzdump-<type>-<vmid>-...`
        // with a backup extension; the format is the extension.
        "backup" => backup_vmid(name).and(
            ["tar.zst", "tar.gz", "tar.lzo", "tar", "tgz"]
                .into_iter()
                .find(|e| n.ends_with(&format!(".{e}"))),
        ),
        _ => None,
    }
}

pub fn status_entry(ctx: &Ctx, st: &Storage) -> Value {
    let (used, total) = crate::host::fs_usage(&ctx.root).unwrap_or((0, 0));
    json!({
        "storage": st.id, "type": st.kind, "plugintype": st.kind, "content": content_string(st),
        "active": 1, "enabled": i32::from(!st.disabled), "shared": 0,
        "total": total, "used": used, "avail": total.saturating_sub(used),
        "disk": used, "maxdisk": total,
    })
}

/// Every storage of node `node` as `/cluster/resources` and `GET …/storage` show it.
pub fn status_entries(ctx: &Ctx, node: &str) -> Result<Vec<Value>, ApiError> {
    Ok(storages(ctx, node)?
        .iter()
        .map(|st| status_entry(ctx, st))
        .collect())
}

pub fn list(c: &Call) -> ApiResult {
    let want = c.get("content");
    // Only storages the caller may see (pve-storage src/PVE/API2/Storage/Status.pm `index`).
    let list = storages(c.ctx, c.node())?
        .iter()
        .filter(|st| want.is_none_or(|w| w.split(',').all(|x| st.allows(x))))
        .filter(|st| c.get("storage").is_none_or(|s| s == st.id))
        .filter(|st| {
            c.acl()
                .check_any(
                    &format!("/storage/{}", st.id),
                    &["Datastore.Audit", "Datastore.AllocateSpace"],
                )
                .is_ok()
        })
        .map(|st| status_entry(c.ctx, st))
        .collect();
    Ok(Value::Array(list).into())
}

pub fn index(c: &Call) -> ApiResult {
    check_storage(c)?;
    subdirs(&[
        "content",
        "download-url",
        "file-restore",
        "import-metadata",
        "prunebackups",
        "rrd",
        "rrddata",
        "status",
        "upload",
    ])
}

pub fn status(c: &Call) -> ApiResult {
    let st = check_storage(c)?;
    Ok(status_entry(c.ctx, &st).into())
}

/// The guest of a backup archive's name (`vzdump-lxc-<vmid>-...`).
fn backup_vmid(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("vzdump-lxc-")
        .or_else(|| name.strip_prefix("vzdump-qemu-"))?;
    rest.split('-').next()?.parse().ok()
}

fn volume_entry(content: &str, name: &str, path: &Path) -> Option<Value> {
    let format = format_of(content, name)?;
    let md = fs::metadata(path).ok().filter(|m| m.is_file())?;
    let ctime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut e = json!({
        "volid": format!("{LOCAL}:{content}/{name}"), "format": format, "content": content,
        "size": md.len(), "ctime": ctime,
    });
    if content == "backup" {
        e["vmid"] = json!(backup_vmid(name));
        e["subtype"] = json!(if name.starts_with("vzdump-lxc-") {
            "lxc"
        } else {
            "qemu"
        });
    }
    Some(e)
}

pub fn content(c: &Call) -> ApiResult {
    let st = check_storage(c)?;
    if st.kind == "lvmthin" {
        let sim = c.ctx.sim(c.node());
        let vols = crate::storage::list_content(&sim, &st.id, c.get("content"), None)
            .map_err(ApiError::die)?;
        let out = vols
            .iter()
            .map(|v| {
                json!({"volid": v.volid, "format": v.format, "content": v.content,
                       "size": v.size, "ctime": v.ctime, "vmid": v.vmid})
            })
            .collect();
        return Ok(Value::Array(out).into());
    }
    let mut out = Vec::new();
    for content in ["backup", "iso", "vztmpl"] {
        if c.get("content").is_some_and(|w| w != content) || !st.allows(content) {
            continue;
        }
        let dir = content_dir(c.ctx, content).expect("known content");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        out.extend(
            names
                .iter()
                .filter_map(|n| volume_entry(content, n, &dir.join(n))),
        );
    }
    Ok(Value::Array(out).into())
}

/// `{volume}` (a volid or a name relative to the storage) → content type, name, path.
fn volume(c: &Call) -> Result<(String, String, PathBuf), ApiError> {
    let v = c.get("volume").unwrap_or("");
    let volname = match v.split_once(':') {
        Some((sid, rest)) if sid == c.get("storage").unwrap_or(LOCAL) => rest,
        Some((sid, _)) => return Err(ApiError::die(format!("storage '{sid}' does not exist"))),
        None => v,
    };
    let parsed = volname.split_once('/').and_then(|(content, name)| {
        let dir = content_dir(c.ctx, content)?;
        let plain = !name.is_empty() && !name.contains('/') && !name.starts_with('.');
        (plain && format_of(content, name).is_some())
            .then(|| (content.to_string(), name.to_string(), dir.join(name)))
    });
    parsed.ok_or_else(|| ApiError::die(format!("unable to parse volume name '{volname}'")))
}

/// Needs read access to the volume: for a template or ISO `Datastore.Allocate`, else
/// `Datastore.AllocateSpace|Datastore.Audit` (pve-storage src/PVE/Storage.pm `check_volume_access`).
pub fn volume_info(c: &Call) -> ApiResult {
    check_storage(c)?;
    let (content, name, path) = volume(c)?;
    let sp = format!("/storage/{LOCAL}");
    if !c.acl().has(&sp, "Datastore.Allocate") {
        c.acl()
            .check_any(&sp, &["Datastore.AllocateSpace", "Datastore.Audit"])?;
    }
    let e = volume_entry(&content, &name, &path).ok_or_else(|| {
        ApiError::die(format!("volume '{LOCAL}:{content}/{name}' does not exist"))
    })?;
    Ok(json!({"path": path, "size": e["size"], "used": e["size"], "format": e["format"]}).into())
}

/// Needs `Datastore.Allocate` on the storage, or for a backup `Datastore.AllocateSpace` and
/// `VM.Backup` on its guest (pve-storage src/PVE/API2/Storage/Content.pm `delete`,
/// src/PVE/Storage.pm `check_volume_access`).
pub fn volume_delete(c: &Call) -> ApiResult {
    check_storage(c)?;
    let (content, name, path) = volume(c)?;
    let sp = format!("/storage/{LOCAL}");
    match backup_vmid(&name).filter(|_| content == "backup") {
        Some(vmid) if !c.acl().has(&sp, "Datastore.Allocate") => {
            c.acl().check(&sp, &["Datastore.AllocateSpace"])?;
            c.acl().check(&format!("/vms/{vmid}"), &["VM.Backup"])?;
        }
        _ => c.acl().check(&sp, &["Datastore.Allocate"])?,
    }
    let volid = format!("{LOCAL}:{content}/{name}");
    if !path.is_file() {
        return Err(ApiError::die(format!("volume '{volid}' does not exist")));
    }
    let mut cmd = Command::new(&c.ctx.self_exe);
    cmd.arg("task-imgdel").arg(&volid).arg(&path);
    // A volid has `:` and `/`, which a UPID cannot carry.
    c.task(Work::new("imgdel", String::new(), c.node(), cmd))
}

/// Removes the spool file unless the import task took it over.
struct Spool(Option<PathBuf>);

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `[^a-zA-Z0-9_.-]` → `_` on the name's last path component.
fn normalize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || "_.-".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect()
}

/// `POST …/upload`: the multipart body is spooled to `var/tmp/pveupload-<hex>` while it
/// arrives, then an `imgcopy` task verifies the checksum and moves it into place.
pub fn upload(
    ctx: &Arc<Ctx>,
    req: &Request,
    entry: &Entry,
    vars: BTreeMap<String, String>,
    user: String,
    body: &mut dyn BufRead,
) -> ApiResult {
    let ct = req.header("content-type").unwrap_or("");
    let Some(boundary) =
        multipart::boundary(ct).filter(|_| req.content_type() == "multipart/form-data")
    else {
        return Err(ApiError::new(
            400,
            "upload needs a multipart/form-data body",
        ));
    };
    let mut chunked;
    let mut limited;
    let reader: &mut dyn BufRead = if req.chunked() {
        chunked = BufReader::new(Chunked::new(body));
        &mut chunked
    } else {
        limited = body.take(req.content_length().unwrap_or(0));
        &mut limited
    };
    let mut mp = Multipart::new(reader, &boundary);
    let mut params = BTreeMap::new();
    let mut spool = Spool(None);
    let bad = |e: std::io::Error| ApiError::new(400, format!("file upload failed - {e}"));
    while let Some(part) = mp.next_part().map_err(bad)? {
        let Some(fname) = part.filename else {
            params.insert(part.name, mp.value().map_err(bad)?);
            continue;
        };
        if part.name != "filename" {
            return Err(ApiError::new(
                400,
                format!(
                    "wrong field name '{}' for file upload, expected 'filename'",
                    part.name
                ),
            ));
        }
        let path = ctx.root.join(format!("var/tmp/pveupload-{}", random_hex()));
        let mut f = fs::File::create(&path)?;
        spool.0 = Some(path);
        mp.copy_to(&mut f).map_err(bad)?;
        params.insert("filename".into(), fname);
    }
    params.extend(req.query.iter().cloned());
    let c = super::prepare(ctx, entry, vars, params, user)?;
    // pve-storage src/PVE/API2/Storage/Status.pm `upload`: a storage with a path, a file
    // content type with the right extension, and the storage must hold that content.
    let st = check_storage(&c)?;
    if st.path.is_none() {
        return Err(ApiError::die(format!(
            "can't upload to storage type '{}'",
            st.kind
        )));
    }
    let content = c.get("content").unwrap_or("");
    let name = normalize_filename(c.get("filename").unwrap_or(""));
    // The schema's enum allows iso, vztmpl and import.
    let Some(dir) = content_dir(ctx, content) else {
        return Err(ApiError::die(format!(
            "pve-sim: uploading '{content}' content is not simulated"
        )));
    };
    if format_of(content, &name).is_none() {
        return Err(ApiError::param("filename", "wrong file extension"));
    }
    if !st.allows(content) {
        return Err(ApiError::die(format!(
            "storage '{}' does not support '{content}' content",
            st.id
        )));
    }
    let Some(src) = spool.0.clone() else {
        return Err(ApiError::param(
            "filename",
            "property is missing and it is not optional",
        ));
    };
    let mut cmd = Command::new(&ctx.self_exe);
    cmd.arg("task-imgcopy").arg(&src).arg(dir.join(&name));
    if let (Some(algo), Some(sum)) = (c.get("checksum-algorithm"), c.get("checksum")) {
        cmd.args([algo, sum]);
    }
    let upid = c.task(Work::new("imgcopy", String::new(), c.node(), cmd))?;
    // The task owns the spool file now.
    spool.0 = None;
    Ok(upid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            normalize_filename("C:\\x\\my tmpl+1.tar.gz"),
            "my_tmpl_1.tar.gz"
        );
        assert_eq!(format_of("vztmpl", "a.tar.zst"), Some("tzst"));
        assert_eq!(format_of("vztmpl", "a.tgz"), Some("tgz"));
        assert_eq!(format_of("vztmpl", "a.zip"), None);
        assert_eq!(format_of("vztmpl", ".tar"), None);
    }
}
