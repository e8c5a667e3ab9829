//! `marquee`: migrations, the fake TMDB, ingests, a local server and benchmarks. The
//! subcommands are in `marquee_cli::cli`, what they do in `marquee_cli::commands`.

use std::process::ExitCode;

use clap::Parser;
use marquee_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(marquee_cli::commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}`: the error with its causes, on one line.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
