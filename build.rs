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
//! - `has_promtool`: `promtool` (Debian `prometheus`) for the `/metrics` exposition check.
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

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["EDLFORGE_MEDALLION", "EDLFORGE_REQUIRE_ORACLES", "PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    for cfg in [
        "has_medallion",
        "has_python3",
        "has_promtool",
        "require_oracles",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // No rerun-if-changed on `target/medallion-venv`: a path that does not exist makes cargo
    // run this script (and rebuild the crate) every time. `.ci/run` exports
    // EDLFORGE_MEDALLION, which is watched; after installing a tool by hand, `touch build.rs`.
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
    ];
    let require = std::env::var_os("EDLFORGE_REQUIRE_ORACLES").is_some();
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
