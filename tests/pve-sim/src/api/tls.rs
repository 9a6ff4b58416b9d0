//! The server certificate: self-signed (rcgen) for 127.0.0.1, localhost and the node names,
//! kept in `--tls-dir` as `cert.pem`/`key.pem` and reused, so a restarted server keeps its
//! fingerprint. Clients pin the SHA-256 of the leaf DER, as Proxmox's own client does with a node
//! (pve-apiclient src/PVE/APIClient/LWP.pm).

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use proxmox_lxcri::api::credentials::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: String,
}

fn write_private(path: &Path, data: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data.as_bytes())
}

/// Loads or creates the certificate in `dir` and builds the rustls server config.
pub fn setup(dir: &Path, nodes: &[String]) -> Result<Tls, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !cert_path.exists() || !key_path.exists() {
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        names.extend(nodes.iter().cloned());
        let ck = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
        write_private(&key_path, &ck.key_pair.serialize_pem())
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        fs::write(&cert_path, ck.cert.pem())
            .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    }
    let cert = CertificateDer::from_pem_file(&cert_path)
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let fingerprint = Fingerprint(Sha256::digest(cert.as_ref()).into()).to_string();
    // An explicit provider: the process may link more than one.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(|e| e.to_string())?;
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
    })
}
