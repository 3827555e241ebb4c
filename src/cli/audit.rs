//! `sdk-relay audit`: the delivery log for auditors — verify it, list and show events, export them, and record
//! an operator's own event.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::audit_source::{Source, signer};
use super::exit;
use crate::audit::{ActorKind, AuditLog, Event, Options, Record};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay audit verify
  sdk-relay audit show 6f1c2b9e-0b7a-4f3e-9d52-1a2b3c4d5e6f
  sdk-relay audit list --org 0203:goteborg.se --since 2026-11-01T00:00:00Z --json
  sdk-relay audit export --format csv > audit.csv

Exit codes: 0 done / the log verifies, 1 the log does not verify (the first bad record is named) or
nothing matched, 2 usage or I/O error.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The tamper-evident audit log.
#[derive(clap::Subcommand)]
enum Command {
    /// Check every hash and checkpoint signature; name the first bad record.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Events matching the filters, oldest first.
    List {
        #[command(flatten)]
        filter: Filter,
        #[arg(long)]
        json: bool,
    },
    /// The whole timeline of one message, in order.
    Show { message_id: String },
    /// Events matching the filters as CSV (UTF-8 with BOM, for spreadsheets) or JSON.
    Export {
        #[command(flatten)]
        filter: Filter,
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
    },
    /// Remove whole segments older than a date; the rest keeps verifying from a signed anchor.
    Prune {
        /// RFC 3339: segments whose every record is older are removed.
        #[arg(long)]
        before: String,
    },
    /// The last records; with -f, keep printing new ones as they are appended.
    Tail {
        #[arg(short = 'n', default_value_t = 10)]
        lines: usize,
        #[arg(short, long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Record an operator's event (also a load generator with --repeat).
    Append {
        #[arg(long)]
        kind: String,
        #[arg(long, default_value = "ok")]
        outcome: String,
        #[arg(long, default_value = "")]
        detail: String,
        #[arg(long)]
        message_id: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value_t = 1)]
        repeat: u64,
    },
}

#[derive(clap::Args, Default)]
struct Filter {
    #[arg(long)]
    message_id: Option<String>,
    #[arg(long)]
    conversation_id: Option<String>,
    #[arg(long)]
    org: Option<String>,
    #[arg(long)]
    peer_ap: Option<String>,
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    outcome: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
}

impl Filter {
    fn matches(&self, r: &Record) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        // The record's time is read only when a bound asks for it; an unreadable bound matches nothing.
        let in_range = || {
            if self.since.is_none() && self.until.is_none() {
                return true;
            }
            let Ok(t) = OffsetDateTime::parse(&r.time, &Rfc3339) else {
                return false;
            };
            let within = |bound: &Option<String>, later: bool| {
                bound.as_ref().is_none_or(|b| {
                    OffsetDateTime::parse(b, &Rfc3339)
                        .is_ok_and(|b| if later { t >= b } else { t <= b })
                })
            };
            within(&self.since, true) && within(&self.until, false)
        };
        eq(&self.message_id, &r.event.message_id)
            && eq(&self.conversation_id, &r.event.conversation_id)
            && eq(&self.org, &r.event.org)
            && eq(&self.peer_ap, &r.event.peer_ap)
            && self.kind.as_ref().is_none_or(|k| *k == r.event.kind)
            && self.outcome.as_ref().is_none_or(|o| *o == r.event.outcome)
            && in_range()
    }
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    super::finish(Source::open(data_dir).and_then(|src| match args.command {
        Command::Verify { json } => verify_cmd(&src, json),
        Command::List { filter, json } => list(&src, &filter, json),
        Command::Show { message_id } => show(&src, &message_id),
        Command::Export { filter, format } => export(&src, &filter, &format),
        Command::Prune { before } => prune(&src, &before),
        Command::Tail {
            lines,
            follow,
            json,
        } => tail(&src, lines, follow, json),
        Command::Append {
            kind,
            outcome,
            detail,
            message_id,
            org,
            repeat,
        } => append(
            src, data_dir, kind, outcome, detail, message_id, org, repeat,
        ),
    }))
}

/// Records an administrative change made by the CLI. The change is already made: a failure to record it is
/// reported loudly but does not undo it.
pub(super) fn record_admin(data_dir: &Path, kind: &str, arguments: &[String]) {
    let sink = Source::open(data_dir).and_then(|src| src.sink());
    let result = sink.and_then(|log| {
        Ok(log.append(Event {
            kind: kind.to_owned(),
            outcome: "ok".into(),
            actor_kind: Some(ActorKind::Administrator),
            actor: Some(std::env::var("USER").unwrap_or_else(|_| "administrator".into())),
            detail: format!("sdk-relay {}", arguments.join(" ")),
            ..Event::default()
        })?)
    });
    if let Err(e) = result {
        eprintln!("warning: the change was made but could not be written to the audit log: {e}");
    }
}

#[allow(clippy::too_many_arguments)]
fn append(
    src: Source<'_>,
    data_dir: &Path,
    kind: String,
    outcome: String,
    detail: String,
    message_id: Option<String>,
    org: Option<String>,
    repeat: u64,
) -> Result<u8> {
    let signer = signer(data_dir);
    if signer.is_none() {
        eprintln!(
            "note: no AP key in {}: records are chained but no checkpoint is signed",
            data_dir.display()
        );
    }
    let log = src.sink()?;
    let actor = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let mut last = 0;
    for _ in 0..repeat {
        last = log.append(Event {
            kind: kind.clone(),
            outcome: outcome.clone(),
            actor_kind: Some(ActorKind::Administrator),
            actor: Some(actor.clone()),
            message_id: message_id.clone(),
            org: org.clone(),
            detail: detail.clone(),
            ..Event::default()
        })?;
    }
    println!("appended up to record {last}");
    Ok(exit::OK)
}

// Without the postgres feature the match has one arm.
#[allow(clippy::infallible_destructuring_match)]
fn prune(src: &Source<'_>, before: &str) -> Result<u8> {
    let data_dir = match src {
        Source::Files(dir) => dir,
        #[cfg(feature = "postgres")]
        Source::Database(_) => anyhow::bail!(
            "prune removes segment files; pruning the audit chain in {} is not supported yet",
            src.describe()
        ),
    };
    let before = OffsetDateTime::parse(before, &Rfc3339).with_context(|| {
        format!("--before {before:?} is not an RFC 3339 time such as 2025-01-01T00:00:00Z")
    })?;
    let log = AuditLog::open(data_dir, Options::default(), signer(data_dir))?;
    let removed = log.prune(before)?;
    println!(
        "removed {removed} record(s) older than {before}; the rest verifies from a signed anchor"
    );
    Ok(exit::OK)
}

fn tail(src: &Source<'_>, lines: usize, follow: bool, json: bool) -> Result<u8> {
    let print = |r: &Record| {
        if json {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        } else {
            println!("{}", human(r));
        }
    };
    let mut last: std::collections::VecDeque<Record> =
        std::collections::VecDeque::with_capacity(lines + 1);
    src.records(|r| {
        last.push_back(r);
        if last.len() > lines {
            last.pop_front();
        }
        Ok(())
    })?;
    last.iter().for_each(print);
    let mut next = last.back().map_or(0, |r| r.seq + 1);
    if !follow {
        return Ok(exit::OK);
    }
    // Until interrupted.
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        for r in src.records_from(next)? {
            next = r.seq + 1;
            print(&r);
        }
        let _ = std::io::stdout().flush();
    }
}

fn verify_cmd(src: &Source<'_>, json: bool) -> Result<u8> {
    let report = src.verify()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match &report.problem {
            Some(p) => println!("audit log does NOT verify: {p}"),
            None => println!(
                "audit log verifies: {} records ({}–{}), {} checkpoints, anchored to record {}, {} record(s) after the last checkpoint{}",
                report.records,
                report.first_seq.map_or("-".into(), |s| s.to_string()),
                report.last_seq.map_or("-".into(), |s| s.to_string()),
                report.checkpoints,
                report.anchored_to.map_or("none".into(), |s| s.to_string()),
                report.unanchored,
                if report.incomplete_tail {
                    "; an incomplete last line (a crash mid-append) was ignored"
                } else {
                    ""
                }
            ),
        }
    }
    Ok(if report.problem.is_some() {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

/// Every record matching `filter`, oldest first: through the index when the filter names a message or
/// conversation, otherwise by reading the log (the auditor's view, not the index).
fn matching(
    src: &Source<'_>,
    filter: &Filter,
    mut each: impl FnMut(Record) -> Result<()>,
) -> Result<()> {
    if filter.message_id.is_some() || filter.conversation_id.is_some() {
        for r in src.records_of(
            filter.message_id.as_deref(),
            filter.conversation_id.as_deref(),
        )? {
            if filter.matches(&r) {
                each(r)?;
            }
        }
        return Ok(());
    }
    src.records(|r| if filter.matches(&r) { each(r) } else { Ok(()) })
}

fn list(src: &Source<'_>, filter: &Filter, json: bool) -> Result<u8> {
    let mut found = 0;
    let mut out = std::io::stdout().lock();
    matching(src, filter, |r| {
        found += 1;
        if json {
            writeln!(out, "{}", serde_json::to_string(&r)?)?;
        } else {
            writeln!(out, "{}", human(&r))?;
        }
        Ok(())
    })?;
    Ok(if found == 0 {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

fn human(r: &Record) -> String {
    let e = &r.event;
    let mut s = format!("#{} {} {} [{}]", r.seq, r.time, e.kind, e.outcome);
    for (label, value) in [
        ("message", &e.message_id),
        ("org", &e.org),
        ("from", &e.sender),
        ("to", &e.receiver),
        ("peer AP", &e.peer_ap),
        ("error", &e.error),
        ("by", &e.actor),
    ] {
        if let Some(v) = value {
            s.push_str(&format!(" {label}={v}"));
        }
    }
    if !e.detail.is_empty() {
        s.push_str(&format!(" — {}", e.detail));
    }
    s
}

fn show(src: &Source<'_>, message_id: &str) -> Result<u8> {
    let filter = Filter {
        message_id: Some(message_id.to_owned()),
        ..Filter::default()
    };
    let timeline: Vec<Record> = src
        .records_of(Some(message_id), None)?
        .into_iter()
        .filter(|r| filter.matches(r))
        .collect();
    if timeline.is_empty() {
        eprintln!("no events for message {message_id}");
        return Ok(exit::FOUND_PROBLEMS);
    }
    println!("message {message_id}: {} event(s)", timeline.len());
    for r in &timeline {
        println!("  {}", human(r));
    }
    Ok(exit::OK)
}

fn export(src: &Source<'_>, filter: &Filter, format: &str) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    if format == "json" {
        let mut all = Vec::new();
        matching(src, filter, |r| {
            all.push(r);
            Ok(())
        })?;
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(exit::OK);
    }
    // A BOM so spreadsheets read the UTF-8 (å, ä, ö) as UTF-8.
    out.write_all("\u{feff}".as_bytes())?;
    writeln!(
        out,
        "seq,time,kind,outcome,actor_kind,actor,message_id,conversation_id,org,sender,receiver,peer_ap,peer_certificate,receipt_signature,error,detail"
    )?;
    matching(src, filter, |r| {
        let e = &r.event;
        let actor_kind = e.actor_kind.as_ref().map(|k| {
            serde_json::to_string(k)
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned()
        });
        let fields = [
            Some(r.seq.to_string()),
            Some(r.time.clone()),
            Some(e.kind.clone()),
            Some(e.outcome.clone()),
            actor_kind,
            e.actor.clone(),
            e.message_id.clone(),
            e.conversation_id.clone(),
            e.org.clone(),
            e.sender.clone(),
            e.receiver.clone(),
            e.peer_ap.clone(),
            e.peer_certificate.clone(),
            e.receipt_signature.clone(),
            e.error.clone(),
            Some(e.detail.clone()),
        ];
        let row: Vec<String> = fields
            .iter()
            .map(|f| csv_field(f.as_deref().unwrap_or("")))
            .collect();
        writeln!(out, "{}", row.join(","))?;
        Ok(())
    })?;
    Ok(exit::OK)
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}
