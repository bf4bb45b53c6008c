//! Source and list names (user text from `feeds.toml`) to file names and back.
//!
//! The escape is a bijection between non-empty names and the file names it produces, so
//! [`super::Store::sources`] can give back the real names by listing the directory:
//! - `a`–`z`, `0`–`9`, `-`, `_` stay as they are, and so does `.` except as the first character;
//! - every other byte of the UTF-8 name becomes `%XX` (upper-case hex).
//!
//! So `/`, `\`, NUL and every control character are escaped (no path traversal, no `..`: a name
//! never starts with a raw `.`), upper case is escaped too (`Spamhaus` and `spamhaus` stay two files
//! on case-insensitive file systems: macOS, Windows), and non-ASCII is escaped byte-wise (no
//! Unicode normalisation by the file system, as HFS+ does, can merge or rename two names). File
//! names starting with `.` are therefore never an escaped name; the store uses them for its
//! temporary files.

use crate::store::error::{NameProblem, StoreError};

/// Longest escaped name. Leaves room under the usual 255-byte file-name limit for the leading
/// `.`, the extension and `.tmp` of temporary files.
pub(in crate::store) const MAX_ESCAPED: usize = 200;

fn is_plain(b: u8, first: bool) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || (b == b'.' && !first)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The file-name form of `name`.
///
/// # Errors
/// [`StoreError::InvalidName`] for the empty name and for names longer than [`MAX_ESCAPED`]
/// escaped.
pub(in crate::store) fn escape(what: &'static str, name: &str) -> Result<String, StoreError> {
    let invalid = |problem| StoreError::InvalidName {
        what,
        name: name.to_owned(),
        problem,
    };
    if name.is_empty() {
        return Err(invalid(NameProblem::Empty));
    }
    let mut out = String::with_capacity(name.len());
    for (i, &b) in name.as_bytes().iter().enumerate() {
        if is_plain(b, i == 0) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    if out.len() > MAX_ESCAPED {
        return Err(invalid(NameProblem::TooLong {
            escaped: out.len(),
            max: MAX_ESCAPED,
        }));
    }
    Ok(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The name a file name stands for; `None` when it is not exactly what [`escape`] produces for
/// some name (a foreign or temporary file).
pub(in crate::store) fn unescape(file: &str) -> Option<String> {
    let b = file.as_bytes();
    if b.is_empty() || b.len() > MAX_ESCAPED {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_digit(*b.get(i + 1)?)?;
            let lo = hex_digit(*b.get(i + 2)?)?;
            let byte = (hi << 4) | lo;
            // Canonical form only: `%61` is not another spelling of `a`.
            if is_plain(byte, out.is_empty()) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else if is_plain(b[i], i == 0) {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    macro_rules! esc {
        ($name:ident, $in:expr, $out:expr) => {
            #[test]
            fn $name() {
                assert_eq!(escape("source", $in).unwrap(), $out);
                assert_eq!(unescape($out).as_deref(), Some($in));
            }
        };
    }

    esc!(plain, "spamhaus-drop_v4.txt", "spamhaus-drop_v4.txt");
    esc!(traversal, "../x", "%2E.%2Fx");
    esc!(dot, ".", "%2E");
    esc!(dotdot, "..", "%2E.");
    esc!(slash, "a/b", "a%2Fb");
    esc!(backslash, "a\\b", "a%5Cb");
    esc!(nul, "a\0b", "a%00b");
    esc!(upper, "Spamhaus", "%53pamhaus");
    esc!(percent, "100%", "100%25");
    esc!(space_newline, "a b\n", "a%20b%0A");
    esc!(unicode, "ü", "%C3%BC");

    #[test]
    fn empty_and_long_names_are_refused() {
        let e = escape("source", "").unwrap_err().to_string();
        assert_eq!(e, r#"source name "" cannot be stored: the name is empty"#);
        assert!(escape("list", &"a".repeat(MAX_ESCAPED)).is_ok());
        let e = escape("list", &"/".repeat(70)).unwrap_err().to_string();
        assert!(e.contains("210 bytes, more than 200"), "{e}");
    }

    #[test]
    fn foreign_file_names_are_not_names() {
        for f in [
            "",
            ".hidden",
            ".x.snap.tmp",
            "A",
            "%61",
            "%2",
            "%zz",
            "a%2e",
            "a b",
            "%FF",
        ] {
            assert_eq!(unescape(f), None, "{f:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trip_and_no_separator(name in "\\PC{1,40}|[./\\\\%\\x00a-zA-Z]{1,12}") {
            let Ok(esc) = escape("source", &name) else {
                // Only too long a name is refused.
                prop_assert!(name.len() * 3 > MAX_ESCAPED);
                return Ok(());
            };
            prop_assert!(!esc.contains('/') && !esc.contains('\\') && !esc.contains('\0'));
            prop_assert!(!esc.starts_with('.'));
            prop_assert!(esc != "." && esc != "..");
            prop_assert!(esc.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert_eq!(unescape(&esc), Some(name));
        }

        #[test]
        fn arbitrary_file_names_never_panic(f in "\\PC{0,20}") {
            if let Some(name) = unescape(&f) {
                prop_assert_eq!(escape("source", &name).unwrap(), f);
            }
        }
    }
}
