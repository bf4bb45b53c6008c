//! Oracle test: the STIX pattern parser against the pattern strings of the OASIS validator's
//! own test suite (PyPI sdist `stix2-patterns`, `stix2patterns/test/`), read in place and never
//! copied into this repository. `tests/oracle/stix_patterns.py` extracts them (python3, `ast`).
//!
//! - every pattern the suite calls valid parses (edlforge never calls it `invalid`);
//! - every pattern the suite says the grammar refuses is a syntax error (never read as a
//!   pattern, never an entry);
//! - every pattern the validator refuses after parsing (a malformed hash, a repeated qualifier)
//!   gives no entry.
//!
//! The unpacked sdist is found through `EDLFORGE_STIX_PATTERNS_TESTS`, else
//! `target/stix2-patterns/stix2_patterns-2.1.2` (where `.ci/run` puts it). `build.rs` looks for
//! it (and python3): missing, the test is *ignored* with the reason, and under
//! `EDLFORGE_REQUIRE_ORACLES` (CI) `ops::oracles_are_present` fails.

use std::path::PathBuf;
use std::process::Command;

use edlforge::indicator::SkipReason;
use edlforge::source::taxii::stix::{
    convert_objects, parse_pattern, pattern_values, PatternError, StixObject,
};

use crate::support::root;

fn suite_dir() -> PathBuf {
    let dir = match std::env::var_os("EDLFORGE_STIX_PATTERNS_TESTS") {
        Some(p) => PathBuf::from(p),
        None => root().join("target/stix2-patterns/stix2_patterns-2.1.2"),
    };
    assert!(
        dir.join("stix2patterns/test").is_dir(),
        "build.rs found the stix2-patterns sdist but {} has no stix2patterns/test now: `touch build.rs` and rebuild",
        dir.display()
    );
    dir
}

/// What converting one indicator with `pattern` gives: (active values, invalid skips).
fn convert(pattern: &str) -> (usize, u64) {
    let json = serde_json::json!({
        "type": "indicator", "id": "indicator--oracle", "modified": "2026-01-01T00:00:00Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"
    })
    .to_string();
    let object: StixObject = serde_json::from_str(&json).unwrap();
    let c = convert_objects([&object], 1_790_000_000);
    (c.active().count(), c.report.count(SkipReason::Invalid))
}

#[test]
#[cfg_attr(
    not(has_stix_patterns),
    ignore = "stix2-patterns sdist not found: set EDLFORGE_STIX_PATTERNS_TESTS to the unpacked stix2-patterns 2.1.2 sdist or run .ci/run"
)]
#[cfg_attr(
    all(has_stix_patterns, not(has_python3)),
    ignore = "python3 not found: apt-get install python3"
)]
fn parser_agrees_with_the_stix2_patterns_suite() {
    let dir = suite_dir();
    let out = Command::new("python3")
        .arg(root().join("tests/oracle/stix_patterns.py"))
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("build.rs found python3 but it does not run now: {e}"));
    assert!(
        out.status.success(),
        "extraction failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts = [0usize; 3];
    let mut wrong = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let (verdict, pattern, from) = (
            case["verdict"].as_str().unwrap(),
            case["pattern"].as_str().unwrap(),
            case["from"].as_str().unwrap(),
        );
        let parsed = parse_pattern(pattern);
        let (entries, invalid) = convert(pattern);
        let ok = match verdict {
            "valid" => {
                counts[0] += 1;
                // Valid patterns parse; an `invalid` count may only come from a value (an
                // address that is not one), never from the pattern.
                parsed
                    .as_ref()
                    .is_ok_and(|p| invalid == 0 || pattern_values(p).is_ok())
            }
            "syntax" => {
                counts[1] += 1;
                matches!(parsed, Err(PatternError::Syntax { .. })) && entries == 0
            }
            _ => {
                counts[2] += 1;
                entries == 0
            }
        };
        if !ok {
            wrong.push(format!(
                "{from}: suite says {verdict}, edlforge: {parsed:?}, {entries} entries, {invalid} invalid\n  {pattern}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // An extraction that found (almost) nothing would pass vacuously.
    assert!(
        counts[0] >= 100 && counts[1] >= 40 && counts[2] >= 4,
        "too few cases extracted (valid, syntax, semantic): {counts:?}"
    );
    eprintln!("stix2-patterns suite: {counts:?} (valid, syntax errors, semantic errors) agree");
}
