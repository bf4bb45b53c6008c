//! A throwaway PostgreSQL cluster for the tests: `initdb` in a temp dir, `-A trust` on
//! 127.0.0.1, a free port, the socket in the temp dir; stopped and removed on drop.
//!
//! The server binaries are found through `EDLFORGE_PG_BIN` (a folder holding `initdb`,
//! `pg_ctl`, `postgres`), else the newest `/usr/lib/postgresql/<major>/bin` (Debian's layout;
//! `.ci/run` installs Debian `postgresql` when none is there): the same search as `build.rs`,
//! whose `has_postgres` marks the tests that use this as ignored when they are missing.
//!
//! `initdb` and `postgres` refuse to run as root: as root, the cluster runs as the `postgres`
//! user (through `runuser`), in a temp dir handed to that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running PostgreSQL cluster, stopped (immediate mode) and deleted on drop.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

/// The folder of the PostgreSQL server binaries, as `build.rs` found it (`EDLFORGE_PG_BIN` or
/// the newest `/usr/lib/postgresql/<major>/bin`), if any.
pub fn pg_bin() -> Option<PathBuf> {
    option_env!("EDLFORGE_PG_BIN_FOUND").map(PathBuf::from)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released). Another process
/// may take it before the server binds it: [`Cluster::start`] then retries on a new one.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

impl Cluster {
    /// Makes and starts a cluster. Tests calling it carry
    /// `#[cfg_attr(not(has_postgres), ignore = "…")]`, so the binaries are there.
    pub fn start() -> Cluster {
        let bin = pg_bin().expect(
            "PostgreSQL server binaries (build.rs found them; touch build.rs if they were removed)",
        );
        let as_postgres = is_root();
        // As root, in /tmp: the `postgres` user must reach it (a TMPDIR under /root is not
        // reachable for it).
        let mut builder = tempfile::Builder::new();
        builder.prefix("edlforge-pg-");
        let dir = if as_postgres {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .expect("temp dir");
        if as_postgres {
            // The temp dir is 0700 root; the server runs as `postgres`.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(ok.success(), "chown postgres {}", dir.path().display());
        }
        let mut c = Cluster {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        let data = c.data();
        let out = c.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(out.status.success(), "initdb failed:\n{}", text(&out));
        // A port found free may be taken before the server binds it: try a few.
        for attempt in 0..5 {
            c.port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off -c max_connections=60",
                c.port,
                path_str(c.dir.path())
            );
            let log = c.dir.path().join("server.log");
            let out = c.run(
                "pg_ctl",
                &[
                    "start",
                    "-w",
                    "-t",
                    "120",
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &opts,
                ],
            );
            if out.status.success() {
                return c;
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if attempt == 4 || !log_text.contains("could not bind") {
                panic!("pg_ctl start failed:\n{}\n{log_text}", text(&out));
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a server binary (as `postgres` when we are root).
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    /// A URL for database `db` (as the `postgres` superuser, over TCP on 127.0.0.1).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Creates an empty database `db` and returns its URL.
    pub fn create_db(&self, db: &str) -> String {
        let out = self.psql("postgres", &format!("CREATE DATABASE \"{db}\""));
        assert!(out.status.success(), "createdb {db}:\n{}", text(&out));
        self.url(db)
    }

    /// The `psql` client (beside the server binaries, else on `/usr/bin`).
    pub fn psql_path(&self) -> PathBuf {
        [self.bin.join("psql"), PathBuf::from("/usr/bin/psql")]
            .into_iter()
            .find(|p| p.is_file())
            .expect("psql is installed beside the server")
    }

    /// The folder of the server's Unix socket (`psql -h`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs one SQL command with `psql` (over the socket in the temp dir) and returns its
    /// output, unaligned and without headers.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        Command::new(self.psql_path())
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("psql runs")
    }

    /// `psql` that must succeed; its trimmed output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = self.psql(db, sql);
        assert!(out.status.success(), "psql {sql:?}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server (fast mode) and waits, keeping the data: [`Cluster::restart`] brings it
    /// back on the same port.
    pub fn stop(&self) {
        let data = self.data();
        let out = self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "-D",
                path_str(&data),
            ],
        );
        assert!(out.status.success(), "pg_ctl stop:\n{}", text(&out));
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off -c max_connections=60",
            self.port,
            path_str(self.dir.path())
        );
        let out = self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "120",
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &opts,
            ],
        );
        assert!(out.status.success(), "pg_ctl start:\n{}", text(&out));
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        // Immediate: nothing here needs a clean shutdown, and the temp dir goes next.
        let _ = self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-t",
                "30",
                "-m",
                "immediate",
                "-D",
                path_str(&data),
            ],
        );
        // The TempDir then removes the folder (root can, whoever owns the files).
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
