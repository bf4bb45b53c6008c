//! TLS for the server: rustls with the ring provider (the one crypto provider of the whole
//! tree), TLS 1.3 and 1.2 with rustls's default cipher suites (AEAD only, forward secrecy only),
//! ALPN `h2` and `http/1.1`.
//!
//! The certificate is held behind [`Certs`], a resolver whose key can be swapped while the
//! server runs: certificate rotation is [`Certs::reload`], and a bad new pair is refused while
//! the old one stays in use. Without configured files, [`self_signed`] makes a certificate once
//! and keeps it in `data_dir/tls/`, so firewalls that pinned it keep working across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// TLS set-up errors, each naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no usable PEM item.
    #[error("{path}: {what}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
    /// The key does not fit rustls (unsupported type) or the certificate.
    #[error("{path}: {what}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Making the self-signed certificate failed.
    #[error("cannot make a self-signed certificate in {dir}: {what}")]
    Generate {
        /// The directory.
        dir: PathBuf,
        /// Why.
        what: String,
    },
}

/// Reads a PEM certificate chain and private key.
///
/// # Errors
/// [`TlsError`] naming the file at fault.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::File {
            path: cert.to_path_buf(),
            what: format!("cannot read certificates ({e})"),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File {
            path: cert.to_path_buf(),
            what: format!("bad PEM ({e})"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::File {
            path: cert.to_path_buf(),
            what: "no CERTIFICATE block; give the PEM certificate chain (leaf first)".into(),
        });
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        path: key.to_path_buf(),
        what: format!("no usable private key ({e}); give a PEM PKCS#8, PKCS#1 or SEC1 key"),
    })?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| TlsError::Key {
            path: key.to_path_buf(),
            what: format!("unsupported key ({e}); use RSA (2048+), ECDSA P-256/P-384 or Ed25519"),
        })?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match().map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        what: format!("the key does not belong to {} ({e})", cert.display()),
    })?;
    Ok(ck)
}

/// SHA-256 fingerprint of the leaf certificate, as `AB:CD:…` (what firewall UIs show).
pub fn fingerprint(ck: &CertifiedKey) -> String {
    ck.cert.first().map_or_else(String::new, |c| {
        Sha256::digest(c.as_ref())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// The certificate and key paths under `data_dir/tls/`, made on first use. Returns
/// `(cert, key, made_now)`.
///
/// # Errors
/// [`TlsError::Generate`] when the directory or files cannot be written.
pub fn self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let dir = data_dir.join("tls");
    let cert = dir.join("self-signed.pem");
    let key = dir.join("self-signed.key");
    if cert.is_file() && key.is_file() {
        return Ok((cert, key, false));
    }
    let gen_err = |what: String| TlsError::Generate {
        dir: dir.clone(),
        what,
    };
    std::fs::create_dir_all(&dir).map_err(|e| gen_err(e.to_string()))?;
    let mut names = vec!["localhost".to_string()];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && h != "localhost" {
            names.push(h.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| gen_err(e.to_string()))?;
    for ip in ["127.0.0.1", "::1"] {
        if let Ok(ip) = ip.parse() {
            params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
        }
    }
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "edlforge self-signed");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "edlforge");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    // Under 825 days in all (counting the day back-dated above): the longest validity many
    // clients accept for a server certificate.
    params.not_after = now + time::Duration::days(823);
    // An ECDSA key signs; it never enciphers keys.
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| gen_err(e.to_string()))?;
    let c = params
        .self_signed(&kp)
        .map_err(|e| gen_err(e.to_string()))?;
    write_private(&key, kp.serialize_pem().as_bytes()).map_err(|e| gen_err(e.to_string()))?;
    std::fs::write(&cert, c.pem()).map_err(|e| gen_err(e.to_string()))?;
    Ok((cert, key, true))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The server's certificate, swappable while serving.
#[derive(Debug)]
pub struct Certs {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
}

impl Certs {
    /// Loads the pair.
    ///
    /// # Errors
    /// See [`load`].
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<Certs, TlsError> {
        let ck = load(&cert, &key)?;
        Ok(Certs {
            current: ArcSwap::from_pointee(ck),
            cert,
            key,
        })
    }

    /// Re-reads the files; on error the current pair stays in use.
    ///
    /// # Errors
    /// See [`load`].
    pub fn reload(&self) -> Result<String, TlsError> {
        let ck = load(&self.cert, &self.key)?;
        let fp = fingerprint(&ck);
        self.current.store(Arc::new(ck));
        Ok(fp)
    }

    /// The files it reads.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.cert, &self.key)
    }

    /// Fingerprint of the certificate in use.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.current.load())
    }
}

#[derive(Debug)]
struct Resolver(Arc<Certs>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.load_full())
    }
}

/// A TLS acceptor serving `certs` (TLS 1.3 and 1.2, ALPN h2 and http/1.1).
///
/// # Errors
/// Only if the ring provider refuses the protocol versions (it does not).
pub fn acceptor(certs: Arc<Certs>) -> Result<tokio_rustls::TlsAcceptor, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(certs)));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // The server picks the cipher suite from its own (all AEAD, forward-secret) order, not the
    // client's: testssl rates "no server cipher order" HIGH.
    cfg.ignore_client_order = true;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_loads() {
        let d = tempfile::tempdir().unwrap();
        let (c, k, made) = self_signed(d.path()).unwrap();
        assert!(made);
        let fp1 = fingerprint(&load(&c, &k).unwrap());
        let (c2, k2, made2) = self_signed(d.path()).unwrap();
        assert!(!made2);
        assert_eq!(fp1, fingerprint(&load(&c2, &k2).unwrap()));
        assert_eq!(fp1.len(), 32 * 3 - 1);
    }

    #[test]
    fn bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("c.pem");
        std::fs::write(&c, "not pem").unwrap();
        let e = load(&c, &c).unwrap_err().to_string();
        assert!(e.contains("c.pem"), "{e}");
    }
}
