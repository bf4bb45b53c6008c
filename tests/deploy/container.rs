//! `deploy/container/`: `build-local.sh` builds the image with podman (FROM scratch, from the
//! binary cargo built for these tests: a debug build, so the test takes seconds, where the
//! script's default is a release build), and the image's filesystem runs `edlforge serve` under
//! `chroot` as the image's user until `/healthz` answers 200. `podman run` cannot start
//! containers in this sandbox (crun cannot set rlimits), hence `podman create` + `podman export`
//! and chroot. Podman keeps its storage in the test's temporary directory (vfs driver), so the
//! test touches no image store of the machine.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{run, tool, Serve, SETTLE};
use crate::support::root;

/// The `Dockerfile` and the scratch build give the same runtime: user, volume, port,
/// entrypoint and command.
#[test]
fn dockerfile_and_scratch_image_agree_on_the_runtime() {
    let read = |f: &str| {
        std::fs::read_to_string(root().join("deploy/container").join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
    };
    let docker = read("Dockerfile");
    let scratch = read("Containerfile.scratch");
    assert!(
        docker.matches("\nFROM ").count() >= 2,
        "Dockerfile is multi-stage"
    );
    assert!(docker.contains("HEALTHCHECK ") && docker.contains("/healthz"));
    for key in [
        "USER ",
        "VOLUME ",
        "EXPOSE ",
        "ENTRYPOINT ",
        "CMD [",
        "STOPSIGNAL ",
    ] {
        let line = |text: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .unwrap_or_else(|| panic!("no {key}line"))
                .to_string()
        };
        assert_eq!(line(&docker), line(&scratch), "{key}differs");
    }
}

/// Runs podman with this test's own storage.
fn podman(storage: &Path) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_STORAGE_CONF", storage);
    c
}

/// chroot and files owned by the image's user need root (`can_chroot`, from `build.rs`).
#[test]
#[cfg_attr(not(has_podman), ignore = "podman not found: apt-get install podman")]
#[cfg_attr(
    all(has_podman, not(can_chroot)),
    ignore = "not root (or chroot not found): the container test starts the image under chroot"
)]
fn local_image_serves_healthz_as_its_user() {
    let (_, id) = run(Command::new("id").arg("-u"));
    assert_eq!(
        id.trim(),
        "0",
        "build.rs saw root, the test runs as uid {id}"
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let storage = tmp.path().join("storage.conf");
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/run\"\ngraphroot = \"{0}/graph\"\n",
            tmp.path().display()
        ),
    )
    .expect("write storage.conf");
    let tag = "localhost/edlforge-test:deploy";

    // Build.
    let (ok, said) = run(Command::new(root().join("deploy/container/build-local.sh"))
        .env("CONTAINERS_STORAGE_CONF", &storage)
        .arg(tag)
        .arg(env!("CARGO_BIN_EXE_edlforge")));
    assert!(ok, "build-local.sh:\n{said}");
    let (ok, conf) = run(podman(&storage).args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Volumes}} {{json .Config.ExposedPorts}} {{json .Config.Entrypoint}}",
        tag,
    ]));
    assert!(ok, "podman image inspect:\n{conf}");
    assert!(
        conf.starts_with("10001:10001 ")
            && conf.contains("\"/var/lib/edlforge\"")
            && conf.contains("\"8443/tcp\"")
            && conf.contains("[\"/usr/local/bin/edlforge\"]"),
        "image config: {conf}"
    );

    // Export the image's filesystem.
    let (ok, said) = run(podman(&storage).args(["create", "--name", "edlforge-test-deploy", tag]));
    assert!(ok, "podman create:\n{said}");
    let tar = tmp.path().join("rootfs.tar");
    let (ok, said) = run(podman(&storage)
        .args(["export", "-o"])
        .arg(&tar)
        .arg("edlforge-test-deploy"));
    assert!(ok, "podman export:\n{said}");
    let _ = run(podman(&storage).args(["rm", "edlforge-test-deploy"]));
    let _ = run(podman(&storage).args(["rmi", tag]));
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir rootfs");
    let (ok, said) = run(Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("--same-owner")
        .arg("-C")
        .arg(&rootfs));
    assert!(ok, "tar -x:\n{said}");

    // Only what the image promises: the binary, its libraries, CA certificates, the user.
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("image /etc/passwd");
    let user = passwd
        .lines()
        .find(|l| l.starts_with("edlforge:"))
        .unwrap_or_else(|| panic!("no edlforge user in\n{passwd}"));
    let ids: Vec<&str> = user.split(':').collect();
    assert_eq!((ids[2], ids[3]), ("10001", "10001"), "{user}");
    assert!(
        std::fs::metadata(rootfs.join("etc/ssl/certs/ca-certificates.crt"))
            .is_ok_and(|m| m.len() > 10_000),
        "CA certificates in the image"
    );
    assert!(
        !rootfs.join("bin/sh").exists(),
        "a scratch image holds no shell"
    );

    // What an operator mounts: feeds.toml and lists/ in /etc/edlforge.
    std::fs::write(
        rootfs.join("etc/edlforge/lists/block.txt"),
        "81.2.69.0/25\n81.2.69.128/25\n",
    )
    .expect("write block.txt");
    std::fs::write(
        rootfs.join("etc/edlforge/feeds.toml"),
        "[store]\ndata_dir = \"/var/lib/edlforge\"\n\n\
         [[source]]\nname = \"block\"\npath = \"lists/block.txt\"\n\n\
         [[list]]\nname = \"pa\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\n",
    )
    .expect("write feeds.toml");

    // Serve from the image's filesystem, as its user, on loopback; TLS auto (the local CA).
    let mut cmd = Command::new(tool("chroot"));
    cmd.arg("--userspec=10001:10001")
        .arg(&rootfs)
        .args([
            "/usr/local/bin/edlforge",
            "serve",
            "--config",
            "/etc/edlforge/feeds.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_clear()
        .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt");
    let srv = Serve::spawn(cmd);
    assert!(srv.base.starts_with("https://"), "{}", srv.base);

    // The local CA was written by the image's user into the volume; trust it the way a
    // firewall's certificate profile does (it imports ca.pem).
    let cert_pem = std::fs::read_to_string(rootfs.join("var/lib/edlforge/tls/ca.pem"))
        .unwrap_or_else(|e| panic!("local CA in the volume: {e}\n{}", srv.log()));
    {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(rootfs.join("var/lib/edlforge/tls/ca.pem"))
            .expect("stat the CA certificate");
        assert_eq!(m.uid(), 10001, "written by the image's user");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        edlforge::source::http::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .tls_certs_only([
                reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("certificate PEM")
            ])
            .build()
            .expect("client");
        let t = Instant::now();
        loop {
            let r = client.get(format!("{}/healthz", srv.base)).send().await;
            if let Ok(r) = &r {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                t.elapsed() < SETTLE,
                "/healthz: {r:?}\nserver log:\n{}",
                srv.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // And it serves the list from the mounted lists/.
        let t = Instant::now();
        loop {
            let r = client
                .get(format!("{}/lists/pa", srv.base))
                .send()
                .await
                .expect("GET /lists/pa");
            if r.status() == 200 {
                assert_eq!(r.text().await.expect("body"), "81.2.69.0/24\n");
                break;
            }
            assert!(t.elapsed() < SETTLE, "/lists/pa: {}", r.status());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    drop(srv);
}
