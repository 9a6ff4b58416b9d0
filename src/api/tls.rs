//! TLS trust for the node: a pinned leaf fingerprint (as Proxmox pins: SHA-256 of the leaf's DER,
//! hostname and chain ignored), or the CAs of a PEM file, or the system roots.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::api::credentials::Fingerprint;

/// How the node's certificate is checked.
#[derive(Debug, Clone)]
pub enum Trust {
    Pin(Fingerprint),
    CaFile(std::path::PathBuf),
    SystemRoots,
}

pub fn fingerprint_of(der: &[u8]) -> Fingerprint {
    Fingerprint(Sha256::digest(der).into())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, ApiError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::TlsSetup(e.to_string()))?;
    let config = match trust {
        Trust::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier {
                pin: *pin,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        Trust::CaFile(path) => builder
            .with_root_certificates(ca_roots(path)?)
            .with_no_client_auth(),
        Trust::SystemRoots => builder
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn ca_roots(path: &Path) -> Result<RootCertStore, ApiError> {
    let err = |msg: String| ApiError::CaFile {
        path: path.display().to_string(),
        msg,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
        let cert = cert.map_err(|e| err(e.to_string()))?;
        roots.add(cert).map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no certificates in it".into()));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::warn!("loading system CA certificates: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (ok, bad) = roots.add_parsable_certificates(found.certs);
    log::debug!("system CA certificates: {ok} loaded, {bad} unparsable");
    roots
}

/// Carried inside rustls' error so the client can tell the caller which certificate it saw.
#[derive(Debug)]
pub struct PinMismatch {
    pub presented: Fingerprint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate fingerprint {} is not the pinned one",
            self.presented
        )
    }
}

impl StdError for PinMismatch {}

#[derive(Debug)]
struct PinVerifier {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint_of(end_entity);
        if presented == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch { presented })),
            )))
        }
    }

    // The pin vouches for the certificate; the handshake must still prove the server holds its key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls error inside a ureq transport error. std's `io::Error::source` skips the error it
/// wraps, so look through `get_ref` too.
pub fn rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = rustls_error(inner) {
                return Some(r);
            }
        }
        cur = err.source();
    }
    None
}

/// The certificate the server presented when the pin did not match.
pub fn pin_mismatch(e: &rustls::Error) -> Option<Fingerprint> {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<PinMismatch>().map(|m| m.presented)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_is_found_through_io_error() {
        let presented = Fingerprint([7; 32]);
        let r = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(PinMismatch { presented }),
        )));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, r);
        let found = rustls_error(&io).and_then(pin_mismatch);
        assert_eq!(found, Some(presented));
        let plain = std::io::Error::new(std::io::ErrorKind::InvalidData, "x");
        assert!(rustls_error(&plain).is_none());
    }

    #[test]
    fn empty_or_missing_ca_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "").unwrap();
        let e = client_config(&Trust::CaFile(empty.clone())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("ca file {}: no certificates in it", empty.display())
        );
        let missing = dir.path().join("nope.pem");
        let e = client_config(&Trust::CaFile(missing.clone())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("ca file {}: ", missing.display())),
            "{e}"
        );
    }
}
