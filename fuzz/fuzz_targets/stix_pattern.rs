//! Fuzz the STIX pattern parser and the indicator conversion: never panic; a pattern that
//! parses prints to text that parses to the same tree (printing is canonical), and parses the
//! same with a comment or grammar whitespace around it (the grammar skips both); conversion of
//! an indicator with any pattern gives values or counted skips, never both nothing and no count.
#![no_main]

use edlforge::source::taxii::stix::{convert_objects, parse_pattern, pattern_values, StixObject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = parse_pattern(text) {
        let printed = p.to_string();
        assert_eq!(
            parse_pattern(&printed).as_ref(),
            Ok(&p),
            "printed form {printed:?} of {text:?} does not parse back"
        );
        let _ = pattern_values(&p);
        for wrapped in [
            format!("/* c */{text}\u{3000}"),
            format!("\u{00A0}{text}\n// trailing"),
        ] {
            assert_eq!(
                parse_pattern(&wrapped).as_ref(),
                Ok(&p),
                "{wrapped:?} parses differently from {text:?}"
            );
        }
    }
    let object = serde_json::json!({
        "type": "indicator", "id": "indicator--fuzz", "modified": "2026-01-01T00:00:00Z",
        "pattern": text, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"
    });
    let text = object.to_string();
    let object: StixObject =
        serde_json::from_str(&text).expect("a fixed object shape with a string pattern");
    let c = convert_objects([&object], 1_790_000_000);
    assert_eq!(c.indicators_seen, 1);
    assert!(
        c.active().next().is_some() || c.report.total_skipped() > 0,
        "an indicator neither converted nor counted: {text:?}"
    );
});
