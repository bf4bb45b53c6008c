//! Golden tests: every vendor × type on the fixtures in `tests/fixtures/vendors/input/`, output
//! and report compared byte for byte with `tests/fixtures/vendors/<vendor>/<case>.{expected,report}`.
//! `EDLFORGE_BLESS=1 cargo test` rewrites them; review the diff before committing.

use crate::support::{edlforge, fixture, golden};

fn case(vendor: &str, kind: &str, variant: &str, extra: &[&str]) {
    let input_kind = if kind == "auto" { "mixed" } else { kind };
    let input = fixture(&format!("vendors/input/{input_kind}.in"));
    let allow = fixture("vendors/input/allow.txt");
    let mut args = vec![
        "convert",
        "--vendor",
        vendor,
        "--type",
        kind,
        "--name",
        "golden",
        "--allow",
        allow.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let input_s = input.to_str().expect("utf-8 path").to_string();
    args.push(&input_s);
    let out = edlforge(&args, None);
    assert!(
        out.status.success(),
        "{vendor} {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = if variant.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}-{variant}")
    };
    let stdout = String::from_utf8(out.stdout).expect("output is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("report is UTF-8");
    golden(
        &fixture(&format!("vendors/{vendor}/{name}.expected")),
        &stdout,
    );
    golden(
        &fixture(&format!("vendors/{vendor}/{name}.report")),
        &stderr,
    );
}

macro_rules! golden_case {
    ($name:ident, $vendor:expr, $kind:expr) => {
        #[test]
        fn $name() {
            case($vendor, $kind, "", &[]);
        }
    };
    ($name:ident, $vendor:expr, $kind:expr, $variant:expr, $($arg:expr),+) => {
        #[test]
        fn $name() {
            case($vendor, $kind, $variant, &[$($arg),+]);
        }
    };
}

golden_case!(panos_ip, "panos", "ip");
golden_case!(panos_ip_ranges, "panos", "ip", "ranges", "--ranges");
golden_case!(panos_domain, "panos", "domain");
golden_case!(panos_url, "panos", "url");
golden_case!(
    panos_domain_capped,
    "panos",
    "domain",
    "max5",
    "--max-entries",
    "5"
);
golden_case!(fortigate_ip, "fortigate", "ip");
golden_case!(fortigate_ip_ranges, "fortigate", "ip", "ranges", "--ranges");
golden_case!(fortigate_domain, "fortigate", "domain");
golden_case!(fortigate_url, "fortigate", "url");
golden_case!(fortigate_hash, "fortigate", "hash");
golden_case!(checkpoint_ip, "checkpoint", "ip");
golden_case!(checkpoint_domain, "checkpoint", "domain");
golden_case!(checkpoint_url, "checkpoint", "url");
golden_case!(checkpoint_hash, "checkpoint", "hash");
golden_case!(checkpoint_auto, "checkpoint", "auto");
golden_case!(checkpoint_feed_ip, "checkpoint-feed", "ip");
golden_case!(checkpoint_feed_domain, "checkpoint-feed", "domain");
golden_case!(checkpoint_feed_auto, "checkpoint-feed", "auto");
golden_case!(sophos_ip, "sophos", "ip");
golden_case!(sophos_domain, "sophos", "domain");
golden_case!(sophos_url, "sophos", "url");
golden_case!(cisco_tid_ip, "cisco-tid", "ip");
golden_case!(cisco_tid_domain, "cisco-tid", "domain");
golden_case!(cisco_tid_url, "cisco-tid", "url");
golden_case!(cisco_tid_hash, "cisco-tid", "hash");
golden_case!(cisco_si_ip, "cisco-si", "ip");
golden_case!(cisco_si_domain, "cisco-si", "domain");
golden_case!(cisco_si_url, "cisco-si", "url");
golden_case!(proxysg_auto, "proxysg", "auto");
golden_case!(
    proxysg_url_category,
    "proxysg",
    "url",
    "category",
    "--category",
    "edl_phish"
);
golden_case!(plain_ip, "plain", "ip");
golden_case!(plain_ip_ranges, "plain", "ip", "ranges", "--ranges");
golden_case!(plain_domain, "plain", "domain");
golden_case!(plain_url, "plain", "url");
golden_case!(plain_hash, "plain", "hash");
golden_case!(plain_auto, "plain", "auto");
golden_case!(plain_ip_capped, "plain", "ip", "max3", "--max-entries", "3");
