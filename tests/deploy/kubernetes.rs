//! `deploy/kubernetes/`: every manifest the kustomization lists passes `kubernetes-validate
//! --strict`, every manifest in the folder is listed, the Deployment has what the issue asks
//! for, and the ConfigMap's `feeds.toml` passes `edlforge check`.

use std::path::PathBuf;
use std::process::Command;

use super::{run, tool};
use crate::support::root;

/// `EDLFORGE_KUBERNETES_VALIDATE`, the venv `.ci/run` makes, or `PATH` (as `build.rs` looks for
/// it: callers are ignored unless `has_kubernetes_validate`).
pub(super) fn kubernetes_validate() -> PathBuf {
    if let Some(p) = std::env::var_os("EDLFORGE_KUBERNETES_VALIDATE") {
        return PathBuf::from(p);
    }
    let venv = root().join("target/kubernetes-validate-venv/bin/kubernetes-validate");
    if venv.is_file() {
        return venv;
    }
    tool("kubernetes-validate")
}

fn dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

/// The `resources:` of kustomization.yaml.
fn resources() -> Vec<String> {
    let k = std::fs::read_to_string(dir().join("kustomization.yaml")).expect("kustomization");
    let mut out = Vec::new();
    let mut inside = false;
    for line in k.lines() {
        if line.starts_with("resources:") {
            inside = true;
        } else if inside {
            match line.trim().strip_prefix("- ") {
                Some(r) if line.starts_with("  ") => out.push(r.trim().to_string()),
                _ => inside = false,
            }
        }
    }
    out
}

#[test]
fn manifests_are_all_in_the_kustomization_and_hardened() {
    let listed = resources();
    let mut present: Vec<String> = std::fs::read_dir(dir())
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    present.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted, present,
        "kustomization.yaml resources vs the folder"
    );

    let deployment =
        std::fs::read_to_string(dir().join("deployment.yaml")).expect("deployment.yaml");
    for want in [
        "replicas: 2",
        "path: /readyz",
        "path: /healthz",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "requests:\n              cpu:",
        "limits:\n              memory:",
        "emptyDir:",
        "secretName: edlforge-tls",
        "name: edlforge-credentials",
        "name: edlforge-config",
    ] {
        assert!(deployment.contains(want), "deployment.yaml lacks {want:?}");
    }
    let pdb = std::fs::read_to_string(dir().join("pdb.yaml")).expect("pdb.yaml");
    assert!(pdb.contains("kind: PodDisruptionBudget"));
}

#[test]
#[cfg_attr(
    not(has_kubernetes_validate),
    ignore = "kubernetes-validate not found: set EDLFORGE_KUBERNETES_VALIDATE or run .ci/run (target/kubernetes-validate-venv)"
)]
fn manifests_validate() {
    let listed = resources();
    let kv = kubernetes_validate();
    let (ok, said) = run(Command::new(&kv)
        .current_dir(dir())
        .arg("--strict")
        .args(&listed));
    assert!(ok, "kubernetes-validate:\n{said}");
    for r in &listed {
        assert!(
            said.lines()
                .any(|l| l.contains(&format!("{r} passed for resource"))),
            "{r} not validated:\n{said}"
        );
    }
    assert!(
        !said.contains("ERROR") && !said.contains("WARN"),
        "kubernetes-validate:\n{said}"
    );
}

/// The `feeds.toml` in the ConfigMap is a valid config (read with the PyYAML that comes with
/// kubernetes-validate, so the YAML block is read as Kubernetes reads it).
#[test]
#[cfg_attr(
    not(has_kubernetes_validate),
    ignore = "kubernetes-validate not found: set EDLFORGE_KUBERNETES_VALIDATE or run .ci/run (target/kubernetes-validate-venv)"
)]
fn configmap_feeds_toml_passes_check() {
    let kv = kubernetes_validate();
    let python = kv.with_file_name("python3");
    let python = if python.is_file() {
        python
    } else {
        PathBuf::from("python3")
    };
    let (ok, json) = run(Command::new(&python)
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))['data']))")
        .arg(dir().join("configmap.yaml")));
    assert!(ok, "read configmap.yaml:\n{json}");
    let data: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&json).expect("ConfigMap data as JSON");

    // The pod's paths, moved into a temporary directory: TLS files from a test certificate,
    // the emptyDir as data/, the ConfigMap's list items under lists/.
    let tmp = tempfile::tempdir().expect("temp dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    std::fs::create_dir_all(tmp.path().join("tls")).expect("mkdir tls");
    std::fs::create_dir_all(tmp.path().join("lists")).expect("mkdir lists");
    std::fs::write(tmp.path().join("tls/tls.crt"), cert.pem()).expect("write cert");
    std::fs::write(tmp.path().join("tls/tls.key"), key.serialize_pem()).expect("write key");
    let deployment =
        std::fs::read_to_string(dir().join("deployment.yaml")).expect("deployment.yaml");
    for (k, v) in &data {
        if k == "feeds.toml" {
            let t = tmp.path().display().to_string();
            let v = v
                .replace("/etc/edlforge-tls/", &format!("{t}/tls/"))
                .replace("/var/lib/edlforge", &format!("{t}/data"));
            std::fs::write(tmp.path().join("feeds.toml"), v).expect("write feeds.toml");
        } else {
            // Every other key is a list file the Deployment mounts under lists/.
            assert!(
                deployment.contains(&format!("- key: {k}\n                path: lists/{k}")),
                "ConfigMap key {k} is not mounted at lists/{k}"
            );
            std::fs::write(tmp.path().join("lists").join(k), v).expect("write list");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .args(["check", "--config"])
        .arg(tmp.path().join("feeds.toml"))
        .env("FW_HQ_PASSWORD", "0123456789abcdef")
        .output()
        .expect("edlforge check");
    assert!(
        out.status.success(),
        "edlforge check of the ConfigMap's feeds.toml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
