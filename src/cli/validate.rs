use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::exit;
use crate::envelope::{self, DocumentError, Violation};
use crate::xml::{Limits, XmlError};

/// Check XHE envelopes, SDK messages (v3) and Meddelandekvittens exactly as DIGG does, plus the SDK rules.
///
/// The type is detected from the root element. An XHE carrying a plain SDK message or receipt is checked on
/// both layers. Every violation is listed as `rule-id  location  message`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay validate envelope.xml
  sdk-relay validate --json incoming/*.xml
  curl -s https://example.org/msg.xml | sdk-relay validate -

Exit codes: 0 all valid, 1 any invalid, 2 usage or I/O error (unreadable file, unknown document type, not XML).")]
pub struct Args {
    /// Files to check; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// One JSON object per file: {"file","doctype","valid","violations":[{"rule","location","message"}]}.
    #[arg(long)]
    json: bool,
    /// Largest accepted document, in bytes.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_BYTES, value_name = "BYTES")]
    max_bytes: usize,
    /// Deepest accepted element nesting.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_DEPTH, value_name = "LEVELS")]
    max_depth: u32,
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: &'a str,
    doctype: Option<&'static str>,
    valid: bool,
    violations: Vec<Violation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    let limits = Limits {
        max_bytes: args.max_bytes,
        max_depth: args.max_depth,
        ..Limits::default()
    };
    let mut worst = exit::OK;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.files {
        let name = path.to_string_lossy();
        let report = match read(path, &limits) {
            Err(e) => FileReport {
                file: &name,
                doctype: None,
                valid: false,
                violations: Vec::new(),
                error: Some(e),
            },
            Ok(bytes) => match envelope::check_bytes(&bytes, &limits) {
                Ok((doctype, violations)) => FileReport {
                    file: &name,
                    doctype: Some(doctype.name()),
                    valid: violations.is_empty(),
                    violations,
                    error: None,
                },
                Err(e) => FileReport {
                    file: &name,
                    doctype: None,
                    valid: false,
                    violations: Vec::new(),
                    error: Some(describe(&e)),
                },
            },
        };
        let code = match (&report.error, report.valid) {
            (Some(_), _) => exit::USAGE_OR_IO,
            (None, true) => exit::OK,
            (None, false) => exit::FOUND_PROBLEMS,
        };
        worst = worst.max(code);
        let written = if args.json {
            serde_json::to_string(&report)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else {
            print_text(&mut out, &report)
        };
        if written.is_err() {
            return ExitCode::from(exit::USAGE_OR_IO);
        }
    }
    ExitCode::from(worst)
}

fn read(path: &PathBuf, limits: &Limits) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    // Read one byte past the limit so an oversized input is refused without reading all of it.
    let cap = limits.max_bytes as u64 + 1;
    let result = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(cap).read_to_end(&mut bytes)
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // A file's size is known up front: refuse it without reading a byte.
        if let Ok(meta) = file.metadata()
            && meta.len() > limits.max_bytes as u64
        {
            return Err(format!(
                "input is {} bytes, over the limit of {} bytes (see --max-bytes)",
                meta.len(),
                limits.max_bytes
            ));
        }
        file.take(cap).read_to_end(&mut bytes)
    };
    result.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(bytes)
}

fn describe(e: &DocumentError) -> String {
    match e {
        DocumentError::Xml(XmlError::TooLarge { limit, .. }) => {
            format!("input is over the limit of {limit} bytes (see --max-bytes)")
        }
        other => other.to_string(),
    }
}

fn print_text(out: &mut impl Write, r: &FileReport<'_>) -> std::io::Result<()> {
    match (&r.error, r.doctype) {
        (Some(e), _) => writeln!(out, "{}: error: {e}", r.file),
        (None, Some(dt)) if r.valid => writeln!(out, "{}: {dt}: valid", r.file),
        (None, dt) => {
            writeln!(
                out,
                "{}: {}: invalid ({} violation{})",
                r.file,
                dt.unwrap_or("?"),
                r.violations.len(),
                if r.violations.len() == 1 { "" } else { "s" }
            )?;
            for v in &r.violations {
                writeln!(out, "  {v}")?;
            }
            Ok(())
        }
    }
}
