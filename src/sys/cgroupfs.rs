//! Where the cgroup hierarchies are mounted.

use std::path::{Path, PathBuf};

/// (controllers, mount point) of each cgroup mount; controllers is empty for cgroup2.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<(Vec<String>, PathBuf)> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_src), Some(opts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        let Some(mnt) = left.split(' ').nth(4) else {
            continue;
        };
        let root = left.split(' ').nth(3).unwrap_or("/");
        if root != "/" {
            continue; // a bind of a sub-tree (e.g. inside a container): not the hierarchy root
        }
        match fstype {
            "cgroup2" => out.push((Vec::new(), PathBuf::from(mnt))),
            "cgroup" => {
                let ctrls = opts
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro") && !o.contains('=') || o.starts_with("name=")
                    })
                    .filter(|o| {
                        ![
                            "nosuid",
                            "nodev",
                            "noexec",
                            "relatime",
                            "clone_children",
                            "noprefix",
                            "xattr",
                        ]
                        .contains(o)
                    })
                    .map(String::from)
                    .collect();
                out.push((ctrls, PathBuf::from(mnt)));
            }
            _ => {}
        }
    }
    out
}

/// The mount of the hierarchy named by a `/proc/<pid>/cgroup` controller field.
pub fn mount_for<'a>(mounts: &'a [(Vec<String>, PathBuf)], ctrls: &str) -> Option<&'a Path> {
    let want: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
    mounts
        .iter()
        .find(|(have, _)| {
            if want.is_empty() {
                have.is_empty()
            } else {
                !have.is_empty() && want.iter().all(|w| have.iter().any(|h| h == w))
            }
        })
        .map(|(_, p)| p.as_path())
}
