//! `edlforge completions <shell>` and `edlforge man`.

use std::process::Command;

use super::run;
use crate::support::edlforge;

const SUBCOMMANDS: &[&str] = &[
    "convert",
    "compile",
    "plan",
    "check",
    "explain",
    "serve",
    "completions",
    "man",
];

#[test]
fn bash_completion_is_valid_bash_and_knows_the_subcommands() {
    let out = edlforge(&["completions", "bash"], None);
    assert!(out.status.success(), "{out:?}");
    let script = String::from_utf8(out.stdout).expect("UTF-8 script");
    for s in SUBCOMMANDS {
        assert!(script.contains(s), "no {s} in the bash completion");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("edlforge.bash");
    std::fs::write(&path, &script).expect("write script");
    // bash -n: the script parses; then sourcing it registers the completion function.
    let (ok, said) = run(Command::new("bash").arg("-n").arg(&path));
    assert!(ok, "bash -n:\n{said}");
    let (ok, said) = run(Command::new("bash")
        .arg("-c")
        .arg(format!(". '{}' && complete -p edlforge", path.display())));
    assert!(ok && said.contains("_edlforge"), "sourcing:\n{said}");
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = edlforge(&["completions", shell], None);
        assert!(
            out.status.success() && out.stdout.len() > 500,
            "{shell}: {out:?}"
        );
    }
    let out = edlforge(&["completions", "tcsh"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_page_prints_and_writes_one_page_per_subcommand() {
    let out = edlforge(&["man"], None);
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8(out.stdout).expect("UTF-8 roff");
    assert!(
        page.starts_with(".ie") || page.contains(".TH edlforge 1"),
        "{page}"
    );
    assert!(page.contains(".TH edlforge 1"));
    assert!(page.contains(".SH SYNOPSIS"));
    for s in SUBCOMMANDS {
        assert!(
            page.contains(&format!("edlforge\\-{s}(1)")),
            "no {s} in\n{page}"
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let man1 = dir.path().join("man1");
    let out = edlforge(&["man", "--dir", &man1.display().to_string()], None);
    assert!(out.status.success(), "{out:?}");
    let mut pages: Vec<String> = std::fs::read_dir(&man1)
        .expect("man1 written")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut want: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|s| format!("edlforge-{s}.1"))
        .chain(["edlforge.1".to_string()])
        .collect();
    want.sort();
    assert_eq!(pages, want);
    let serve = std::fs::read_to_string(man1.join("edlforge-serve.1")).expect("serve page");
    assert!(serve.contains("\\-\\-listen"), "{serve}");
}
