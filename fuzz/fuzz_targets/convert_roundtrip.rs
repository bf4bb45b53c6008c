//! Fuzz the whole compiler on arbitrary input lines for every vendor: never panic, never publish
//! an entry the safety floor refuses, and render the same bytes twice.
#![no_main]

use edlforge::compile::guard::Guard;
use edlforge::compile::{AllowSet, Compiler, ListPolicy, VendorRules};
use edlforge::config::Vendor;
use edlforge::format::{Format, FormatOptions};
use edlforge::indicator::{parse_line, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let guard = Guard::default();
    for vendor in Vendor::ALL {
        let format = Format::new(vendor, FormatOptions::default());
        let policy = ListPolicy {
            name: "fuzz".into(),
            kinds: format.kinds().to_vec(),
            max_entries: Some(50),
        };
        let mut c = Compiler::new(policy, &guard, &format);
        for line in data.split(|b| *b == b'\n') {
            if let Ok(Some(p)) = parse_line(line, None) {
                c.push(p.parsed.value, 0, || None);
            }
        }
        let list = c.finish(&AllowSet::default());
        let a = format.render(&list);
        let b = format.render(&list);
        assert_eq!(a, b);
        assert!(a.entries <= 50);
        // The floor as this vendor reads the entries (a plain name matching subdomains on some).
        let subtree = format.plain_name_covers_subdomains();
        for d in &list.domains {
            assert!(guard.check_domain(&d.value).is_ok(), "{} published", d.value);
            let v = Value::Domain(d.value.clone());
            assert!(guard.check(&v, subtree).is_ok(), "{} published", d.value);
        }
        for u in &list.urls {
            let v = Value::Url(u.value.clone());
            assert!(guard.check(&v, subtree).is_ok(), "{} published", u.value);
        }
    }
});
