//! Secret references in config strings: `${env:NAME}` and `${file:/path}`, anywhere in a value
//! (so an API key can sit in a URL's query). Secrets never sit in `feeds.toml` in clear: the
//! validator requires a reference for passwords, bearer tokens and secret-looking headers.

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
}
