//! The HTTP client per TLS/proxy configuration: built from the source's CA bundle, client
//! certificate and key, and proxy (each file checked first, so an error names it), cached and
//! rebuilt when one of those files changes.

use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use url::Url;

use super::error::BoxError;
use super::{ensure_crypto_provider, redact_url, FetchError, Fetcher, HttpRequest};

/// The TLS and proxy settings a client is built from: one client per distinct set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ClientKey {
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
}

/// Modification time and length of each file of a [`ClientKey`], so a rotated certificate is
/// picked up without a restart.
type Stamp = [Option<(Option<SystemTime>, u64)>; 3];

pub(super) struct CachedClient {
    stamp: Stamp,
    client: reqwest::Client,
}

impl Fetcher {
    /// The client for `req`'s TLS/proxy settings, built on first use and rebuilt when one of
    /// its files changed.
    pub(super) async fn client(&self, req: &HttpRequest) -> Result<reqwest::Client, FetchError> {
        let key = ClientKey {
            client_cert: req.client_cert.clone(),
            client_key: req.client_key.clone(),
            ca_file: req.ca_file.clone(),
            proxy: req.proxy.clone(),
        };
        let stamp = [
            file_stamp(key.client_cert.as_deref()).await,
            file_stamp(key.client_key.as_deref()).await,
            file_stamp(key.ca_file.as_deref()).await,
        ];
        {
            let clients = self
                .inner
                .clients
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = clients.get(&key).filter(|c| c.stamp == stamp) {
                return Ok(cached.client.clone());
            }
        }
        let client = build_client(req).await?;
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clients.insert(
            key,
            CachedClient {
                stamp,
                client: client.clone(),
            },
        );
        Ok(client)
    }
}

async fn file_stamp(path: Option<&Path>) -> Option<(Option<SystemTime>, u64)> {
    let meta = tokio::fs::metadata(path?).await.ok()?;
    Some((meta.modified().ok(), meta.len()))
}

/// Builds the client for `req`'s TLS and proxy settings, checking each file first so an error
/// names the file and says what is wrong with it.
async fn build_client(req: &HttpRequest) -> Result<reqwest::Client, FetchError> {
    ensure_crypto_provider();
    let config = |setting: &'static str, value: String, hint: &'static str| {
        let source_name = req.source.clone();
        move |cause: BoxError| FetchError::Config {
            source_name,
            setting,
            value,
            hint,
            cause,
        }
    };
    let read = |setting: &'static str, path: &Path| {
        let path = path.to_path_buf();
        let on_err = config(
            setting,
            path.display().to_string(),
            "cannot read the file; check the path and its permissions",
        );
        async move {
            tokio::fs::read(&path)
                .await
                .map_err(|e| on_err(Box::new(e)))
        }
    };

    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false);

    if let Some(ca) = &req.ca_file {
        let shown = ca.display().to_string();
        let pem = read("ca_file", ca).await?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            config(
                "ca_file",
                shown.clone(),
                "not a valid PEM certificate bundle",
            )(Box::new(e))
        })?;
        let parsed = CertificateDer::pem_slice_iter(&pem).count();
        if certs.is_empty() || parsed == 0 {
            return Err(config(
                "ca_file",
                shown,
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            )("no certificate found".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }

    match (&req.client_cert, &req.client_key) {
        (None, None) => {}
        (None, Some(key)) => {
            return Err(config(
                "client_key",
                key.display().to_string(),
                "a client key needs client_cert as well",
            )("client_cert is not set".into()));
        }
        (Some(cert), key) => {
            let cert_pem = read("client_cert", cert).await?;
            let (key_setting, key_path, key_pem) = match key {
                Some(k) => ("client_key", k, read("client_key", k).await?),
                None => ("client_cert", cert, cert_pem.clone()),
            };
            let cert_shown = cert.display().to_string();
            let key_shown = key_path.display().to_string();
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    config(
                        "client_cert",
                        cert_shown.clone(),
                        "not a valid PEM certificate chain",
                    )(Box::new(e))
                })?;
            if chain.is_empty() {
                return Err(config(
                    "client_cert",
                    cert_shown,
                    "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
                )("no certificate found".into()));
            }
            let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                config(
                    key_setting,
                    key_shown.clone(),
                    "no usable private key; it must be an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)",
                )(Box::new(e))
            })?;
            let provider = rustls::crypto::ring::default_provider();
            rustls::sign::CertifiedKey::from_der(chain, private_key, &provider).map_err(|e| {
                config(
                    key_setting,
                    key_shown.clone(),
                    "the private key is unsupported or does not belong to the client certificate",
                )(Box::new(e))
            })?;
            let mut both = cert_pem;
            if key.is_some() {
                both.push(b'\n');
                both.extend_from_slice(&key_pem);
            }
            let identity = reqwest::Identity::from_pem(&both).map_err(|e| {
                config(
                    "client_cert",
                    cert_shown.clone(),
                    "the files must hold only PEM certificates and one private key",
                )(Box::new(e))
            })?;
            builder = builder.identity(identity);
        }
    }

    if let Some(proxy) = &req.proxy {
        let shown = redact_url(proxy);
        let on_err = |hint| config("proxy", shown.clone(), hint);
        let parsed = Url::parse(proxy)
            .map_err(|e| on_err("not a proxy URL; use http://host:port")(Box::new(e)))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(on_err(
                "unsupported proxy; use http://host:port or https://host:port",
            )(
                format!("proxy scheme {:?}", parsed.scheme()).into()
            ));
        }
        let proxy = reqwest::Proxy::all(proxy.as_str())
            .map_err(|e| on_err("not a proxy URL; use http://host:port")(Box::new(e)))?;
        builder = builder.proxy(proxy);
    }

    builder.build().map_err(|e| {
        let files: Vec<String> = [&req.client_cert, &req.client_key, &req.ca_file]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        config(
            "TLS settings",
            files.join(", "),
            "cannot set up TLS; check client_cert/client_key and that this system has CA certificates (or set ca_file)",
        )(Box::new(e))
    })
}
