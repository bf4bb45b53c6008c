//! TLS for the server: rustls with the ring provider (the one crypto provider of the whole
//! tree), TLS 1.3 and 1.2 with rustls's default cipher suites (AEAD only, forward secrecy only),
//! ALPN `h2` and `http/1.1`.
//!
//! The certificate is held behind [`Certs`], a resolver whose key can be swapped while the
//! server runs: certificate rotation is [`Certs::reload`], and a bad new pair is refused while
//! the old one stays in use. Without configured files, [`local_ca`] makes a local CA once in
//! `data_dir/tls/` (what firewalls import and keep trusting), and [`LocalCa::issue`] signs the
//! serving certificate with it, at start and again before it expires.

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
    /// Making the local CA or its serving certificate failed.
    #[error("cannot make the local CA or its serving certificate in {dir}: {what}")]
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
    ck.cert
        .first()
        .map_or_else(String::new, |c| hex_colons(&Sha256::digest(c.as_ref())))
}

/// How long the local CA is valid: 20 years, so what firewalls imported outlives the machine.
const CA_DAYS: i64 = 7305;
/// How long a serving certificate is valid: 397 days, the longest many clients accept.
const SERVING_DAYS: i64 = 397;
/// A serving certificate is renewed once this old: 30 days before it expires.
pub const RENEW_AFTER: std::time::Duration = std::time::Duration::from_secs(367 * 86_400);

/// The local CA of `tls = "auto"` (without `tls_cert`/`tls_key`): made once in
/// `data_dir/tls/` (`ca.pem`, `ca.key`), `basicConstraints CA:TRUE` with path length 0, valid
/// 20 years. Firewalls import `ca.pem` once; the serving certificate it signs
/// ([`LocalCa::issue`]) can then be renewed at any time without changing what they trust.
pub struct LocalCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_der: CertificateDer<'static>,
    dir: PathBuf,
    /// `ca.pem`.
    pub cert: PathBuf,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").field("cert", &self.cert).finish()
    }
}

/// The CA's parameters, derived from its key alone: the CA certificate is made from them once,
/// and the issuer that signs serving certificates is rebuilt from them at every start (its
/// subject and key identifier then match `ca.pem` byte for byte).
fn ca_params(key: &rcgen::KeyPair) -> rcgen::CertificateParams {
    use rcgen::PublicKeyData as _;
    let id: String = Sha256::digest(key.der_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, format!("edlforge local CA {id}"));
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "edlforge");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// The local CA under `data_dir/tls/`, made on first use. Returns the CA and whether it was
/// made now.
///
/// # Errors
/// [`TlsError::Generate`] when the directory or files cannot be written; [`TlsError::File`]
/// when `ca.pem` or `ca.key` is unreadable.
pub fn local_ca(data_dir: &Path) -> Result<(LocalCa, bool), TlsError> {
    let dir = data_dir.join("tls");
    let cert = dir.join("ca.pem");
    let key_path = dir.join("ca.key");
    let gen_err = |what: String| TlsError::Generate {
        dir: dir.clone(),
        what,
    };
    create_private_dir(&dir).map_err(|e| gen_err(e.to_string()))?;
    if cert.is_file() && key_path.is_file() {
        let file_err = |path: &Path, what: String| TlsError::File {
            path: path.to_path_buf(),
            what,
        };
        let pem = std::fs::read_to_string(&key_path)
            .map_err(|e| file_err(&key_path, format!("cannot read the CA key ({e})")))?;
        let key = rcgen::KeyPair::from_pem(&pem).map_err(|e| {
            file_err(
                &key_path,
                format!("not a usable CA key ({e}); move ca.pem and ca.key away to make a new CA (firewalls must then import the new ca.pem)"),
            )
        })?;
        let ca_der = CertificateDer::from_pem_file(&cert)
            .map_err(|e| file_err(&cert, format!("not a PEM certificate ({e})")))?;
        let issuer = rcgen::Issuer::new(ca_params(&key), key);
        return Ok((
            LocalCa {
                issuer,
                ca_der,
                dir,
                cert,
            },
            false,
        ));
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| gen_err(e.to_string()))?;
    let mut params = ca_params(&key);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    let c = params
        .self_signed(&key)
        .map_err(|e| gen_err(e.to_string()))?;
    write_atomic(&key_path, key.serialize_pem().as_bytes()).map_err(|e| gen_err(e.to_string()))?;
    write_atomic(&cert, c.pem().as_bytes()).map_err(|e| gen_err(e.to_string()))?;
    let ca_der = c.der().clone();
    Ok((
        LocalCa {
            issuer: rcgen::Issuer::new(ca_params(&key), key),
            ca_der,
            dir,
            cert,
        },
        true,
    ))
}

impl LocalCa {
    /// SHA-256 fingerprint of `ca.pem`, as `AB:CD:…`.
    pub fn fingerprint(&self) -> String {
        hex_colons(&Sha256::digest(self.ca_der.as_ref()))
    }

    /// Signs a new serving certificate for `names` (DNS names or IP addresses; see
    /// [`serving_names`]), valid [`SERVING_DAYS`], with a new key, and writes it (the chain:
    /// serving certificate, then the CA) to `serving.pem` and its key to `serving.key`, each
    /// replaced whole. Returns the two paths.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when a name cannot go in a certificate or a file cannot be written.
    pub fn issue(&self, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
        let gen_err = |what: String| TlsError::Generate {
            dir: self.dir.clone(),
            what,
        };
        let mut params = rcgen::CertificateParams::default();
        for n in names {
            let san = match n.parse::<std::net::IpAddr>() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => rcgen::SanType::DnsName(
                    n.clone()
                        .try_into()
                        .map_err(|e| gen_err(format!("name {n:?}: {e}")))?,
                ),
            };
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().map_or("edlforge", String::as_str),
        );
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "edlforge");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(SERVING_DAYS - 1);
        // An ECDSA key signs; it never enciphers keys.
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| gen_err(e.to_string()))?;
        let c = params
            .signed_by(&kp, &self.issuer)
            .map_err(|e| gen_err(e.to_string()))?;
        let cert = self.dir.join("serving.pem");
        let key = self.dir.join("serving.key");
        let chain = format!("{}{}", c.pem(), pem_cert(&self.ca_der));
        // The key first: a reload between the two renames then fails (key and certificate do
        // not match) and keeps the old pair, instead of serving a mismatch.
        write_atomic(&key, kp.serialize_pem().as_bytes()).map_err(|e| gen_err(e.to_string()))?;
        write_atomic(&cert, chain.as_bytes()).map_err(|e| gen_err(e.to_string()))?;
        Ok((cert, key))
    }
}

fn pem_cert(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The names of the serving certificate: `extra` (`[server] tls_names`), the host name,
/// `localhost`, and the machine's addresses (IPv4 and IPv6, link-local left out), without
/// repeats, in that order.
pub fn serving_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = extra.to_vec();
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim().to_ascii_lowercase();
        if !h.is_empty() {
            names.push(h);
        }
    }
    names.push("localhost".into());
    let v4 = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    let mut addrs = local_v4(&v4);
    addrs.extend(local_v6(&v6));
    for a in [
        std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ] {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    names.extend(addrs.iter().map(ToString::to_string));
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// The machine's IPv4 addresses from Linux's `/proc/net/fib_trie`: the entries followed by
/// `/32 host LOCAL`.
fn local_v4(fib_trie: &str) -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<std::net::IpAddr> = None;
    for line in fib_trie.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last.take() {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

/// The machine's IPv6 addresses from Linux's `/proc/net/if_inet6` (link-local left out: a
/// certificate cannot name the interface it belongs to).
fn local_v6(if_inet6: &str) -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    for line in if_inet6.lines() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let mut b = [0u8; 16];
        let ok = (0..16).all(|i| match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
            Ok(v) => {
                b[i] = v;
                true
            }
            Err(_) => false,
        });
        let ip = std::net::Ipv6Addr::from(b);
        if ok && (ip.segments()[0] & 0xffc0) != 0xfe80 {
            let ip = std::net::IpAddr::V6(ip);
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// Creates `dir` owner-only (0700 on Unix).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Writes `path` whole: an owner-only temporary file beside it, renamed over it.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
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
    fn local_ca_is_made_once_and_signs_renewable_serving_certificates() {
        let d = tempfile::tempdir().unwrap();
        let (ca, made) = local_ca(d.path()).unwrap();
        assert!(made);
        let names = vec!["edl.example.net".to_string(), "192.0.2.10".to_string()];
        let (c, k) = ca.issue(&names).unwrap();
        let first = load(&c, &k).unwrap();
        // The chain: serving certificate, then the CA.
        assert_eq!(first.cert.len(), 2);
        assert_eq!(first.cert[1], ca.ca_der);
        let certs = Certs::new(c, k).unwrap();
        let fp = certs.fingerprint();
        // Made once: a second start uses the same CA, and its issuer still signs.
        let (again, made) = local_ca(d.path()).unwrap();
        assert!(!made);
        assert_eq!(again.fingerprint(), ca.fingerprint());
        // Renewal: a new serving certificate, swapped in without a restart; same CA.
        again.issue(&names).unwrap();
        let fp2 = certs.reload().unwrap();
        assert_ne!(fp, fp2);
        assert_eq!(certs.current.load().cert[1], ca.ca_der);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&d.path().join("tls")), 0o700);
            assert_eq!(mode(&d.path().join("tls/ca.key")), 0o600);
            assert_eq!(mode(&d.path().join("tls/serving.key")), 0o600);
        }
    }

    #[test]
    fn machine_addresses_from_proc() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\n     |-- 192.0.2.2\n        /32 host LOCAL\nLocal:\n     |-- 192.0.2.2\n        /32 host LOCAL\n";
        let v4: Vec<String> = local_v4(fib).iter().map(ToString::to_string).collect();
        assert_eq!(v4, ["127.0.0.1", "192.0.2.2"]);
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\n20010db8000000000000000000000010 02 40 00 80     eth0\nzz\n";
        let v6: Vec<String> = local_v6(inet6).iter().map(ToString::to_string).collect();
        assert_eq!(v6, ["::1", "2001:db8::10"]);
        let names = serving_names(&["edl.example.net".into()]);
        assert_eq!(names[0], "edl.example.net");
        assert!(
            names.contains(&"127.0.0.1".to_string()) && names.contains(&"localhost".to_string())
        );
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
