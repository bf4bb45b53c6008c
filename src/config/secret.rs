//! Secret references in config strings: `${env:NAME}` and `${file:/path}`, anywhere in a value
//! (so an API key can sit in a URL's query). Secrets never sit in `feeds.toml` in clear: the
//! validator requires a reference for passwords, bearer tokens and secret-looking headers.
//!
//! A secret-bearing value is wholly one reference (`"${env:FW_HQ}"`), never partly clear
//! (`"hunter2${env:X}"`), and what it resolves to may not be empty. In URLs (a source's `url`,
//! `proxy`) the secret-bearing parts are the userinfo and the values of secret-looking query
//! parameters ([`url_secret_parts`]); the rest of the URL may be clear.

use std::path::Path;

/// Why a reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// `${env:NAME}` with NAME unset.
    MissingEnv(String),
    /// `${file:PATH}` unreadable.
    File(String, String),
    /// `${` without a closing `}` or an unknown scheme.
    Syntax(String),
    /// The reference resolved to nothing (`${env:X}` with X set to "", or an empty file).
    Empty(String),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::MissingEnv(n) => {
                write!(
                    f,
                    "environment variable {n} is not set (export it, or use ${{file:/path}})"
                )
            }
            SecretError::File(p, e) => write!(f, "cannot read secret file {p}: {e}"),
            SecretError::Empty(r) => write!(
                f,
                "{r} resolves to an empty value; a secret may not be empty (set it, or remove the key)"
            ),
            SecretError::Syntax(s) => write!(
                f,
                "bad secret reference {s:?}: use ${{env:NAME}} or ${{file:/path/to/secret}}"
            ),
        }
    }
}

/// True when the value contains a secret reference.
pub fn is_reference(s: &str) -> bool {
    s.contains("${env:") || s.contains("${file:")
}

/// The reference when `s` is exactly one `${env:NAME}` or `${file:PATH}` and nothing else.
pub fn whole_reference(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    let ok = !inner.contains('}')
        && !inner.contains("${")
        && (inner.strip_prefix("env:").is_some_and(|n| !n.is_empty())
            || inner.strip_prefix("file:").is_some_and(|p| !p.is_empty()));
    ok.then_some(s)
}

/// Resolves a secret that must be wholly one reference and not empty.
///
/// # Errors
/// [`SecretError::Syntax`] when `s` is not one reference alone, the others as [`resolve`], and
/// [`SecretError::Empty`] when it resolves to nothing.
pub fn resolve_whole(s: &str, base: &Path) -> Result<String, SecretError> {
    let r = whole_reference(s).ok_or_else(|| SecretError::Syntax(s.to_string()))?;
    let v = resolve(r, base)?;
    if v.is_empty() {
        return Err(SecretError::Empty(r.to_string()));
    }
    Ok(v)
}

/// True for a query parameter name that usually carries a secret (`apikey`, `api_key`, `key`,
/// `token`, `access_token`, `password`, `secret`, `auth`, `sig`, …).
pub fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const WORDS: [&str; 14] = [
        "key",
        "apikey",
        "token",
        "auth",
        "authorization",
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "sig",
        "signature",
        "credential",
        "credentials",
    ];
    n.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.contains(&w))
        || ["apikey", "token", "secret", "passw", "credential"]
            .iter()
            .any(|w| n.contains(w))
}

/// True for a header name that says it carries a credential (`X-API-Key`, `X-Auth-Token`,
/// `Authorization`, `X-Client-Secret`, `Cookie`, …).
pub fn secret_header(name: &str) -> bool {
    let h = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "auth",
        "secret",
        "password",
        "passwd",
        "credential",
        "cookie",
        "signature",
    ]
    .iter()
    .any(|w| h.contains(w))
}

/// Authorization schemes a secret header value may start with, before its reference
/// (`Authorization = "Bearer ${env:TOKEN}"`): the scheme is no secret.
const AUTH_SCHEMES: [&str; 8] = [
    "bearer", "basic", "token", "apikey", "api-key", "key", "ssws", "splunk",
];

/// The part of a secret header's value that must be a whole reference: the value without a
/// leading authorization scheme (`Bearer `, `Basic `, `Token `, …).
pub fn header_secret_part(value: &str) -> &str {
    if let Some((scheme, rest)) = value.split_once(' ') {
        if AUTH_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            return rest.trim_start();
        }
    }
    value
}

/// The secret-bearing parts of a URL as written (references unresolved): the userinfo's
/// password (or its user name when there is no password: a token used as the user), and the
/// value of every secret-looking query parameter ([`secret_param`]). Each is given with a
/// name for messages (`password in the URL`, `query parameter "apikey"`). `None` when the URL
/// does not parse (the validator reports that apart).
pub fn url_secret_parts(raw: &str) -> Option<Vec<(String, String)>> {
    // References may hold '/', ':' or '@' (`${file:/run/secrets/k}`): stand each in by an
    // alphanumeric marker so the URL's own structure parses, then map the markers back.
    let mut refs: Vec<&str> = Vec::new();
    let mut masked = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        masked.push_str(&rest[..i]);
        let end = rest[i..].find('}').map(|e| i + e + 1)?;
        masked.push_str(&format!("edlforgeref{}x", refs.len()));
        refs.push(&rest[i..end]);
        rest = &rest[end..];
    }
    masked.push_str(rest);
    let unmask = |s: &str| -> String {
        let mut out = s.to_string();
        for (i, r) in refs.iter().enumerate().rev() {
            out = out.replace(&format!("edlforgeref{i}x"), r);
        }
        out
    };
    let u = url::Url::parse(&masked).ok()?;
    let mut parts = Vec::new();
    match u.password() {
        Some(p) => parts.push(("password in the URL".to_string(), unmask(p))),
        None if !u.username().is_empty() => {
            parts.push(("user name in the URL".to_string(), unmask(u.username())))
        }
        None => {}
    }
    for (k, v) in u.query_pairs() {
        if secret_param(&k) {
            parts.push((format!("query parameter {:?}", unmask(&k)), unmask(&v)));
        }
    }
    Some(parts)
}

/// Replaces every `${env:NAME}` and `${file:PATH}` in `s`. File contents lose one trailing
/// newline. Relative file paths are taken from `base`.
pub fn resolve(s: &str, base: &Path) -> Result<String, SecretError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| SecretError::Syntax(rest[i..].to_string()))?;
        let inner = &after[..end];
        if let Some(name) = inner.strip_prefix("env:") {
            let v = std::env::var(name).map_err(|_| SecretError::MissingEnv(name.to_string()))?;
            out.push_str(&v);
        } else if let Some(path) = inner.strip_prefix("file:") {
            let p = base.join(path);
            let v = std::fs::read_to_string(&p)
                .map_err(|e| SecretError::File(p.display().to_string(), e.to_string()))?;
            out.push_str(v.strip_suffix('\n').unwrap_or(&v).trim_end_matches('\r'));
        } else {
            return Err(SecretError::Syntax(format!("${{{inner}}}")));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file() {
        std::env::set_var("EDLFORGE_TEST_SECRET", "s3cr3t");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "abc\n").unwrap();
        assert_eq!(
            resolve(
                "https://x/?k=${env:EDLFORGE_TEST_SECRET}&t=${file:tok}",
                dir.path()
            ),
            Ok("https://x/?k=s3cr3t&t=abc".to_string())
        );
        assert_eq!(resolve("plain", dir.path()), Ok("plain".to_string()));
    }

    #[test]
    fn errors() {
        let d = Path::new("/");
        assert!(matches!(
            resolve("${env:EDLFORGE_SURELY_UNSET_42}", d),
            Err(SecretError::MissingEnv(_))
        ));
        assert!(matches!(
            resolve("${file:/nonexistent/x}", d),
            Err(SecretError::File(..))
        ));
        assert!(matches!(
            resolve("${vault:x}", d),
            Err(SecretError::Syntax(_))
        ));
        assert!(matches!(resolve("${env:X", d), Err(SecretError::Syntax(_))));
    }

    #[test]
    fn whole_references_only() {
        assert!(whole_reference("${env:A}").is_some());
        assert!(whole_reference("${file:/run/secrets/a}").is_some());
        assert!(whole_reference("hunter2${env:A}").is_none());
        assert!(whole_reference("${env:A}x").is_none());
        assert!(whole_reference("${env:A}${env:B}").is_none());
        assert!(whole_reference("${env:}").is_none());
        assert!(whole_reference("plain").is_none());
        std::env::set_var("EDLFORGE_TEST_EMPTY_SECRET", "");
        assert_eq!(
            resolve_whole("${env:EDLFORGE_TEST_EMPTY_SECRET}", Path::new("/")),
            Err(SecretError::Empty(
                "${env:EDLFORGE_TEST_EMPTY_SECRET}".into()
            ))
        );
    }

    #[test]
    fn secret_names() {
        for p in [
            "apikey",
            "api_key",
            "API-KEY",
            "key",
            "token",
            "access_token",
            "password",
            "secret",
            "auth",
            "client_secret",
            "sig",
        ] {
            assert!(secret_param(p), "{p}");
        }
        for p in ["type", "format", "limit", "q", "monkey_business_day"] {
            assert!(!secret_param(p), "{p}");
        }
        for h in [
            "X-API-Key",
            "X-Auth-Token",
            "Authorization",
            "X-Client-Secret",
            "X-Credential",
            "Cookie",
        ] {
            assert!(secret_header(h), "{h}");
        }
        assert!(!secret_header("Accept"));
        assert_eq!(header_secret_part("Bearer ${env:T}"), "${env:T}");
        assert_eq!(header_secret_part("hunter2 ${env:T}"), "hunter2 ${env:T}");
    }

    proptest::proptest! {
        #[test]
        fn url_parts_never_panic_and_come_from_the_url(
            s in "(https?://)?([a-z:@/?&=.#%]|\\$\\{env:[A-Z]{1,3}\\}|\\$\\{file:/[a-z/]{1,5}\\}|\\$\\{){0,20}"
        ) {
            if let Some(parts) = url_secret_parts(&s) {
                for (_, part) in parts {
                    // A reference comes back whole, exactly as written.
                    if let Some(r) = whole_reference(&part) {
                        proptest::prop_assert!(s.contains(r));
                    }
                }
            }
        }
    }

    #[test]
    fn url_parts() {
        let p = url_secret_parts(
            "https://u:${file:/run/s/pw}@h.example/x?apikey=abc&type=ip&token=${env:T}",
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                (
                    "password in the URL".to_string(),
                    "${file:/run/s/pw}".to_string()
                ),
                ("query parameter \"apikey\"".to_string(), "abc".to_string()),
                (
                    "query parameter \"token\"".to_string(),
                    "${env:T}".to_string()
                ),
            ]
        );
        assert_eq!(
            url_secret_parts("https://tok@h.example/").unwrap(),
            vec![("user name in the URL".to_string(), "tok".to_string())]
        );
        assert!(url_secret_parts("https://h.example/a?b=c")
            .unwrap()
            .is_empty());
    }
}
