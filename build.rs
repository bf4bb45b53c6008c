//! Finds the outside tools the oracle tests need, so a test whose tool is missing is reported
//! by `cargo test` as *ignored* with the reason, never as a silent `ok` (libtest has no skip at
//! run time; `#[cfg_attr(not(has_postgres), ignore = "…")]` is visible in the summary).
//!
//! Each tool found sets a cfg for every target of the package:
//! - `has_postgres`: the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) for
//!   `tests/postgres.rs`, from `EDLFORGE_PG_BIN` (their folder) or
//!   `/usr/lib/postgresql/<major>/bin` (Debian's layout; `.ci/run` installs `postgresql`).
//!
//! `EDLFORGE_REQUIRE_ORACLES` (CI) sets `require_oracles`, which turns on a test that fails
//! while a tool is missing, and makes this script warn at build time. After installing a tool
//! by hand, `touch build.rs`.

use std::path::{Path, PathBuf};

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

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["EDLFORGE_PG_BIN", "EDLFORGE_REQUIRE_ORACLES"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    for cfg in ["has_postgres", "require_oracles"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    let require = std::env::var_os("EDLFORGE_REQUIRE_ORACLES").is_some();
    if require {
        println!("cargo::rustc-cfg=require_oracles");
    }
    let tools = [(
        "has_postgres",
        postgres_bin().is_some(),
        "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN",
    )];
    for (cfg, found, missing) in tools {
        if found {
            println!("cargo::rustc-cfg={cfg}");
        } else if require {
            println!("cargo::warning={missing} (EDLFORGE_REQUIRE_ORACLES is set: the tests fail)");
        }
    }
}
