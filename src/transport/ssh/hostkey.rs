//! What the user sees of a host key (type and OpenSSH fingerprint), and which key types a
//! known_hosts file lists for a host.

use sha2::{Digest, Sha256};

/// OpenSSH's fingerprint form: `SHA256:` then the unpadded base64 of the key blob's digest.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", base64_unpadded(&Sha256::digest(blob)))
}

fn base64_unpadded(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        // n bytes of input make n + 1 characters once padding is dropped
        for i in 0..=chunk.len() {
            s.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

/// The key type a public key blob starts with (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...).
pub fn key_type(blob: &[u8]) -> String {
    blob.get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .and_then(|n| blob.get(4..4 + n))
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or("unknown")
        .to_string()
}

/// Host key algorithms for the key types `known_hosts` lists for `host`:`port` (plain entries
/// only), so the server is asked for a key we can check instead of libssh2's first choice, which
/// would read as a changed key. Empty when nothing matches.
pub fn algorithms_for(known_hosts: &str, host: &str, port: u16) -> String {
    let name = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let mut algs: Vec<&str> = Vec::new();
    for line in known_hosts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(names), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        if names.starts_with('@') || !names.split(',').any(|n| n == name) {
            continue;
        }
        let these: &[&str] = match kind {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            "ssh-ed25519" => &["ssh-ed25519"],
            "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
            "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
            "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
            _ => &[],
        };
        for a in these {
            if !algs.contains(a) {
                algs.push(a);
            }
        }
    }
    algs.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_without_padding() {
        assert_eq!(base64_unpadded(b""), "");
        assert_eq!(base64_unpadded(b"f"), "Zg");
        assert_eq!(base64_unpadded(b"fo"), "Zm8");
        assert_eq!(base64_unpadded(b"foo"), "Zm9v");
        assert_eq!(base64_unpadded(b"foob"), "Zm9vYg");
        assert_eq!(base64_unpadded(b"fooba"), "Zm9vYmE");
        assert_eq!(base64_unpadded(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_unpadded(&[0xfb, 0xff]), "+/8");
    }

    #[test]
    fn fingerprint_is_sha256_of_the_blob() {
        // sha256("") in base64 is 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
        assert_eq!(
            fingerprint(b""),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn key_type_reads_the_blob_header() {
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        assert_eq!(key_type(&blob), "ssh-ed25519");
        assert_eq!(key_type(&[0, 0, 0, 99, b'x']), "unknown");
    }

    #[test]
    fn algorithms_follow_the_listed_key_types() {
        let kh = "node1,10.0.0.1 ssh-rsa AAAA\n\
                  [node1]:2222 ssh-ed25519 AAAA\n\
                  @cert-authority node1 ssh-ed25519 AAAA\n\
                  # node1 ecdsa-sha2-nistp256 AAAA\n\
                  10.0.0.1 ecdsa-sha2-nistp256 AAAA\n";
        assert_eq!(
            algorithms_for(kh, "node1", 22),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa"
        );
        assert_eq!(algorithms_for(kh, "node1", 2222), "ssh-ed25519");
        assert_eq!(
            algorithms_for(kh, "10.0.0.1", 22),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ecdsa-sha2-nistp256"
        );
        assert_eq!(algorithms_for(kh, "other", 22), "");
    }
}
