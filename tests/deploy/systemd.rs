//! `deploy/systemd/edlforge.service`: `systemd-analyze verify` is clean and
//! `systemd-analyze security --offline=yes` rates it 2.5 or better.

use std::process::Command;

use super::{run, tool};
use crate::support::root;

/// The unit with `ExecStart` pointing at the binary cargo built (verify checks that the
/// executable exists; the shipped unit names `/usr/local/bin/edlforge`).
fn unit_for_test(dir: &std::path::Path) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(root().join("deploy/systemd/edlforge.service"))
        .expect("read the unit");
    assert!(shipped.contains("ExecStart=/usr/local/bin/edlforge serve "));
    let unit = shipped.replace(
        "ExecStart=/usr/local/bin/edlforge ",
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_edlforge")),
    );
    let path = dir.join("edlforge.service");
    std::fs::write(&path, unit).expect("write the unit");
    path
}

#[test]
#[cfg_attr(
    not(has_systemd_analyze),
    ignore = "systemd-analyze not found: apt-get install systemd"
)]
fn systemd_unit_verifies_and_is_hardened() {
    let sa = tool("systemd-analyze");
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = unit_for_test(dir.path());

    let (ok, said) = run(Command::new(&sa)
        .current_dir(dir.path())
        // The man page named in Documentation= is installed with the binary, not here.
        .args(["verify", "--man=no"])
        .arg(&unit));
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    let (ok, said) = run(Command::new(&sa)
        .current_dir(dir.path())
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit));
    assert!(ok, "systemd-analyze security:\n{said}");
    let line = said
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no rating in:\n{said}"));
    let score: f64 = line
        .rsplit(':')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the rating in {line:?}"));
    assert!(score <= 2.5, "exposure {score} > 2.5:\n{said}");

    // What the issue asks of the unit, beyond the rating.
    let text = std::fs::read_to_string(&unit).expect("read the unit");
    for want in [
        "DynamicUser=yes",
        "StateDirectory=edlforge",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
    ] {
        assert!(text.contains(want), "the unit lacks {want:?}");
    }
}
