//! The STIX 2.1 pattern language (STIX 2.1 specification, section 9): syntax tree, a
//! canonical printer, lexer and recursive-descent parser. What a pattern *means* for a block
//! list (which comparisons become entries) is decided in [`super`]; this file only reads and
//! writes the language, so it can be fuzzed and round-trip tested on its own.
//!
//! Precedence, loosest first: `FOLLOWEDBY`, `OR`, `AND` between observation expressions;
//! `OR`, `AND` inside `[ ]`. Keywords are case-insensitive; strings know only the escapes `\'`
//! and `\\`. Input longer than [`MAX_PATTERN_LEN`] or nested deeper than 64 levels is refused,
//! so hostile input costs bounded time and stack.

use std::fmt;

// ---------------------------------------------------------------------------------------------
// Pattern syntax tree
// ---------------------------------------------------------------------------------------------

/// A parsed STIX pattern (observation expressions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `[ comparison ]`.
    Observation(Comparison),
    /// Observation expressions joined by `OR`.
    Or(Vec<Pattern>),
    /// Observation expressions joined by `AND`.
    And(Vec<Pattern>),
    /// Observation expressions joined by `FOLLOWEDBY`.
    FollowedBy(Vec<Pattern>),
    /// An observation expression with a qualifier.
    Qualified(Box<Pattern>, Qualifier),
}

/// A qualifier of an observation expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    /// `WITHIN <number> SECONDS` (the number as written).
    Within(String),
    /// `REPEATS <int> TIMES`.
    Repeats(String),
    /// `START t'…' STOP t'…'`.
    StartStop(String, String),
}

/// A comparison expression (inside `[ ]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// One test.
    Test(Test),
    /// Joined by `OR`.
    Or(Vec<Comparison>),
    /// Joined by `AND`.
    And(Vec<Comparison>),
}

/// `object-type:path [NOT] op value`, or `EXISTS object-type:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// The object path.
    pub path: ObjectPath,
    /// `NOT` before the operator.
    pub negated: bool,
    /// The operator.
    pub op: Op,
    /// The constant (`None` for `EXISTS`).
    pub value: Option<Literal>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN`
    In,
    /// `LIKE`
    Like,
    /// `MATCHES`
    Matches,
    /// `ISSUBSET`
    IsSubset,
    /// `ISSUPERSET`
    IsSuperset,
    /// `EXISTS` (prefix)
    Exists,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::Like => "LIKE",
            Op::Matches => "MATCHES",
            Op::IsSubset => "ISSUBSET",
            Op::IsSuperset => "ISSUPERSET",
            Op::Exists => "EXISTS",
        }
    }
}

/// `object-type:step.step[0]…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    /// `ipv4-addr`, `file`, …
    pub object_type: String,
    /// The property steps.
    pub steps: Vec<Step>,
}

/// One step of an object path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A property name (`value`, `hashes`, or a quoted `'SHA-256'`, unquoted here).
    Key(String),
    /// `[n]`.
    Index(String),
    /// `[*]`.
    Any,
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'` (escapes removed).
    Str(String),
    /// A number as written (`42`, `-1.5`).
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `t'2016-01-01T00:00:00Z'`.
    Timestamp(String),
    /// `h'ff00'`.
    Hex(String),
    /// `b'AAEC'`.
    Binary(String),
    /// `('a', 'b')` after `IN`.
    Set(Vec<Literal>),
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern does not parse at byte {at}: {what}")]
pub struct PatternError {
    /// Byte offset in the pattern.
    pub at: usize,
    /// What was expected or found.
    pub what: &'static str,
}

// ---------------------------------------------------------------------------------------------
// Printing (canonical form; parse(print(p)) == p)
// ---------------------------------------------------------------------------------------------

fn quote(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

fn joined<T: fmt::Display>(items: &[T], sep: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, p) in items.iter().enumerate() {
        if i > 0 {
            write!(f, " {sep} ")?;
        }
        write!(f, "({p})")?;
    }
    Ok(())
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Observation(c) => write!(f, "[{c}]"),
            Pattern::Or(v) => joined(v, "OR", f),
            Pattern::And(v) => joined(v, "AND", f),
            Pattern::FollowedBy(v) => joined(v, "FOLLOWEDBY", f),
            Pattern::Qualified(p, q) => write!(f, "({p}) {q}"),
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within(n) => write!(f, "WITHIN {n} SECONDS"),
            Qualifier::Repeats(n) => write!(f, "REPEATS {n} TIMES"),
            Qualifier::StartStop(a, b) => {
                f.write_str("START t")?;
                quote(a, f)?;
                f.write_str(" STOP t")?;
                quote(b, f)
            }
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::Test(t) => write!(f, "{t}"),
            Comparison::Or(v) => joined(v, "OR", f),
            Comparison::And(v) => joined(v, "AND", f),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Op::Exists {
            return write!(f, "EXISTS {}", self.path);
        }
        write!(f, "{} ", self.path)?;
        if self.negated {
            f.write_str("NOT ")?;
        }
        f.write_str(self.op.as_str())?;
        if let Some(v) = &self.value {
            write!(f, " {v}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_plain_ident(k) {
                        f.write_str(k)?;
                    } else {
                        quote(k, f)?;
                    }
                }
                Step::Index(n) => write!(f, "[{n}]")?,
                Step::Any => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => quote(s, f),
            Literal::Number(n) => f.write_str(n),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Timestamp(s) => {
                f.write_str("t")?;
                quote(s, f)
            }
            Literal::Hex(s) => {
                f.write_str("h")?;
                quote(s, f)
            }
            Literal::Binary(s) => {
                f.write_str("b")?;
                quote(s, f)
            }
            Literal::Set(v) => {
                f.write_str("(")?;
                for (i, l) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{l}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn is_plain_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(s)
}

const KEYWORDS: [&str; 18] = [
    "AND",
    "OR",
    "NOT",
    "FOLLOWEDBY",
    "IN",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
    "EXISTS",
    "WITHIN",
    "SECONDS",
    "REPEATS",
    "TIMES",
    "START",
    "STOP",
    "TRUE",
    "FALSE",
];

pub(super) fn is_keyword(s: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Star,
    Cmp(Op),
    /// Identifier or keyword (keywords are recognised by the parser, case-insensitively).
    Ident(String),
    Str(String),
    /// `t'…'`, `h'…'`, `b'…'`.
    Prefixed(char, String),
    Number(String),
}

/// Longest pattern accepted: real patterns are far shorter; this bounds the work per object.
pub const MAX_PATTERN_LEN: usize = 64 * 1024;
/// Deepest nesting of parentheses and brackets accepted (no stack overflow on hostile input).
const MAX_DEPTH: usize = 64;

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, PatternError> {
    let b = src.as_bytes();
    let err = |at, what| Err(PatternError { at, what });
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let single = match c {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            b'.' => Some(Tok::Dot),
            b'*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(t) = single {
            out.push((start, t));
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied();
        match c {
            b'=' => {
                out.push((start, Tok::Cmp(Op::Eq)));
                i += 1;
            }
            b'!' if next == Some(b'=') => {
                out.push((start, Tok::Cmp(Op::Ne)));
                i += 2;
            }
            b'<' if next == Some(b'>') => {
                out.push((start, Tok::Cmp(Op::Ne)));
                i += 2;
            }
            b'<' | b'>' => {
                let (op, len) = match (c, next) {
                    (b'<', Some(b'=')) => (Op::Le, 2),
                    (b'>', Some(b'=')) => (Op::Ge, 2),
                    (b'<', _) => (Op::Lt, 1),
                    _ => (Op::Gt, 1),
                };
                out.push((start, Tok::Cmp(op)));
                i += len;
            }
            b'\'' => {
                let (s, end) = string_at(b, i)?;
                out.push((start, Tok::Str(s)));
                i = end;
            }
            b't' | b'h' | b'b' if next == Some(b'\'') => {
                let (s, end) = string_at(b, i + 1)?;
                out.push((start, Tok::Prefixed(c as char, s)));
                i = end;
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
                let n = &src[i..j];
                let digits = n.trim_start_matches(['-', '+']);
                if digits.is_empty()
                    || digits.starts_with('.')
                    || digits.ends_with('.')
                    || digits.matches('.').count() > 1
                {
                    return err(start, "a malformed number");
                }
                out.push((start, Tok::Number(n.to_string())));
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-')
                {
                    j += 1;
                }
                out.push((start, Tok::Ident(src[i..j].to_string())));
                i = j;
            }
            _ => return err(start, "an unexpected character"),
        }
    }
    Ok(out)
}

/// Reads the string starting at the quote `b[i]`; returns it unescaped and the index after it.
fn string_at(b: &[u8], i: usize) -> Result<(String, usize), PatternError> {
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\'' => {
                let s = String::from_utf8(out).map_err(|_| PatternError {
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
                    return Err(PatternError {
                        at: j,
                        what: "a backslash not followed by ' or \\ (the only STIX escapes)",
                    })
                }
            },
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
    Err(PatternError {
        at: i,
        what: "an unterminated string",
    })
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }

    fn err<T>(&self, what: &'static str) -> Result<T, PatternError> {
        Err(PatternError {
            at: self.at(),
            what,
        })
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(k))
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        let yes = self.keyword(k);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect(&mut self, t: Tok, what: &'static str) -> Result<(), PatternError> {
        if self.peek() == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        Ok(())
    }

    /// `FOLLOWEDBY` binds loosest, then `OR`, then `AND` (STIX 2.1 grammar).
    fn followed_by(&mut self) -> Result<Pattern, PatternError> {
        let mut v = vec![self.obs_or()?];
        while self.eat_keyword("FOLLOWEDBY") {
            v.push(self.obs_or()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Pattern::FollowedBy(v)
        })
    }

    fn obs_or(&mut self) -> Result<Pattern, PatternError> {
        let mut v = vec![self.obs_and()?];
        while self.eat_keyword("OR") {
            v.push(self.obs_and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Pattern::Or(v)
        })
    }

    fn obs_and(&mut self) -> Result<Pattern, PatternError> {
        let mut v = vec![self.obs_qualified()?];
        while self.eat_keyword("AND") {
            v.push(self.obs_qualified()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Pattern::And(v)
        })
    }

    fn obs_qualified(&mut self) -> Result<Pattern, PatternError> {
        let mut p = self.obs_atom()?;
        loop {
            let q = if self.eat_keyword("WITHIN") {
                let n = self.number()?;
                if !self.eat_keyword("SECONDS") {
                    return self.err("SECONDS after WITHIN <number>");
                }
                Qualifier::Within(n)
            } else if self.eat_keyword("REPEATS") {
                let n = self.number()?;
                if !self.eat_keyword("TIMES") {
                    return self.err("TIMES after REPEATS <number>");
                }
                Qualifier::Repeats(n)
            } else if self.eat_keyword("START") {
                let a = self.timestamp()?;
                if !self.eat_keyword("STOP") {
                    return self.err("STOP after START t'…'");
                }
                Qualifier::StartStop(a, self.timestamp()?)
            } else {
                return Ok(p);
            };
            p = Pattern::Qualified(Box::new(p), q);
        }
    }

    fn number(&mut self) -> Result<String, PatternError> {
        match self.bump() {
            Some(Tok::Number(n)) => Ok(n),
            _ => {
                self.pos -= 1;
                self.err("a number")
            }
        }
    }

    fn timestamp(&mut self) -> Result<String, PatternError> {
        match self.bump() {
            Some(Tok::Prefixed('t', s)) => Ok(s),
            _ => {
                self.pos -= 1;
                self.err("a timestamp t'…'")
            }
        }
    }

    fn obs_atom(&mut self) -> Result<Pattern, PatternError> {
        self.enter()?;
        let p = match self.peek() {
            Some(Tok::LBracket) => {
                self.pos += 1;
                let c = self.cmp_or()?;
                self.expect(Tok::RBracket, "] closing the observation expression")?;
                Pattern::Observation(c)
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let p = self.followed_by()?;
                self.expect(Tok::RParen, ") closing the parenthesis")?;
                p
            }
            _ => return self.err("[ or ( starting an observation expression"),
        };
        self.depth -= 1;
        Ok(p)
    }

    fn cmp_or(&mut self) -> Result<Comparison, PatternError> {
        let mut v = vec![self.cmp_and()?];
        while self.eat_keyword("OR") {
            v.push(self.cmp_and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Comparison::Or(v)
        })
    }

    fn cmp_and(&mut self) -> Result<Comparison, PatternError> {
        let mut v = vec![self.cmp_atom()?];
        while self.eat_keyword("AND") {
            v.push(self.cmp_atom()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Comparison::And(v)
        })
    }

    fn cmp_atom(&mut self) -> Result<Comparison, PatternError> {
        self.enter()?;
        let c = if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let c = self.cmp_or()?;
            self.expect(Tok::RParen, ") closing the parenthesis")?;
            c
        } else if self.eat_keyword("EXISTS") {
            Comparison::Test(Test {
                path: self.path()?,
                negated: false,
                op: Op::Exists,
                value: None,
            })
        } else {
            let path = self.path()?;
            let negated = self.eat_keyword("NOT");
            let op = match self.bump() {
                Some(Tok::Cmp(op)) => op,
                Some(Tok::Ident(k)) => match k.to_ascii_uppercase().as_str() {
                    "IN" => Op::In,
                    "LIKE" => Op::Like,
                    "MATCHES" => Op::Matches,
                    "ISSUBSET" => Op::IsSubset,
                    "ISSUPERSET" => Op::IsSuperset,
                    _ => {
                        self.pos -= 1;
                        return self.err("a comparison operator");
                    }
                },
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return self.err("a comparison operator");
                }
            };
            let value = if op == Op::In {
                self.set()?
            } else {
                self.literal()?
            };
            Comparison::Test(Test {
                path,
                negated,
                op,
                value: Some(value),
            })
        };
        self.depth -= 1;
        Ok(c)
    }

    fn set(&mut self) -> Result<Literal, PatternError> {
        self.expect(Tok::LParen, "( starting the set after IN")?;
        let mut v = vec![self.literal()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            v.push(self.literal()?);
        }
        self.expect(Tok::RParen, ") closing the set")?;
        Ok(Literal::Set(v))
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        let l = match self.bump() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Number(n)) => Literal::Number(n),
            Some(Tok::Prefixed('t', s)) => Literal::Timestamp(s),
            Some(Tok::Prefixed('h', s)) => Literal::Hex(s),
            Some(Tok::Prefixed(_, s)) => Literal::Binary(s),
            Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return self.err("a constant ('…', a number, true, false, t'…', h'…', b'…')");
            }
        };
        Ok(l)
    }

    fn path(&mut self) -> Result<ObjectPath, PatternError> {
        let object_type = match self.bump() {
            Some(Tok::Ident(t)) => t,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return self.err("an object type (ipv4-addr, file, …)");
            }
        };
        self.expect(Tok::Colon, ": after the object type")?;
        let mut steps = vec![self.key()?];
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    steps.push(self.key()?);
                }
                Some(Tok::LBracket) => {
                    // `[` starts an index only right after a path step; `[*]` or `[n]`.
                    self.pos += 1;
                    let step = match self.bump() {
                        Some(Tok::Star) => Step::Any,
                        Some(Tok::Number(n)) if n.bytes().all(|c| c.is_ascii_digit()) => {
                            Step::Index(n)
                        }
                        _ => {
                            self.pos -= 1;
                            return self.err("* or an index inside [ ] of an object path");
                        }
                    };
                    self.expect(Tok::RBracket, "] closing the index")?;
                    steps.push(step);
                }
                _ => return Ok(ObjectPath { object_type, steps }),
            }
        }
    }

    fn key(&mut self) -> Result<Step, PatternError> {
        match self.bump() {
            Some(Tok::Ident(k)) | Some(Tok::Str(k)) => Ok(Step::Key(k)),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                self.err("a property name")
            }
        }
    }
}

/// Parses a STIX 2.1 pattern.
///
/// # Errors
/// [`PatternError`] with the byte offset and what was expected.
pub fn parse_pattern(src: &str) -> Result<Pattern, PatternError> {
    if src.len() > MAX_PATTERN_LEN {
        return Err(PatternError {
            at: MAX_PATTERN_LEN,
            what: "a pattern longer than 64 KiB",
        });
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.len(),
        depth: 0,
    };
    let pattern = p.followed_by()?;
    if p.pos < p.toks.len() {
        return p.err("the end of the pattern (AND, OR or FOLLOWEDBY between expressions)");
    }
    Ok(pattern)
}
