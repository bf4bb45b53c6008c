//! Fuzz the line parser: never panic, and normalizing twice is normalizing once.
#![no_main]

use edlforge::indicator::{parse_line, parse_token, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for want in [None, Some(Kind::Ip), Some(Kind::Domain), Some(Kind::Url), Some(Kind::Hash)] {
        if let Ok(Some(p)) = parse_line(data, want) {
            let text = p.parsed.value.to_string();
            let again = parse_token(text.as_bytes(), want)
                .unwrap_or_else(|e| panic!("{text:?} (from {data:?}) does not parse again: {e}"));
            assert_eq!(again.value, p.parsed.value, "{text:?} changed on the second pass");
            assert!(!again.normalized, "{text:?} was rewritten on the second pass");
        }
    }
});
