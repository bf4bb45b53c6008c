//! Fuzz `feeds.toml` loading: never panic; every error is reported in file order at a place
//! inside the text; the same text gives the same errors (issue 12 item 14: every error at once).
#![no_main]

use std::path::Path;

use edlforge::config::{Config, LoadError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let run = || match Config::from_text(text, Path::new("/nonexistent/feeds.toml")) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid(errors)) => errors.iter().map(|e| e.to_string()).collect(),
        Err(e) => panic!("from_text reads no file: {e}"),
    };
    let first = run();
    assert_eq!(first, run(), "not deterministic");
    if let Err(LoadError::Invalid(errors)) = Config::from_text(text, Path::new("/nonexistent/feeds.toml")) {
        let lines = text.lines().count() + 1;
        let mut last = (0, 0);
        for e in &errors {
            let at = (e.location.line, e.location.column);
            assert!(at >= last, "errors out of file order: {errors:?}");
            assert!(e.location.line >= 1 && e.location.line <= lines, "{e}");
            last = at;
        }
    }
    let _ = edlforge::config::secret::url_secret_parts(text);
});
