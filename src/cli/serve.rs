//! `edlforge serve`: the long-running server (see `pipeline::daemon`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::pipeline::daemon::{self, DaemonError, Options};

use super::out::errln;
use super::CliError;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, default_value = "feeds.toml")]
    pub config: PathBuf,
    /// Listen here instead of `[server] listen` (repeatable), e.g. `127.0.0.1:8443`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Keep the store here instead of `[store] data_dir` (relative to the working directory),
    /// so several replicas on one machine can share one feeds.toml.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs the server until SIGTERM/SIGINT.
pub fn run(args: Args) -> Result<(), CliError> {
    // Logs go to stderr; RUST_LOG overrides the default level (info).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr's reader has gone: `serve 2>&1 | head`,
        // a log shipper that died) is dropped; reporting it with `eprintln!`, the default,
        // would panic and take the server down.
        .log_internal_errors(false)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let opts = Options {
        config: args.config.clone(),
        listen: args.listen,
        data_dir: args.data_dir,
    };
    match rt.block_on(daemon::run(opts, std::future::pending())) {
        Ok(()) => Ok(()),
        Err(DaemonError::Invalid { path, errors }) => {
            for e in &errors {
                errln!("{e}");
            }
            Err(CliError::Exit(
                1,
                format!(
                    "{} error(s) in {}; not starting",
                    errors.len(),
                    path.display()
                ),
            ))
        }
        Err(e) => Err(CliError::Failed(anyhow::Error::from(e))),
    }
}
