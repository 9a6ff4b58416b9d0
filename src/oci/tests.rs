use std::io::Read;
use std::path::{Path, PathBuf};

use super::blob::{self, Descriptor};
use super::layer::{self, Compression};
use super::zstd::ZstdFrames;
use super::*;

fn desc(media_type: &str, bytes: &[u8]) -> Descriptor {
    use sha2::Digest;
    Descriptor {
        media_type: media_type.into(),
        digest: format!("sha256:{:x}", sha2::Sha256::digest(bytes)),
        size: bytes.len() as u64,
        annotations: Default::default(),
        platform: None,
    }
}

#[test]
fn entry_names_stay_inside_the_root() {
    let ok = |n: &str| layer::clean(Path::new(n), "l").unwrap();
    assert_eq!(ok("./usr/bin/env"), PathBuf::from("usr/bin/env"));
    assert_eq!(
        ok("/etc/passwd"),
        PathBuf::from("etc/passwd"),
        "anchored at the root"
    );
    assert_eq!(ok("./"), PathBuf::new());
    for bad in ["../x", "a/../../x", "/.."] {
        let e = layer::clean(Path::new(bad), "sha256:ab").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("layer sha256:ab: entry '{bad}' leaves the rootfs (..)")
        );
    }
}

#[test]
fn media_types() {
    let c = |t: &str| layer::compression(&desc(t, b""));
    let oci = "application/vnd.oci.image.layer.v1.";
    assert_eq!(c(&format!("{oci}tar")).unwrap(), Compression::None);
    assert_eq!(c(&format!("{oci}tar+gzip")).unwrap(), Compression::Gzip);
    assert_eq!(c(&format!("{oci}tar+zstd")).unwrap(), Compression::Zstd);
    let docker = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    assert_eq!(c(docker).unwrap(), Compression::Gzip);
    let nondist = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    assert_eq!(c(nondist).unwrap(), Compression::Gzip);
    let e = c(&format!("{oci}tar+bzip2")).unwrap_err().to_string();
    assert!(
        e.contains("media type 'application/vnd.oci.image.layer.v1.tar+bzip2' is not supported"),
        "{e}"
    );
}

#[test]
fn the_image_a_bundle_names() {
    let hex = "ab".repeat(32);
    let ann = |k: &str, v: &str| [(k.to_string(), v.to_string())];
    let id = |a: &[(String, String); 1]| bundle_image(a.iter().map(|(k, v)| (k, v)));
    let want = Ok(Some(format!("sha256:{hex}")));
    assert_eq!(id(&ann("io.kubernetes.cri-o.ImageRef", &hex)), want);
    assert_eq!(id(&ann(IMAGE_ANNOTATION, &format!("sha256:{hex}"))), want);
    assert_eq!(id(&ann(IMAGE_ANNOTATION, &hex)), want);
    assert_eq!(
        id(&ann("io.kubernetes.cri-o.ImageRef", "docker.io/x:1")),
        Ok(None)
    );
    let e = id(&ann(IMAGE_ANNOTATION, "busybox")).unwrap_err();
    assert!(e.contains("'busybox' is not an image ID"), "{e}");
    assert_eq!(id(&ann("other", &hex)), Ok(None));
}

#[test]
fn zstd_streams_of_several_frames() {
    let data: Vec<u8> = (0..200_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let (a, b) = data.split_at(300_000);
    let mut z = Vec::new();
    ruzstd::encoding::compress(a, &mut z, ruzstd::encoding::CompressionLevel::Fastest);
    // A skippable frame between the two (magic 0x184D2A5?, length, payload).
    z.extend_from_slice(&0x184D_2A5Au32.to_le_bytes());
    z.extend_from_slice(&3u32.to_le_bytes());
    z.extend_from_slice(b"xyz");
    ruzstd::encoding::compress(b, &mut z, ruzstd::encoding::CompressionLevel::Fastest);
    let mut out = Vec::new();
    ZstdFrames::Between(&z[..]).read_to_end(&mut out).unwrap();
    assert_eq!(out.len(), data.len());
    assert!(out == data, "decoded as written");
}

#[test]
fn a_blob_is_checked_as_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
    let d = desc("x", b"hello");
    let path = dir.path().join("blobs/sha256").join(&d.digest[7..]);
    std::fs::write(&path, b"hello").unwrap();
    let mut s = String::new();
    blob::open(dir.path(), &d, None)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "hello");
    std::fs::write(&path, b"jello").unwrap();
    let e = blob::open(dir.path(), &d, None)
        .unwrap()
        .finish()
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "blob {}: content does not match its digest",
            d.digest
        )),
        "{e}"
    );
    std::fs::write(&path, b"hello!").unwrap();
    let e = blob::open(dir.path(), &d, None).err().unwrap().to_string();
    assert_eq!(
        e,
        format!(
            "blob {}: does not match its descriptor (6 bytes, not 5)",
            d.digest
        )
    );
    let e = blob::open(dir.path(), &desc("x", b"gone").clone(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.ends_with(": missing from the layout"), "{e}");
    let bad = Descriptor {
        digest: "sha512:00".into(),
        ..d
    };
    let e = blob::open(dir.path(), &bad, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sha512:00: not a sha256 digest"), "{e}");
}

#[test]
fn layer_xattrs_are_set_when_a_template_keeps_them() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "setting security.capability and trusted.* needs root"
    );
    // A v2 `vfs_cap_data` granting cap_net_raw, permitted and effective.
    let cap: [u8; 20] = [
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut pax = Vec::new();
    for (k, v) in [
        ("SCHILY.xattr.security.capability", &cap[..]),
        ("SCHILY.xattr.user.test", b"kept"),
        ("SCHILY.xattr.trusted.test", b"dropped"),
        ("LIBARCHIVE.xattr.user.other", b"b3RoZXI"),
    ] {
        crate::vztmpl::pax_record(&mut pax, k.as_bytes(), v);
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(pax.len() as u64);
    b.append_data(&mut h, "PaxHeaders/ping", &pax[..]).unwrap();
    let mut file = |name: &str, mode: u32, owner: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner);
        h.set_mtime(0);
        h.set_size(name.len() as u64);
        b.append_data(&mut h, name, name.as_bytes()).unwrap();
    };
    file("ping", 0o755, 1000);
    file("plain", 0o644, 0);
    let bytes = b.into_inner().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut tree = layer::Tree::new(dir.path()).unwrap();
    layer::apply(&mut tree, &mut &bytes[..], "sha256:ab").unwrap();
    tree.finish().unwrap();
    let got = crate::sys::xattr::list(&dir.path().join("ping")).unwrap();
    assert_eq!(
        got,
        [
            (b"security.capability".to_vec(), cap.to_vec()),
            (b"user.test".to_vec(), b"kept".to_vec()),
        ],
        "set after the chown, trusted.* and other record kinds left out"
    );
    assert_eq!(std::fs::read(dir.path().join("ping")).unwrap(), b"ping");
    assert!(crate::sys::xattr::list(&dir.path().join("plain"))
        .unwrap()
        .is_empty());
}
