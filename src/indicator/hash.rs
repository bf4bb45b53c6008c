//! File hashes: MD5, SHA-1 and SHA-256 as lowercase hex.

use super::skip::Skip;

/// Which hash algorithm, told apart by length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashKind {
    /// 32 hex digits.
    Md5,
    /// 40 hex digits.
    Sha1,
    /// 64 hex digits.
    Sha256,
}

impl HashKind {
    /// Upper-case name as vendors write it (`MD5`, `SHA1`, `SHA256`).
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Md5 => "MD5",
            HashKind::Sha1 => "SHA1",
            HashKind::Sha256 => "SHA256",
        }
    }
}

/// A normalized hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    /// The algorithm.
    pub kind: HashKind,
    /// Lowercase hex.
    pub hex: String,
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex)
    }
}

/// True when the token has a hash shape: only hex digits, 32, 40 or 64 of them.
pub fn looks_like(token: &str) -> bool {
    matches!(token.len(), 32 | 40 | 64) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a hash token.
pub fn parse(token: &str) -> Result<(Hash, bool), Skip> {
    let kind = match token.len() {
        32 => HashKind::Md5,
        40 => HashKind::Sha1,
        64 => HashKind::Sha256,
        _ => return Err(Skip::invalid("hash length is not 32, 40 or 64 hex digits")),
    };
    if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Skip::invalid("hash with a non-hex character"));
    }
    let changed = token.bytes().any(|b| b.is_ascii_uppercase());
    Ok((
        Hash {
            kind,
            hex: token.to_ascii_lowercase(),
        },
        changed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(parse(&"a".repeat(32)).unwrap().0.kind, HashKind::Md5);
        assert_eq!(parse(&"B".repeat(40)).unwrap().0.hex, "b".repeat(40));
        assert_eq!(parse(&"0".repeat(64)).unwrap().0.kind, HashKind::Sha256);
        assert!(parse(&"a".repeat(33)).is_err());
        assert!(parse(&"g".repeat(32)).is_err());
    }
}
