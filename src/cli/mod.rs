//! The command line: argument parsing and printing only; the work lives in the library below.

mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes shared by every command.
pub mod exit {
    /// Everything checked was fine.
    pub const OK: u8 = 0;
    /// The command ran and found a problem (an invalid document, …).
    pub const FOUND_PROBLEMS: u8 = 1;
    /// Usage error, or a file could not be read.
    pub const USAGE_OR_IO: u8 = 2;
}

#[derive(Parser)]
#[command(
    name = "sdk-relay",
    version,
    about = "An SDK (Säker digital kommunikation) node: validates, signs and routes XHE envelopes over AS4",
    after_help = "Exit codes: 0 success, 1 the command found problems (e.g. invalid documents), 2 usage or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Validate(validate::Args),
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE_OR_IO
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Validate(args) => validate::run(args),
    }
}
