use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(why) = keep_keys_out_of_core_dumps() {
        eprintln!(
            "sdk-relay: {why}; not running with private keys a core dump could write to disk"
        );
        return ExitCode::from(sdk_relay::cli::exit::USAGE_OR_IO);
    }
    sdk_relay::cli::run()
}

/// Most commands load private keys (the AP, TLS and O2O keys, the audit checkpoint key), and a core dump writes
/// all of a process's memory to disk, where whoever reads crash dumps gets them. So before any command runs:
///
/// - the process is marked non-dumpable: with `fs.suid_dumpable = 0` (the default) the kernel writes no core
///   for it, piped to a crash collector or not, and other processes of the same user can no longer ptrace it or
///   read its `/proc/PID/mem` and `environ`;
/// - its soft core limit is set to 0, which also stops a file core where `fs.suid_dumpable = 2` dumps even
///   non-dumpable processes (a collector behind a `|` core pattern is told the limit and decides).
///
/// The flag does not survive `exec`, so every `sdk-relay` process (the nodes `demo` and `bench` start too) sets
/// it for itself here; the core limit is inherited by what it starts. Swap is not covered (locking all memory would break under the default 8 MB
/// `RLIMIT_MEMLOCK` with messages of 100 MB); hosts should use encrypted swap or none.
#[cfg(target_os = "linux")]
fn keep_keys_out_of_core_dumps() -> Result<(), String> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit};
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| format!("cannot mark the process non-dumpable (PR_SET_DUMPABLE): {e}"))?;
    let core = rustix::process::getrlimit(Resource::Core);
    rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: core.maximum,
        },
    )
    .map_err(|e| format!("cannot set the core file size limit to 0: {e}"))
}

#[cfg(not(target_os = "linux"))]
fn keep_keys_out_of_core_dumps() -> Result<(), String> {
    Ok(())
}
