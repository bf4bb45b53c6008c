//! Finds the outside tools the oracle tests compare against, so a test whose tool is missing
//! is reported by `cargo test` as *ignored* with the reason, never as a silent `ok`
//! (libtest has no skip at run time; `#[cfg_attr(not(has_medallion), ignore = "…")]` is the
//! way to be visible in the summary).
//!
//! Each tool found sets a cfg for every target of the package:
//! - `has_medallion`: medallion 3 (the OASIS TAXII 2.1 server) for `tests/taxii.rs`, from
//!   `EDLFORGE_MEDALLION`, `target/medallion-venv/bin/medallion` (where `.ci/run` puts it) or
//!   `PATH`;
//! - `has_python3`: `python3` (or `python`) for the IP oracle in `tests/oracle.rs`;
//! - `has_promtool`: `promtool` (Debian `prometheus`) for the `/metrics` exposition check and
//!   the alert rules (`tests/deploy/prometheus.rs`);
//! - `has_stix_patterns`: the unpacked stix2-patterns 2.1.2 sdist for `tests/stix_patterns.rs`,
//!   from `EDLFORGE_STIX_PATTERNS_TESTS` or `target/stix2-patterns/stix2_patterns-2.1.2`;
//! - `has_systemd_analyze`: `systemd-analyze` (Debian `systemd`) for the unit in
//!   `tests/deploy/systemd.rs`;
//! - `has_podman`: `podman` for the image in `tests/deploy/container.rs`, and `can_chroot`
//!   (running as root with `chroot` found) to start that image's filesystem;
//! - `has_prometheus`: the `prometheus` server (Debian `prometheus`) for the Grafana panel
//!   queries in `tests/deploy/grafana.rs`;
//! - `has_kubernetes_validate`: `kubernetes-validate` for `tests/deploy/kubernetes.rs`, from
//!   `EDLFORGE_KUBERNETES_VALIDATE`, `target/kubernetes-validate-venv/bin/kubernetes-validate`
//!   or `PATH`;
//! - `has_share_python`: a python with taxii2-client and stix2-validator for `tests/share.rs`,
//!   from `EDLFORGE_SHARE_PYTHON` or `target/share-venv/bin/python` (where `.ci/run` puts it);
//! - `has_postgres`: the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) for
//!   `tests/postgres.rs`, from `EDLFORGE_PG_BIN` (their folder) or
//!   `/usr/lib/postgresql/<major>/bin` (Debian's layout; `.ci/run` installs `postgresql`).
//!
//! `EDLFORGE_REQUIRE_ORACLES` (CI) sets `require_oracles`, which turns on a test that fails
//! while any tool is missing, and makes this script warn at build time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn medallion(root: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EDLFORGE_MEDALLION") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let venv = root.join("target/medallion-venv/bin/medallion");
    if venv.is_file() {
        return Some(venv);
    }
    on_path("medallion")
}

/// A path from `var`, else `root/default`, else `name` on `PATH`: the first that `exists`.
fn located(
    var: &str,
    root: &Path,
    default: &str,
    name: Option<&str>,
    exists: fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| exists(p));
    }
    let local = root.join(default);
    if exists(&local) {
        return Some(local);
    }
    name.and_then(on_path)
}

/// The folder of the PostgreSQL server binaries: `EDLFORGE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<major>/bin` holding `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EDLFORGE_PG_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.join("initdb").is_file());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(Path::new("/usr/lib/postgresql"))
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0")
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in [
        "EDLFORGE_MEDALLION",
        "EDLFORGE_STIX_PATTERNS_TESTS",
        "EDLFORGE_KUBERNETES_VALIDATE",
        "EDLFORGE_SHARE_PYTHON",
        "EDLFORGE_PG_BIN",
        "EDLFORGE_REQUIRE_ORACLES",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    for cfg in [
        "has_medallion",
        "has_python3",
        "has_promtool",
        "has_stix_patterns",
        "has_systemd_analyze",
        "has_podman",
        "can_chroot",
        "has_prometheus",
        "has_kubernetes_validate",
        "has_share_python",
        "has_postgres",
        "require_oracles",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // No rerun-if-changed on `target/medallion-venv`: a path that does not exist makes cargo
    // run this script (and rebuild the crate) every time. `.ci/run` exports
    // EDLFORGE_MEDALLION, which is watched; after installing a tool by hand, `touch build.rs`.
    let pg_bin = postgres_bin();
    let tools = [
        (
            "has_medallion",
            medallion(&root).is_some(),
            "medallion not found: set EDLFORGE_MEDALLION=/path/to/venv/bin/medallion or run .ci/run",
        ),
        (
            "has_python3",
            runs("python3", "--version") || runs("python", "--version"),
            "python3 not found: apt-get install python3",
        ),
        (
            "has_promtool",
            on_path("promtool").is_some(),
            "promtool not found: apt-get install prometheus",
        ),
        (
            "has_stix_patterns",
            located(
                "EDLFORGE_STIX_PATTERNS_TESTS",
                &root,
                "target/stix2-patterns/stix2_patterns-2.1.2",
                None,
                |d| d.join("stix2patterns/test").is_dir(),
            )
            .is_some(),
            "stix2-patterns sdist not found: set EDLFORGE_STIX_PATTERNS_TESTS to the unpacked stix2-patterns 2.1.2 sdist or run .ci/run",
        ),
        (
            "has_systemd_analyze",
            on_path("systemd-analyze").is_some(),
            "systemd-analyze not found: apt-get install systemd",
        ),
        (
            "has_podman",
            on_path("podman").is_some(),
            "podman not found: apt-get install podman",
        ),
        (
            "can_chroot",
            is_root() && (on_path("chroot").is_some() || Path::new("/usr/sbin/chroot").is_file()),
            "not root (or chroot not found): the container test starts the image under chroot",
        ),
        (
            "has_prometheus",
            on_path("prometheus").is_some(),
            "prometheus not found: apt-get install prometheus",
        ),
        (
            "has_kubernetes_validate",
            located(
                "EDLFORGE_KUBERNETES_VALIDATE",
                &root,
                "target/kubernetes-validate-venv/bin/kubernetes-validate",
                Some("kubernetes-validate"),
                Path::is_file,
            )
            .is_some(),
            "kubernetes-validate not found: set EDLFORGE_KUBERNETES_VALIDATE or run .ci/run",
        ),
        (
            "has_share_python",
            located(
                "EDLFORGE_SHARE_PYTHON",
                &root,
                "target/share-venv/bin/python",
                None,
                Path::is_file,
            )
            .is_some(),
            "taxii2-client/stix2-validator venv not found: set EDLFORGE_SHARE_PYTHON=/path/to/venv/bin/python or run .ci/run",
        ),
        (
            "has_postgres",
            pg_bin.is_some(),
            "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN",
        ),
    ];
    let require = std::env::var_os("EDLFORGE_REQUIRE_ORACLES").is_some();
    // The tests start clusters from the folder found here (one search, not a second copy).
    if let Some(p) = &pg_bin {
        println!("cargo::rustc-env=EDLFORGE_PG_BIN_FOUND={}", p.display());
    }
    if require {
        println!("cargo::rustc-cfg=require_oracles");
    }
    for (cfg, found, missing) in tools {
        if found {
            println!("cargo::rustc-cfg={cfg}");
        } else if require {
            println!("cargo::warning={missing} (EDLFORGE_REQUIRE_ORACLES is set: the tests fail)");
        }
    }
}
