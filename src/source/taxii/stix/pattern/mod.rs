//! The STIX 2.1 pattern language (STIX 2.1 specification, section 9): syntax tree, a
//! canonical printer, lexer (`lex.rs`) and recursive-descent parser (`parse.rs`). What a pattern
//! *means* for a block list (which comparisons become entries) is decided in [`super`]; this
//! module only reads and writes the language, so it can be fuzzed and round-trip tested alone.
//!
//! The reference is the OASIS ANTLR grammar `STIXPattern.g4` (cti-stix2-json-schemas,
//! `pattern_grammar/`, the one the `stix2-patterns` validator is generated from), followed
//! token for token: `=` and `==`, `!=` and `<>`; keywords upper case only and `true`/`false`
//! lower case only; whitespace is exactly the grammar's `WS` set; `/* … */` and `// …`
//! comments are skipped between tokens; strings know only the escapes `\'` and `\\`;
//! timestamps, `h'…'` and `b'…'` are checked as the grammar spells them; property names
//! without quotes have no hyphen; numbers have no leading zeros. A pattern the grammar
//! refuses is a [`PatternError::Syntax`]. Input longer than [`MAX_PATTERN_LEN`] or nested
//! deeper than 64 levels is a [`PatternError::TooLarge`] (the grammar has no such bound; we
//! refuse to spend more on one indicator), so hostile input costs bounded time and stack.
//!
//! Precedence, loosest first: `FOLLOWEDBY`, `OR`, `AND` between observation expressions, then
//! qualifiers; `OR`, `AND` inside `[ ]`.

mod lex;
mod parse;
#[cfg(test)]
mod tests;

pub use self::parse::parse_pattern;

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
    /// `NOT` before the operator (or before `EXISTS`).
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

/// Why a pattern is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The STIX grammar refuses it: the pattern matches nothing (`invalid`).
    #[error("pattern does not parse at byte {at}: {what}")]
    Syntax {
        /// Byte offset in the pattern.
        at: usize,
        /// What was expected or found.
        what: &'static str,
    },
    /// Longer than [`MAX_PATTERN_LEN`] or nested deeper than 64 levels: not read, whatever
    /// the grammar says (`unsupported_pattern`).
    #[error("pattern {what}; not read")]
    TooLarge {
        /// What bound it passes.
        what: &'static str,
    },
}

/// Longest pattern accepted: real patterns are far shorter; this bounds the work per object.
pub const MAX_PATTERN_LEN: usize = 64 * 1024;

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
            let not = if self.negated { "NOT " } else { "" };
            return write!(f, "{not}EXISTS {}", self.path);
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

/// Whether `s` can be written as a property name without quotes: the grammar's
/// `IdentifierWithoutHyphen`, and not a word the lexer takes for a keyword or a boolean.
fn is_plain_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(s)
}

/// The grammar's keywords: upper case only (`and` is an identifier, not `AND`). `LAST` is
/// reserved by the grammar though no rule uses it.
const KEYWORDS: [&str; 17] = [
    "AND",
    "OR",
    "NOT",
    "FOLLOWEDBY",
    "LIKE",
    "MATCHES",
    "ISSUPERSET",
    "ISSUBSET",
    "EXISTS",
    "LAST",
    "IN",
    "START",
    "STOP",
    "SECONDS",
    "WITHIN",
    "REPEATS",
    "TIMES",
];

/// Whether the lexer reads `s` as a keyword or a boolean (`true`, `false`), never as a name.
pub(super) fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s) || s == "true" || s == "false"
}
