//! The parser of `STIXPattern.g4`: tokens → [`Pattern`], rule by rule (the rule names are in
//! the comments). Every literal position takes only the literals its rule names: `=`/`!=` any
//! constant, `<`… no boolean, `LIKE`/`MATCHES`/`ISSUBSET`/`ISSUPERSET` a string only, `IN` a
//! set (empty allowed), `WITHIN` a positive int or float, `REPEATS` a positive int, `START`/
//! `STOP` timestamps, path indexes an int or `*`.

use super::lex::{lex, Kw, Tok};
use super::{
    Comparison, Literal, ObjectPath, Op, Pattern, PatternError, Qualifier, Step, Test,
    MAX_PATTERN_LEN,
};

/// Deepest nesting of parentheses and brackets read (no stack overflow on hostile input).
const MAX_DEPTH: usize = 64;

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

    fn err<T>(&self, what: &'static str) -> Result<T, PatternError> {
        Err(PatternError::Syntax {
            at: self.toks.get(self.pos).map_or(self.end, |(a, _)| *a),
            what,
        })
    }

    /// Takes the next token when `f` maps it to something.
    fn take<T>(&mut self, f: impl FnOnce(&Tok) -> Option<T>) -> Option<T> {
        let t = self.peek().and_then(f);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        self.take(|x| (x == t).then_some(())).is_some()
    }

    fn eat_kw(&mut self, k: Kw) -> bool {
        self.eat(&Tok::Kw(k))
    }

    fn expect(&mut self, t: Tok, what: &'static str) -> Result<(), PatternError> {
        if self.eat(&t) {
            Ok(())
        } else {
            self.err(what)
        }
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(PatternError::TooLarge {
                what: "is nested deeper than 64 levels",
            });
        }
        Ok(())
    }

    /// `observationExpressions`: `FOLLOWEDBY` binds loosest.
    fn followed_by(&mut self) -> Result<Pattern, PatternError> {
        let mut v = vec![self.obs_or()?];
        while self.eat_kw(Kw::FollowedBy) {
            v.push(self.obs_or()?);
        }
        Ok(one_or(v, Pattern::FollowedBy))
    }

    /// `observationExpressionOr`.
    fn obs_or(&mut self) -> Result<Pattern, PatternError> {
        let mut v = vec![self.obs_and()?];
        while self.eat_kw(Kw::Or) {
            v.push(self.obs_and()?);
        }
        Ok(one_or(v, Pattern::Or))
    }

    /// `observationExpressionAnd`.
    fn obs_and(&mut self) -> Result<Pattern, PatternError> {
        let mut v = vec![self.obs_qualified()?];
        while self.eat_kw(Kw::And) {
            v.push(self.obs_qualified()?);
        }
        Ok(one_or(v, Pattern::And))
    }

    /// `observationExpression` with its qualifiers (any number, any order).
    fn obs_qualified(&mut self) -> Result<Pattern, PatternError> {
        let mut p = self.obs_atom()?;
        loop {
            let q = if self.eat_kw(Kw::Within) {
                // withinQualifier: WITHIN (IntPosLiteral|FloatPosLiteral) SECONDS
                let n = self.number(|n| !n.starts_with('-'), "a positive number after WITHIN")?;
                if !self.eat_kw(Kw::Seconds) {
                    return self.err("SECONDS after WITHIN <number>");
                }
                Qualifier::Within(n)
            } else if self.eat_kw(Kw::Repeats) {
                // repeatedQualifier: REPEATS IntPosLiteral TIMES
                let n = self.number(
                    |n| !n.starts_with('-') && !n.contains('.'),
                    "a positive integer after REPEATS",
                )?;
                if !self.eat_kw(Kw::Times) {
                    return self.err("TIMES after REPEATS <integer>");
                }
                Qualifier::Repeats(n)
            } else if self.eat_kw(Kw::Start) {
                // startStopQualifier: START TimestampLiteral STOP TimestampLiteral
                let a = self.timestamp()?;
                if !self.eat_kw(Kw::Stop) {
                    return self.err("STOP after START t'…'");
                }
                Qualifier::StartStop(a, self.timestamp()?)
            } else {
                return Ok(p);
            };
            p = Pattern::Qualified(Box::new(p), q);
        }
    }

    fn number(
        &mut self,
        ok: impl Fn(&str) -> bool,
        what: &'static str,
    ) -> Result<String, PatternError> {
        match self.take(|t| match t {
            Tok::Number(n) if ok(n) => Some(n.clone()),
            _ => None,
        }) {
            Some(n) => Ok(n),
            None => self.err(what),
        }
    }

    fn timestamp(&mut self) -> Result<String, PatternError> {
        match self.take(|t| match t {
            Tok::Timestamp(s) => Some(s.clone()),
            _ => None,
        }) {
            Some(s) => Ok(s),
            None => self.err("a timestamp t'…'"),
        }
    }

    /// `observationExpressionSimple` / `observationExpressionCompound`.
    fn obs_atom(&mut self) -> Result<Pattern, PatternError> {
        self.enter()?;
        let p = if self.eat(&Tok::LBracket) {
            let c = self.cmp_or()?;
            self.expect(Tok::RBracket, "] closing the observation expression")?;
            Pattern::Observation(c)
        } else if self.eat(&Tok::LParen) {
            let p = self.followed_by()?;
            self.expect(Tok::RParen, ") closing the parenthesis")?;
            p
        } else {
            return self.err("[ or ( starting an observation expression");
        };
        self.depth -= 1;
        Ok(p)
    }

    /// `comparisonExpression`.
    fn cmp_or(&mut self) -> Result<Comparison, PatternError> {
        let mut v = vec![self.cmp_and()?];
        while self.eat_kw(Kw::Or) {
            v.push(self.cmp_and()?);
        }
        Ok(one_or(v, Comparison::Or))
    }

    /// `comparisonExpressionAnd`.
    fn cmp_and(&mut self) -> Result<Comparison, PatternError> {
        let mut v = vec![self.cmp_atom()?];
        while self.eat_kw(Kw::And) {
            v.push(self.cmp_atom()?);
        }
        Ok(one_or(v, Comparison::And))
    }

    /// `propTest`.
    fn cmp_atom(&mut self) -> Result<Comparison, PatternError> {
        self.enter()?;
        let c = if self.eat(&Tok::LParen) {
            // propTestParen
            let c = self.cmp_or()?;
            self.expect(Tok::RParen, ") closing the parenthesis")?;
            c
        } else if matches!(self.peek(), Some(Tok::Kw(Kw::Not | Kw::Exists))) {
            // propTestExists: NOT? EXISTS objectPath
            let negated = self.eat_kw(Kw::Not);
            if !self.eat_kw(Kw::Exists) {
                return self.err("EXISTS after NOT, or an object path");
            }
            Comparison::Test(Test {
                path: self.path()?,
                negated,
                op: Op::Exists,
                value: None,
            })
        } else {
            let path = self.path()?;
            let negated = self.eat_kw(Kw::Not);
            let Some(op) = self.take(|t| match t {
                Tok::Cmp(op) => Some(*op),
                Tok::Kw(Kw::In) => Some(Op::In),
                Tok::Kw(Kw::Like) => Some(Op::Like),
                Tok::Kw(Kw::Matches) => Some(Op::Matches),
                Tok::Kw(Kw::IsSubset) => Some(Op::IsSubset),
                Tok::Kw(Kw::IsSuperset) => Some(Op::IsSuperset),
                _ => None,
            }) else {
                return self.err("a comparison operator");
            };
            let value = match op {
                // propTestSet
                Op::In => self.set()?,
                // propTestEqual: primitiveLiteral
                Op::Eq | Op::Ne => self.literal(true)?,
                // propTestOrder: orderableLiteral
                Op::Lt | Op::Le | Op::Gt | Op::Ge => self.literal(false)?,
                // propTestLike, Regex, IsSubset, IsSuperset: StringLiteral
                Op::Like | Op::Matches | Op::IsSubset | Op::IsSuperset | Op::Exists => {
                    match self.take(|t| match t {
                        Tok::Str(s) => Some(s.clone()),
                        _ => None,
                    }) {
                        Some(s) => Literal::Str(s),
                        None => return self.err("a string '…' after this operator"),
                    }
                }
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

    /// `setLiteral`: `( )` or `( primitiveLiteral (, primitiveLiteral)* )`.
    fn set(&mut self) -> Result<Literal, PatternError> {
        self.expect(Tok::LParen, "( starting the set after IN")?;
        let mut v = Vec::new();
        if !self.eat(&Tok::RParen) {
            v.push(self.literal(true)?);
            while self.eat(&Tok::Comma) {
                v.push(self.literal(true)?);
            }
            self.expect(Tok::RParen, ") closing the set")?;
        }
        Ok(Literal::Set(v))
    }

    /// `primitiveLiteral` (with `bool`) or `orderableLiteral`.
    fn literal(&mut self, bool_ok: bool) -> Result<Literal, PatternError> {
        let l = self.take(|t| {
            Some(match t {
                Tok::Str(s) => Literal::Str(s.clone()),
                Tok::Number(n) => Literal::Number(n.clone()),
                Tok::Timestamp(s) => Literal::Timestamp(s.clone()),
                Tok::Hex(s) => Literal::Hex(s.clone()),
                Tok::Binary(s) => Literal::Binary(s.clone()),
                Tok::Bool(b) if bool_ok => Literal::Bool(*b),
                _ => return None,
            })
        });
        match l {
            Some(l) => Ok(l),
            None if bool_ok => {
                self.err("a constant ('…', a number, true, false, t'…', h'…', b'…')")
            }
            None => self.err("an orderable constant ('…', a number, t'…', h'…', b'…')"),
        }
    }

    /// `objectPath`: `objectType : firstPathComponent objectPathComponent?`.
    fn path(&mut self) -> Result<ObjectPath, PatternError> {
        let Some(object_type) = self.take(|t| match t {
            Tok::Ident { text, .. } => Some(text.clone()),
            _ => None,
        }) else {
            return self.err("an object type (ipv4-addr, file, …)");
        };
        self.expect(Tok::Colon, ": after the object type")?;
        let mut steps = vec![self.key()?];
        loop {
            if self.eat(&Tok::Dot) {
                steps.push(self.key()?);
            } else if self.eat(&Tok::LBracket) {
                // indexPathStep: [ (IntPosLiteral|IntNegLiteral|ASTERISK) ]
                let Some(step) = self.take(|t| match t {
                    Tok::Star => Some(Step::Any),
                    Tok::Number(n) if !n.contains('.') => Some(Step::Index(n.clone())),
                    _ => None,
                }) else {
                    return self.err("* or an integer inside [ ] of an object path");
                };
                self.expect(Tok::RBracket, "] closing the index")?;
                steps.push(step);
            } else {
                return Ok(ObjectPath { object_type, steps });
            }
        }
    }

    /// A property name: `IdentifierWithoutHyphen` or `StringLiteral`.
    fn key(&mut self) -> Result<Step, PatternError> {
        match self.take(|t| match t {
            Tok::Ident {
                text,
                hyphen: false,
            }
            | Tok::Str(text) => Some(text.clone()),
            _ => None,
        }) {
            Some(k) => Ok(Step::Key(k)),
            None => self.err("a property name (one with a hyphen needs quotes: 'SHA-256')"),
        }
    }
}

fn one_or<T>(mut v: Vec<T>, many: impl FnOnce(Vec<T>) -> T) -> T {
    if v.len() == 1 {
        v.remove(0)
    } else {
        many(v)
    }
}

/// Parses a STIX 2.1 pattern (`pattern: observationExpressions EOF`).
///
/// # Errors
/// [`PatternError::Syntax`] with the byte offset and what was expected, for what the grammar
/// refuses; [`PatternError::TooLarge`] past our bounds.
pub fn parse_pattern(src: &str) -> Result<Pattern, PatternError> {
    if src.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLarge {
            what: "is longer than 64 KiB",
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
