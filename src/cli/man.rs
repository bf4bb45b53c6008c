//! `edlforge man`: the manual page edlforge(1), generated from the command-line definition
//! (clap_mangen), printed or written with one page per subcommand.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::{out, Cli, CliError};

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:\n  \
    edlforge man --dir /usr/local/share/man/man1 && mandb\n  \
    edlforge man | man -l -")]
pub struct Args {
    /// Write edlforge.1 and one page per subcommand (edlforge-serve.1, …) into this directory
    /// instead of printing edlforge(1) to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints edlforge(1), or writes every page into `--dir`.
pub fn run(args: Args) -> Result<(), CliError> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .context("cannot render the manual page")?;
            out::bytes(&page).context("cannot write the manual page to stdout")?;
        }
    }
    Ok(())
}
