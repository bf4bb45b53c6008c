//! The lexer of `STIXPattern.g4`: text → tokens, skipping the grammar's whitespace and
//! comments. ANTLR takes the longest token at each point (a keyword only when the whole word
//! is one), and so does this. Where ANTLR would fall back to tokens that no parser rule can
//! take in that order (`h'abc'` → the name `h` and a string; `007` → three numbers; a lone
//! `+`, `/` or `!`), the pattern cannot parse, so the lexer says so at once.

use super::{Op, PatternError};

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Star,
    /// `=` `==` `!=` `<>` `<` `<=` `>` `>=`.
    Cmp(Op),
    /// A keyword (upper case, exactly as the grammar spells it).
    Kw(Kw),
    /// `true` / `false`.
    Bool(bool),
    /// `IdentifierWithoutHyphen` or, with `hyphen`, `IdentifierWithHyphen`.
    Ident {
        text: String,
        hyphen: bool,
    },
    /// `'…'`, unescaped.
    Str(String),
    /// `t'…'`, checked.
    Timestamp(String),
    /// `h'…'`, checked.
    Hex(String),
    /// `b'…'`, checked.
    Binary(String),
    /// `IntPosLiteral`, `IntNegLiteral`, `FloatPosLiteral`, `FloatNegLiteral`, as written.
    Number(String),
}

/// The grammar's keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kw {
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    Last,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
}

fn keyword(s: &str) -> Option<Kw> {
    Some(match s {
        "AND" => Kw::And,
        "OR" => Kw::Or,
        "NOT" => Kw::Not,
        "FOLLOWEDBY" => Kw::FollowedBy,
        "LIKE" => Kw::Like,
        "MATCHES" => Kw::Matches,
        "ISSUPERSET" => Kw::IsSuperset,
        "ISSUBSET" => Kw::IsSubset,
        "EXISTS" => Kw::Exists,
        "LAST" => Kw::Last,
        "IN" => Kw::In,
        "START" => Kw::Start,
        "STOP" => Kw::Stop,
        "SECONDS" => Kw::Seconds,
        "WITHIN" => Kw::Within,
        "REPEATS" => Kw::Repeats,
        "TIMES" => Kw::Times,
        _ => return None,
    })
}

/// The grammar's `WS` rule, character for character (it is also Unicode's `White_Space`).
pub(super) fn is_ws(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\r'
            | '\n'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{0085}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn err<T>(at: usize, what: &'static str) -> Result<T, PatternError> {
    Err(PatternError::Syntax { at, what })
}

/// Splits `src` into tokens with their byte offsets.
pub(super) fn lex(src: &str) -> Result<Vec<(usize, Tok)>, PatternError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        let start = i;
        if is_ws(c) {
            i += c.len_utf8();
            continue;
        }
        let next = b.get(i + 1).copied();
        // COMMENT: '/*' .*? '*/'; LINE_COMMENT: '//' ~[\r\n]*. An unclosed `/*` is the
        // tokens `/` `*`, which no rule takes.
        if c == '/' && next == Some(b'*') {
            match src[i + 2..].find("*/") {
                Some(n) => i += 2 + n + 2,
                None => return err(start, "an unterminated /* comment"),
            }
            continue;
        }
        if c == '/' && next == Some(b'/') {
            i += src[i..].find(['\r', '\n']).unwrap_or(src.len() - i);
            continue;
        }
        let single = match c {
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(t) = single {
            out.push((start, t));
            i += 1;
            continue;
        }
        let (tok, end) = match c {
            '=' if next == Some(b'=') => (Tok::Cmp(Op::Eq), i + 2),
            '=' => (Tok::Cmp(Op::Eq), i + 1),
            '!' if next == Some(b'=') => (Tok::Cmp(Op::Ne), i + 2),
            '<' if next == Some(b'>') => (Tok::Cmp(Op::Ne), i + 2),
            '<' if next == Some(b'=') => (Tok::Cmp(Op::Le), i + 2),
            '<' => (Tok::Cmp(Op::Lt), i + 1),
            '>' if next == Some(b'=') => (Tok::Cmp(Op::Ge), i + 2),
            '>' => (Tok::Cmp(Op::Gt), i + 1),
            '\'' => {
                let (s, end) = string_at(b, i)?;
                (Tok::Str(s), end)
            }
            't' | 'h' | 'b' if next == Some(b'\'') => prefixed(b, i)?,
            '+' | '-' | '.' | '0'..='9' => match number(b, i)? {
                Some(end) => (Tok::Number(src[i..end].to_string()), end),
                None => (Tok::Dot, i + 1),
            },
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i + 1;
                let mut hyphen = false;
                while let Some(&d) = b.get(j) {
                    if d == b'-' {
                        hyphen = true;
                    } else if !(d.is_ascii_alphanumeric() || d == b'_') {
                        break;
                    }
                    j += 1;
                }
                let text = &src[i..j];
                let tok = match (keyword(text), text) {
                    (Some(k), _) => Tok::Kw(k),
                    (None, "true") => Tok::Bool(true),
                    (None, "false") => Tok::Bool(false),
                    _ => Tok::Ident {
                        text: text.to_string(),
                        hyphen,
                    },
                };
                (tok, j)
            }
            _ => {
                return err(
                    start,
                    "a character the STIX grammar allows nowhere outside strings",
                )
            }
        };
        out.push((start, tok));
        i = end;
    }
    Ok(out)
}

/// The number at `b[i]` (`[+-]? digits`, `[+-]? digits? . digits`), as ANTLR's longest match
/// takes it: the index after it, or `None` for a `.` that starts no number (the `DOT` token).
fn number(b: &[u8], i: usize) -> Result<Option<usize>, PatternError> {
    let digits_from = |mut j: usize| {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let signed = matches!(b[i], b'+' | b'-');
    let d0 = if signed { i + 1 } else { i };
    let d1 = digits_from(d0);
    if b.get(d1) == Some(&b'.') && b.get(d1 + 1).is_some_and(u8::is_ascii_digit) {
        // FloatPosLiteral / FloatNegLiteral: [0-9]* '.' [0-9]+ (leading zeros allowed).
        return Ok(Some(digits_from(d1 + 1)));
    }
    if d1 == d0 {
        return if signed {
            err(i, "a + or - that starts no number")
        } else {
            Ok(None)
        };
    }
    // IntPosLiteral / IntNegLiteral: '0' | [1-9][0-9]*.
    if b[d0] == b'0' && d1 > d0 + 1 {
        return err(i, "a number with a leading zero");
    }
    if b.get(d1) == Some(&b'.') {
        return err(i, "a number ending in a dot");
    }
    Ok(Some(d1))
}

/// `t'…'`, `h'…'` or `b'…'` at `b[i]`, checked as the grammar spells each.
fn prefixed(b: &[u8], i: usize) -> Result<(Tok, usize), PatternError> {
    let (s, end) = string_at(b, i + 1)?;
    let tok = match b[i] {
        b't' if is_timestamp(&s) => Tok::Timestamp(s),
        b't' => {
            return err(
                i,
                "a timestamp t'…' not of the form t'YYYY-MM-DDTHH:MM:SS[.s]Z'",
            )
        }
        b'h' if s.len().is_multiple_of(2) && s.bytes().all(|c| c.is_ascii_hexdigit()) => {
            Tok::Hex(s)
        }
        b'h' => return err(i, "a hex literal h'…' that is not pairs of hex digits"),
        _ if is_base64(&s) => Tok::Binary(s),
        _ => return err(i, "a binary literal b'…' that is not padded base64"),
    };
    Ok((tok, end))
}

/// `TimestampLiteral`'s body: `YYYY-MM-DDTHH:MM:SS(.s+)?Z` with month 01–12, day 01–31,
/// hour 00–23, minute 00–59, second 00–60 (no calendar check, as the grammar).
pub(super) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    if b.len() < 20 || !(0..4).all(d) || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return false;
    }
    if b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z' {
        return false;
    }
    if ![5, 6, 8, 9, 11, 12, 14, 15, 17, 18].into_iter().all(d) {
        return false;
    }
    let (month, day, hour, min, sec) = (two(5), two(8), two(11), two(14), two(17));
    let fraction = &b[19..b.len() - 1];
    (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && min <= 59
        && sec <= 60
        && (fraction.is_empty()
            || (fraction.len() >= 2
                && fraction[0] == b'.'
                && fraction[1..].iter().all(u8::is_ascii_digit)))
}

/// `BinaryLiteral`'s body: groups of four base64 characters, the last one possibly padded
/// (`xxx=`, `xx==`); at least one group.
pub(super) fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let c64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let (body, last) = b.split_at(b.len() - 4);
    body.iter().all(c64)
        && match last {
            [x, y, b'=', b'='] => c64(x) && c64(y),
            [x, y, z, b'='] => c64(x) && c64(y) && c64(z),
            l => l.iter().all(c64),
        }
}

/// Reads the string starting at the quote `b[i]`; returns it unescaped and the index after it.
fn string_at(b: &[u8], i: usize) -> Result<(String, usize), PatternError> {
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\'' => {
                // Cut from a &str at quotes (ASCII), so always UTF-8; checked, not assumed.
                let s = String::from_utf8(out).map_err(|_| PatternError::Syntax {
                    at: i,
                    what: "a string that is not UTF-8",
                })?;
                return Ok((s, j + 1));
            }
            b'\\' => match b.get(j + 1) {
                Some(&e @ (b'\'' | b'\\')) => {
                    out.push(e);
                    j += 2;
                }
                _ => {
                    return err(
                        j,
                        "a backslash not followed by ' or \\ (the only STIX escapes)",
                    )
                }
            },
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
    err(i, "an unterminated string")
}
