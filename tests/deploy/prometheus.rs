//! `deploy/prometheus/`: the alert rules load (`promtool check rules`), their unit tests pass
//! (`promtool test rules`), and every metric they use is one a real `edlforge serve` exports.

use std::collections::BTreeSet;
use std::process::Command;

use super::{run, site, tool, Serve};
use crate::support::root;

/// The group whose rules use metrics that issue 12 adds; the names it may use before they exist.
const PENDING_GROUP: &str = "edlforge-issue-12";
const PENDING: &[&str] = &[
    "edlforge_cycle_success",
    "edlforge_cycle_failures_total",
    "edlforge_tls_reload_success",
];

/// Series Prometheus makes itself (not exported by edlforge).
const FROM_PROMETHEUS: &[&str] = &["up"];

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "promtool not found: apt-get install prometheus"
)]
fn alert_rules_check_and_pass_their_unit_tests() {
    let promtool = tool("promtool");
    let dir = root().join("deploy/prometheus");
    let (ok, said) =
        run(Command::new(&promtool)
            .current_dir(&dir)
            .args(["check", "rules", "alerts.yml"]));
    assert!(ok, "promtool check rules:\n{said}");
    let (ok, said) =
        run(Command::new(&promtool)
            .current_dir(&dir)
            .args(["test", "rules", "alerts.test.yml"]));
    assert!(
        ok && said.contains("SUCCESS"),
        "promtool test rules:\n{said}"
    );
}

/// Metric names a rules file uses, by group: every `edlforge_*` and `process_*` token, plus the
/// Prometheus-made ones in [`FROM_PROMETHEUS`] (checked apart).
fn names_by_group(text: &str) -> Vec<(String, BTreeSet<String>)> {
    let token = regex::Regex::new(r"\b(edlforge_[a-z0-9_]+|process_[a-z0-9_]+|up)\b")
        .expect("constant regex");
    let mut groups: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('#') {
            continue;
        }
        if let Some(name) = t.strip_prefix("- name:") {
            groups.push((name.trim().to_string(), BTreeSet::new()));
            continue;
        }
        if let Some((_, set)) = groups.last_mut() {
            for m in token.find_iter(t) {
                set.insert(m.as_str().to_string());
            }
        }
    }
    groups
}

/// The metric names in a Prometheus text exposition (sample lines, not comments).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_metric_the_alerts_use_is_exported() {
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml"))
        .expect("read alerts.yml");
    let groups = names_by_group(&rules);
    assert!(
        groups.iter().any(|(g, s)| g == "edlforge" && s.len() >= 8),
        "the scan found the rules: {groups:?}"
    );

    let dir = site();
    let srv = Serve::start(dir.path());
    // Wait for one cycle: the file source delivered and the failing one was tried.
    let (_, metrics) = srv.get_until("/metrics", |code, body| {
        code == 200
            && body.contains("edlforge_source_last_success_timestamp_seconds{source=\"block\"}")
            && body.contains("edlforge_source_fetch_errors_total{reason=")
            && body.contains("source=\"down\"}")
            && body.contains("edlforge_list_available{list=\"waiting\"}")
    });
    let have = exported(&metrics);

    for (group, used) in &groups {
        for name in used {
            if FROM_PROMETHEUS.contains(&name.as_str()) || have.contains(name) {
                continue;
            }
            // Histograms and summaries export name_bucket/_sum/_count, never the bare name.
            let base_of_family = ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| have.contains(&format!("{name}{s}")));
            if base_of_family {
                continue;
            }
            assert!(
                group == PENDING_GROUP && PENDING.contains(&name.as_str()),
                "alerts.yml group {group:?} uses {name}, which /metrics does not export:\n{metrics}"
            );
        }
    }
}
