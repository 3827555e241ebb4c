//! The command line: argument parsing and printing only; the work lives in the library below.

mod addressbook;
mod api_client;
mod as4;
mod audit;
mod audit_source;
#[cfg(feature = "lab")]
mod bench;
mod certs;
mod clients;
mod config;
mod db;
#[cfg(feature = "lab")]
mod demo;
mod messages;
mod queue;
mod send;
mod serve;
mod smp;
mod trust;
mod validate;
mod xhe;

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
    /// The node's data directory: keys, trust, CRLs, the database (node.redb) and the audit log. Without
    /// it, ./sdk-relay-data is used if it exists; no command makes a data directory it was not given.
    #[arg(long, global = true, env = "SDK_RELAY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Validate(validate::Args),
    Certs(certs::Args),
    Trust(trust::Args),
    Crl(trust::CrlArgs),
    Xhe(xhe::Args),
    As4(as4::Args),
    Addressbook(addressbook::Args),
    Smp(smp::Args),
    Audit(audit::Args),
    Init(config::InitArgs),
    Config(config::ConfigArgs),
    Db(db::Args),
    Clients(clients::Args),
    Serve(serve::Args),
    Send(send::Args),
    Messages(messages::Args),
    Queue(queue::Args),
    #[cfg(feature = "lab")]
    Demo(demo::Args),
    #[cfg(feature = "lab")]
    Bench(bench::Args),
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
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    // Commands that keep state in the data directory need one that exists; xhe and as4 read keys there only
    // when no key file is named, and never write; the rest (validate, serve, demo, …) take none.
    let keeps_state = matches!(
        cli.command,
        Command::Certs(_)
            | Command::Trust(_)
            | Command::Crl(_)
            | Command::Addressbook(_)
            | Command::Smp(_)
            | Command::Audit(_)
            | Command::Db(_)
            | Command::Clients(_)
    );
    let data_dir = match (cli.data_dir, keeps_state) {
        (Some(dir), _) => dir,
        (None, false) => std::path::PathBuf::from(DEFAULT_DATA_DIR),
        (None, true) => match default_data_dir() {
            Ok(dir) => dir,
            Err(e) => return finish(Err(e)),
        },
    };
    let code = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Certs(args) => certs::run(args, &data_dir),
        Command::Trust(args) => trust::run(args, &data_dir),
        Command::Crl(args) => trust::run_crl(args, &data_dir),
        Command::Xhe(args) => xhe::run(args, &data_dir),
        Command::As4(args) => as4::run(args, &data_dir),
        Command::Addressbook(args) => addressbook::run(args, &data_dir),
        Command::Smp(args) => smp::run(args, &data_dir),
        Command::Audit(args) => audit::run(args, &data_dir),
        Command::Init(args) => config::init(args),
        Command::Config(args) => config::run(args),
        Command::Db(args) => db::run(args, &data_dir),
        Command::Clients(args) => clients::run(args, &data_dir),
        Command::Serve(args) => serve::run(args),
        Command::Send(args) => send::run(args),
        Command::Messages(args) => messages::run(args),
        Command::Queue(args) => queue::run(args),
        #[cfg(feature = "lab")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "lab")]
        Command::Bench(args) => bench::run(args),
    };
    if code == ExitCode::SUCCESS
        && let Some(kind) = admin_kind(&arguments)
    {
        audit::record_admin(&data_dir, &kind, &arguments);
    }
    code
}

const DEFAULT_DATA_DIR: &str = "sdk-relay-data";

/// ./sdk-relay-data when it exists. A command run in the wrong directory must not leave a fresh, empty data
/// directory behind (with a new audit log and keys nobody uses), so a missing one is an error naming the fix.
fn default_data_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(DEFAULT_DATA_DIR);
    if dir.is_dir() {
        return Ok(dir);
    }
    anyhow::bail!(
        "no data directory given: pass --data-dir DIR or set SDK_RELAY_DATA_DIR \
(./{DEFAULT_DATA_DIR}, the default, does not exist here; `sdk-relay init` makes a node directory)"
    )
}

/// The audit kind of an administrative change (`admin.certs.activate`, …), or `None` for commands that only
/// read. Taken from the command words as typed, before any option.
fn admin_kind(arguments: &[String]) -> Option<String> {
    let mut words = Vec::new();
    let mut skip_value = false;
    for a in arguments {
        if skip_value {
            skip_value = false;
            continue;
        }
        if a == "--data-dir" {
            skip_value = true;
            continue;
        }
        if a.starts_with("--data-dir=") {
            continue;
        }
        if a.starts_with('-') || words.len() == 3 {
            break;
        }
        words.push(a.as_str());
    }
    let changes = match words.as_slice() {
        [
            "certs",
            "issue" | "csr" | "import" | "activate" | "retire",
            ..,
        ] => 2,
        ["certs", "federation", "create" | "revoke"] => 3,
        ["trust", "import" | "remove", ..] => 2,
        ["crl", "import" | "update", ..] => 2,
        ["addressbook", "org" | "function", "add" | "remove"] => 3,
        ["smp", "publish" | "unpublish", ..] => 2,
        ["audit", "prune", ..] => 2,
        ["clients", "add" | "remove", ..] => 2,
        _ => return None,
    };
    Some(format!("admin.{}", words[..changes].join(".")))
}

/// The first line of a password file (PKCS#12 passwords are never taken on the command line).
fn read_password(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// The first certificate in a PEM or DER file (a peer's, a recipient's, a CA's).
fn read_cert(path: &std::path::Path) -> anyhow::Result<rustls_pki_types::CertificateDer<'static>> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    crate::pki::read_certificates(&bytes, &path.display().to_string())?
        .into_iter()
        .next()
        .with_context(|| format!("{}: no certificate", path.display()))
}

/// Prints a command's error (with its causes) and maps it to the exit code.
fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::USAGE_OR_IO)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::admin_kind;

    fn kind(line: &str) -> Option<String> {
        admin_kind(&line.split(' ').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn an_administrative_change_is_named_whatever_form_the_data_dir_option_takes() {
        for line in [
            "clients add --org 0203:a.se",
            "--data-dir d clients add --org 0203:a.se",
            "--data-dir=d clients add --org 0203:a.se",
        ] {
            assert_eq!(kind(line).as_deref(), Some("admin.clients.add"), "{line}");
        }
        assert_eq!(
            kind("--data-dir=d addressbook org remove 0203:a.se").as_deref(),
            Some("admin.addressbook.org.remove")
        );
        assert_eq!(kind("--data-dir=d clients list"), None);
        assert_eq!(kind("audit verify"), None);
    }
}
