//! Helpers shared by the integration tests.

pub mod fixture;
pub mod postgres;
pub mod proxy;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// Runs the edlforge binary with `args`, feeding `stdin` when given.
pub fn edlforge(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edlforge"));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("edlforge binary runs");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    child.wait_with_output().expect("edlforge finishes")
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Runs the subcommand `args[0]` with `--config dir/feeds.toml` and the rest of `args`:
/// (exit code, stdout, stderr).
pub fn run_config(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let cfg = dir.join("feeds.toml");
    let mut all = vec![args[0], "--config", cfg.to_str().unwrap()];
    all.extend_from_slice(&args[1..]);
    let out = edlforge(&all, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compares `got` with the golden file at `path`, printing both on mismatch. With
/// `EDLFORGE_BLESS=1` the golden file is rewritten instead.
pub fn golden(path: &Path, got: &str) {
    if std::env::var_os("EDLFORGE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("fixture has a parent")).expect("mkdir");
        std::fs::write(path, got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with EDLFORGE_BLESS=1 to create)",
            path.display()
        )
    });
    if want != got {
        panic!(
            "golden mismatch for {}\n---- expected ----\n{want}\n---- got ----\n{got}\n---- end ----",
            path.display()
        );
    }
}

/// `../shared/real-feeds`, when present.
pub fn real_feeds() -> Option<PathBuf> {
    let p = root().join("../shared/real-feeds");
    p.is_dir().then_some(p)
}
