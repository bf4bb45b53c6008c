//! `edlforge completions <shell>`: a shell completion script, generated from the command-line
//! definition (clap_complete), so it always matches the binary it came from.

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::{out, Cli, CliError};

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:\n  \
    edlforge completions bash > /etc/bash_completion.d/edlforge\n  \
    edlforge completions zsh > \"${fpath[1]}/_edlforge\"\n  \
    edlforge completions fish > ~/.config/fish/completions/edlforge.fish")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script to stdout.
pub fn run(args: Args) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "edlforge", &mut script);
    out::bytes(&script).context("cannot write the completion script to stdout")?;
    Ok(())
}
