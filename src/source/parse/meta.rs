//! Confidence, expiry, tags and comments from CSV fields and JSON values, and the small
//! RFC 3339 reader they need. Unusable values give `None` (the indicator is kept without them).

use serde_json::Value as Json;

/// A confidence from a number 0–100 (rounded); anything else is `None`.
pub(super) fn confidence_f64(f: f64) -> Option<u8> {
    // `as` is exact here: the value is finite and within 0..=100 after rounding.
    (f.is_finite() && (0.0..=100.0).contains(&f)).then(|| f.round() as u8)
}

/// A confidence from text: a decimal number 0–100.
pub(super) fn confidence_str(s: &str) -> Option<u8> {
    let s = s.trim();
    // f64's parser also takes "inf" and "NaN"; both fail the range check.
    s.parse::<f64>().ok().and_then(confidence_f64)
}

/// A confidence from JSON: a number or a numeric string.
pub(super) fn confidence_json(v: &Json) -> Option<u8> {
    match v {
        Json::Number(n) => n.as_f64().and_then(confidence_f64),
        Json::String(s) => confidence_str(s),
        _ => None,
    }
}

/// An expiry from text: Unix seconds (digits) or an RFC 3339 time. Zero and negative times are
/// `None`: several feeds write `0` for "never", and reading it as 1970 would drop the indicator.
pub(super) fn expires_str(s: &str) -> Option<i64> {
    let s = s.trim();
    let t = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().ok()
    } else {
        rfc3339(s)
    };
    t.filter(|t| *t > 0)
}

/// An expiry from JSON: Unix seconds (integer or fraction, truncated), or a string as
/// [`expires_str`].
pub(super) fn expires_json(v: &Json) -> Option<i64> {
    let t = match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e17)
                .map(|f| f.trunc() as i64)
        }),
        Json::String(s) => return expires_str(s),
        _ => None,
    };
    t.filter(|t| *t > 0)
}

/// Tags from a comma-separated string.
pub(super) fn tags_str(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Tags from JSON: an array of strings or of objects with a `name` string, or a comma-separated
/// string. Other elements are left out.
pub(super) fn tags_json(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => tags_str(s),
        Json::Array(a) => a
            .iter()
            .filter_map(|t| match t {
                Json::String(s) => Some(s.as_str()),
                Json::Object(o) => o.get("name").and_then(Json::as_str),
                _ => None,
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// A comment from text: trimmed, `None` when empty.
pub(super) fn comment_str(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A comment from JSON: a string, or a number or boolean written out.
pub(super) fn comment_json(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => comment_str(s),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads `YYYY-MM-DD[(T|t| )HH:MM:SS[.fraction][Z|z|±HH:MM]]` as Unix seconds. A time without
/// offset is UTC (OTX writes them so); a date alone is its midnight UTC. Fractions are dropped,
/// a leap second counts as :59.
pub(crate) fn rfc3339(s: &str) -> Option<i64> {
    use crate::indicator::time::{days_from_civil, days_in_month};
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        d.iter()
            .try_fold(0i64, |acc, c| Some(acc * 10 + i64::from(c - b'0')))
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-')) {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        return Some(days * 86_400);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || !sep(13, b':') || !sep(16, b':') {
        return None;
    }
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut i = 19;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(c @ (b'+' | b'-')) if b.len() == i + 6 && sep(i + 3, b':') => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss.min(59) - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    macro_rules! time {
        ($name:ident, $in:expr, $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(rfc3339($in), $want);
            }
        };
    }
    // Expected values from GNU `date -u -d … +%s`.
    time!(t_utc, "2026-10-01T00:00:00Z", Some(1_790_812_800));
    time!(t_no_offset, "2026-11-04T00:00:00", Some(1_793_750_400));
    time!(t_space, "2026-11-04 00:00:00", Some(1_793_750_400));
    time!(t_date, "2026-11-04", Some(1_793_750_400));
    time!(t_offset, "2026-11-04T12:30:00+02:00", Some(1_793_788_200));
    time!(
        t_fraction,
        "2026-10-01T00:00:00.123456Z",
        Some(1_790_812_800)
    );
    time!(t_leap_day, "2024-02-29T23:59:59Z", Some(1_709_251_199));
    time!(t_epoch, "1970-01-01T00:00:00Z", Some(0));
    time!(t_before_epoch, "1969-12-31T23:59:59Z", Some(-1));
    time!(t_march, "2000-03-01T00:00:00Z", Some(951_868_800));
    time!(t_bad_day, "2025-02-29T00:00:00Z", None);
    time!(t_bad_hour, "2026-10-01T24:00:00Z", None);
    time!(t_trailing, "2026-10-01T00:00:00Zx", None);
    time!(t_short, "2026-10-1", None);
    time!(t_words, "yesterday", None);
    time!(t_empty_fraction, "2026-10-01T00:00:00.Z", None);
    time!(t_non_ascii, "2026-10-01T00:00:00é", None);

    #[test]
    fn confidences() {
        assert_eq!(confidence_json(&json!(75)), Some(75));
        assert_eq!(confidence_json(&json!(74.6)), Some(75));
        assert_eq!(confidence_json(&json!("100")), Some(100));
        assert_eq!(confidence_json(&json!(" 0 ")), Some(0));
        assert_eq!(confidence_json(&json!(101)), None);
        assert_eq!(confidence_json(&json!(-1)), None);
        assert_eq!(confidence_json(&json!("high")), None);
        assert_eq!(confidence_json(&json!("NaN")), None);
        assert_eq!(confidence_json(&json!(null)), None);
        assert_eq!(confidence_str("inf"), None);
    }

    #[test]
    fn expiries() {
        assert_eq!(expires_json(&json!(1_790_812_800)), Some(1_790_812_800));
        assert_eq!(expires_json(&json!(1_790_812_800.9)), Some(1_790_812_800));
        assert_eq!(expires_json(&json!("1790812800")), Some(1_790_812_800));
        assert_eq!(
            expires_json(&json!("2026-10-01T00:00:00Z")),
            Some(1_790_812_800)
        );
        assert_eq!(expires_json(&json!(0)), None);
        assert_eq!(expires_json(&json!(-5)), None);
        assert_eq!(expires_json(&json!(1e300)), None);
        assert_eq!(expires_json(&json!(null)), None);
        assert_eq!(expires_str("99999999999999999999999"), None);
    }

    #[test]
    fn tags() {
        assert_eq!(
            tags_json(&json!(["a", " b ", "", 3, {"name": "tlp:white"}])),
            vec!["a", "b", "tlp:white"]
        );
        assert_eq!(
            tags_json(&json!("32-bit,elf, mips,,")),
            vec!["32-bit", "elf", "mips"]
        );
        assert!(tags_json(&json!(7)).is_empty());
    }

    #[test]
    fn comments() {
        assert_eq!(comment_json(&json!(" x ")), Some("x".into()));
        assert_eq!(comment_json(&json!("")), None);
        assert_eq!(comment_json(&json!(12)), Some("12".into()));
        assert_eq!(comment_json(&json!({"a": 1})), None);
    }
}
