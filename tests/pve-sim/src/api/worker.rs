//! Workers of the tasks that are not `pct` runs, as hidden `pve-sim` subcommands so that every
//! task has a real process (its pid goes into the UPID): `task-fail` (the `fail_task` knob),
//! `task-imgcopy` (an upload's import), `task-imgdel` (removing a volume) and `task-after`
//! (the `slow_task_ms` knob: wait, then become the real worker).

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use sha2::Digest;

/// Runs a worker subcommand; `None` when `cmd` is not one.
pub fn run(cmd: &str, args: &[String]) -> Option<i32> {
    let res = match cmd {
        "task-fail" => Err("simulated task failure".to_string()),
        "task-imgcopy" => imgcopy(args),
        "task-imgdel" => imgdel(args),
        "task-after" => after(args),
        _ => return None,
    };
    Some(match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    })
}

fn file_hash(algo: &str, path: &Path) -> Result<String, String> {
    fn digest<D: Digest>(path: &Path) -> Result<String, String> {
        let mut f = fs::File::open(path).map_err(|e| e.to_string())?;
        let mut d = D::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            d.update(&buf[..n]);
        }
        Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
    match algo {
        "sha224" => digest::<sha2::Sha224>(path),
        "sha256" => digest::<sha2::Sha256>(path),
        "sha384" => digest::<sha2::Sha384>(path),
        "sha512" => digest::<sha2::Sha512>(path),
        // md5 and sha1 by coreutils rather than another dependency.
        "md5" | "sha1" => {
            let out = Command::new(format!("{algo}sum"))
                .arg(path)
                .output()
                .map_err(|e| format!("{algo}sum: {e}"))?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string())
        }
        other => Err(format!("unknown checksum algorithm '{other}'")),
    }
}

/// `task-imgcopy SPOOL DEST [ALGO CHECKSUM]`: verifies the checksum, then moves the spooled
/// upload into place (temp name + rename, so a reader never sees half a template).
fn imgcopy(args: &[String]) -> Result<(), String> {
    let [spool, dest, rest @ ..] = args else {
        return Err("usage: task-imgcopy SPOOL DEST [ALGO CHECKSUM]".into());
    };
    let (spool, dest) = (Path::new(spool), Path::new(dest));
    let res = (|| {
        println!("starting file import from: {}", spool.display());
        if let [algo, want] = rest {
            println!("calculating checksum ({algo})...");
            let got = file_hash(algo, spool)?;
            if !got.eq_ignore_ascii_case(want) {
                return Err(format!("checksum mismatch: got '{got}' != expect '{want}'"));
            }
            println!("checksum verified");
        }
        let size = fs::metadata(spool).map_err(|e| e.to_string())?.len();
        println!("target file: {}", dest.display());
        println!("file size is: {size}");
        let tmp = dest.with_file_name(format!(
            ".{}.tmp",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ));
        if fs::rename(spool, &tmp).is_err() {
            fs::copy(spool, &tmp).map_err(|e| format!("copy failed: {e}"))?;
        }
        fs::rename(&tmp, dest).map_err(|e| format!("rename failed: {e}"))?;
        println!("finished file import successfully");
        Ok(())
    })();
    let _ = fs::remove_file(spool);
    res
}

/// `task-after MS PROGRAM ARGS...`: sleeps, then execs the program (same pid, so the UPID
/// stays right).
fn after(args: &[String]) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let [ms, prog, rest @ ..] = args else {
        return Err("usage: task-after MS PROGRAM [ARGS...]".into());
    };
    std::thread::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0)));
    Err(format!("{prog}: {}", Command::new(prog).args(rest).exec()))
}

/// `task-imgdel VOLID PATH`.
fn imgdel(args: &[String]) -> Result<(), String> {
    let [volid, path] = args else {
        return Err("usage: task-imgdel VOLID PATH".into());
    };
    fs::remove_file(path).map_err(|e| format!("unable to remove '{path}' - {e}"))?;
    println!("Removed volume '{volid}'");
    Ok(())
}
