//! `deploy/compose.yaml` (documented, not run here: no container engine can start containers on
//! these machines): it parses as YAML, names the three services, every file it mounts exists,
//! and the edlforge config it carries passes `edlforge check`. Read with the PyYAML that
//! comes with kubernetes-validate.

use std::process::Command;

use super::run;
use crate::support::root;

#[test]
#[cfg_attr(
    not(has_kubernetes_validate),
    ignore = "kubernetes-validate not found: set EDLFORGE_KUBERNETES_VALIDATE or run .ci/run (target/kubernetes-validate-venv)"
)]
fn compose_file_parses_mounts_existing_files_and_carries_a_valid_config() {
    let kv = super::kubernetes::kubernetes_validate();
    let python = kv.with_file_name("python3");
    let python = if python.is_file() {
        python
    } else {
        std::path::PathBuf::from("python3")
    };
    let (ok, json) = run(Command::new(&python)
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(root().join("deploy/compose.yaml")));
    assert!(ok, "read compose.yaml:\n{json}");
    let c: serde_json::Value = serde_json::from_str(&json).expect("compose as JSON");
    for s in ["edlforge", "prometheus", "grafana"] {
        assert!(c["services"][s].is_object(), "no service {s}");
    }
    assert_eq!(
        c["services"]["edlforge"]["build"]["dockerfile"],
        "deploy/container/Dockerfile"
    );
    assert!(root().join("deploy/container/Dockerfile").is_file());

    // Every bind mount (relative to deploy/) exists.
    for svc in c["services"].as_object().expect("services").values() {
        for v in svc["volumes"].as_array().into_iter().flatten() {
            let v = v.as_str().expect("short volume syntax");
            let src = v.split(':').next().expect("source");
            if src.starts_with('.') {
                let p = root().join("deploy").join(src);
                assert!(p.exists(), "compose mounts {src}, which does not exist");
            }
        }
        for cf in svc["configs"].as_array().into_iter().flatten() {
            let name = cf["source"].as_str().expect("config source");
            assert!(
                c["configs"][name]["content"].is_string(),
                "config {name} is not defined inline"
            );
        }
    }
    let scrape = c["configs"]["prometheus-config"]["content"]
        .as_str()
        .expect("prometheus config");
    assert!(scrape.contains("job_name: edlforge"));

    // The inline feeds.toml, with the mounted lists/ beside it.
    let feeds = c["configs"]["edlforge-feeds"]["content"]
        .as_str()
        .expect("edlforge config");
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path().display().to_string();
    std::fs::write(
        tmp.path().join("feeds.toml"),
        feeds.replace("/var/lib/edlforge", &format!("{t}/data")),
    )
    .expect("write feeds.toml");
    std::fs::create_dir_all(tmp.path().join("lists")).expect("mkdir");
    for f in ["block.txt", "allow.txt"] {
        std::fs::copy(
            root().join("lists").join(f),
            tmp.path().join("lists").join(f),
        )
        .expect("copy the shipped lists");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .args(["check", "--config"])
        .arg(tmp.path().join("feeds.toml"))
        .output()
        .expect("edlforge check");
    assert!(
        out.status.success(),
        "edlforge check of compose.yaml's feeds.toml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
