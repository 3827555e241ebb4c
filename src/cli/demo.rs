//! `sdk-relay demo`: two organisations exchange sealed messages over AS4 on this machine, in a test
//! federation made for the occasion, and the demo shows what happens as it happens.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::Value;

use super::exit;
use crate::lab::{Draft, Lab, LabNode, NodeSpec, attach};

/// Run two SDK nodes on this machine and exchange messages between them.
#[derive(clap::Args)]
#[command(after_help = "Example:
  sdk-relay demo
  sdk-relay demo --dir demo --keep

Creates a test federation (CAs, an SMP) and two nodes, Kommun A and Region B, each with two functional
addresses, starts them, and sends messages both ways: a text, a text with a PDF attachment, a reply, and one
to a functional address Region B does not have, which Region B rejects. It shows each message's status
as the sending node reports it, the receipts, one message's audit timeline and `audit verify` of both
nodes. Everything runs on loopback; nothing but this binary is needed.

Exit codes: 0 every message ended as expected and both audit logs verify, 1 something did not, 2 the demo
could not be set up.")]
pub struct Args {
    /// Where to create the federation and the nodes (an empty or new directory). By default a temporary
    /// directory, removed at the end unless --keep.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Leave the nodes and the SMP running at the end, and print how to send more and how to stop them.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: Args) -> ExitCode {
    super::finish(demo(args))
}

/// Where the demo lives: a directory of the user's, or a temporary one.
enum Place {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl Place {
    fn path(&self) -> &Path {
        match self {
            Place::Given(p) => p,
            Place::Temporary(t) => t.path(),
        }
    }
}

fn place(args: &Args) -> Result<Place> {
    match &args.dir {
        Some(dir) => {
            let used = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
            if used {
                bail!(
                    "{} is not empty: give a new or empty directory",
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
            Ok(Place::Given(std::path::absolute(dir)?))
        }
        None => Ok(Place::Temporary(
            tempfile::Builder::new()
                .prefix("sdk-relay-demo-")
                .tempdir()
                .context("creating a temporary directory")?,
        )),
    }
}

/// One message of the demo, as sent.
struct Sent {
    number: usize,
    from: usize,
    to: usize,
    from_function: String,
    to_function: String,
    label: String,
    id: String,
    file: Option<(String, Vec<u8>)>,
    /// The statuses seen so far at the sending node.
    seen: Vec<String>,
    expected: &'static str,
}

const FINAL: [&str; 3] = ["ACCEPTED", "REJECTED", "MESSAGE_EXCHANGE_ERROR"];

struct Demo {
    lab: Lab,
    nodes: [LabNode; 2],
    rt: tokio::runtime::Runtime,
    started: Instant,
    sent: Vec<Sent>,
}

fn demo(args: Args) -> Result<u8> {
    let place = place(&args)?;
    let dir = place.path().to_owned();
    let binary = std::env::current_exe().context("finding this program")?;
    let begun = Instant::now();
    println!(
        "sdk-relay demo: two organisations exchange sealed messages over AS4, on this machine"
    );
    println!("Working in {}\n", dir.display());
    let mut demo = setup(&dir, &binary)?;
    println!(
        "\nSending (each message is validated, signed and encrypted for the recipient organisation, then queued)"
    );
    demo.send_first_messages()?;
    println!(
        "\nProgress, as the sending node reports each status (seconds since the first message)"
    );
    demo.follow()?;
    let mut good = demo.status_paths();
    good &= demo.deliveries()?;
    println!("\nStopping both nodes (SIGTERM: they finish what is in progress, then exit)");
    for node in &mut demo.nodes {
        if !node.stop()? {
            println!(
                "  ✗ {} did not exit cleanly; see {}",
                node.label,
                node.log_path().display()
            );
            good = false;
        }
    }
    good &= demo.audit()?;
    if args.keep {
        demo.keep_running(&place)?;
    } else {
        explore(&demo, &place);
    }
    if let Place::Temporary(t) = place
        && args.keep
    {
        let _ = t.keep();
    }
    if good {
        println!(
            "\nDone in {:.1} s: every message ended as expected and both audit logs verify.",
            begun.elapsed().as_secs_f64()
        );
        Ok(exit::OK)
    } else {
        println!("\nSomething did not go as expected (marked ✗ above).");
        Ok(exit::FOUND_PROBLEMS)
    }
}

fn step<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let value = f()?;
    println!("  ✓ {what} ({:.1} s)", start.elapsed().as_secs_f64());
    Ok(value)
}

fn setup(dir: &Path, binary: &Path) -> Result<Demo> {
    let started = Instant::now();
    println!("Setting up");
    let lab = step(
        "test federation \"demo\": root and issuing CAs for access points, TLS, O2O and SMP; an SMP on loopback",
        || Ok(Lab::create(dir, binary, "demo")?),
    )?;
    let specs = [
        NodeSpec {
            name: "kommun-a",
            label: "Kommun A",
            ap_id: "AP0001-SDK-DEMO",
            org: "0203:kommun-a.example.se",
            functions: &["registrator", "socialtjanst"],
        },
        NodeSpec {
            name: "region-b",
            label: "Region B",
            ap_id: "AP0002-SDK-DEMO",
            org: "0203:region-b.example.se",
            functions: &["vard", "socialtjanst"],
        },
    ];
    let mut made = Vec::new();
    for spec in &specs {
        let what = format!(
            "{} ({}): keys (AP, TLS, O2O signing and encryption), functional addresses {}, registered in the SMP",
            spec.label,
            spec.org,
            spec.functions.join(" and ")
        );
        made.push(step(&what, || Ok(lab.node(spec, |_| {})?))?);
    }
    let [a, b]: [LabNode; 2] = made
        .try_into()
        .map_err(|_| anyhow::anyhow!("two nodes were expected"))?;
    let mut nodes = [a, b];
    for node in &mut nodes {
        let what = format!(
            "{} running: API {}  AS4 {}",
            node.label,
            node.api_url(),
            node.as4_url()
        );
        step(&what, || Ok(node.start()?))?;
    }
    println!("  set up in {:.1} s", started.elapsed().as_secs_f64());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    Ok(Demo {
        lab,
        nodes,
        rt,
        started: Instant::now(),
        sent: Vec::new(),
    })
}

/// A small but real PDF: one page with one line of text.
fn sample_pdf() -> Vec<u8> {
    let text = "BT /F1 18 Tf 72 770 Td (Vardplan for samordnad individuell plan) Tj ET";
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
         3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >> endobj\n\
         4 0 obj << /Length {} >> stream\n{text}\nendstream endobj\n\
         5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n\
         trailer << /Root 1 0 R >>\n%%EOF\n",
        text.len()
    )
    .into_bytes()
}

impl Demo {
    fn send_first_messages(&mut self) -> Result<()> {
        self.send(
            0,
            1,
            "registrator",
            "vard",
            "Kallelse till SIP-möte",
            None,
            None,
            "ACCEPTED",
        )?;
        let pdf = ("vardplan.pdf".to_owned(), sample_pdf());
        self.send(
            0,
            1,
            "socialtjanst",
            "socialtjanst",
            "Vårdplan",
            Some(pdf),
            None,
            "ACCEPTED",
        )?;
        self.send(
            0,
            1,
            "registrator",
            "ekonomi",
            "Faktura",
            None,
            None,
            "REJECTED",
        )?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        from: usize,
        to: usize,
        from_function: &str,
        to_function: &str,
        label: &str,
        file: Option<(String, Vec<u8>)>,
        reply_to: Option<&str>,
        expected: &'static str,
    ) -> Result<()> {
        let (sender, recipient) = (&self.nodes[from], &self.nodes[to]);
        let text = format!("{label}: från {} till {}.", sender.label, recipient.label);
        let mut body = Draft {
            from: sender,
            from_function,
            to: recipient,
            to_function,
            label,
            document_name: label,
            text: &text,
        }
        .json();
        if let Some((name, bytes)) = &file {
            attach(&mut body, name, "application/pdf", bytes);
        }
        if let Some(earlier) = reply_to {
            let conversation = self.conversation_of(from, earlier)?;
            let attributes = &mut body["data"]["attributes"];
            attributes["refToMessageId"] = earlier.into();
            attributes["conversationId"] = conversation.into();
        }
        let id = self
            .rt
            .block_on(sender.api().submit(serde_json::to_vec(&body)?))
            .with_context(|| format!("{} refused the message", sender.label))?;
        let number = self.sent.len() + 1;
        let attachment = file
            .as_ref()
            .map(|(name, bytes)| format!(" + {name} ({} bytes)", bytes.len()))
            .unwrap_or_default();
        let note = match (expected, reply_to) {
            ("REJECTED", _) => format!(
                "  ({} has no functional address {to_function:?})",
                recipient.label
            ),
            (_, Some(_)) => "  (a reply: same conversation, refToMessageId = #1)".to_owned(),
            _ => String::new(),
        };
        println!(
            "  #{number}  {}/{from_function} → {}/{to_function}  \"{label}\"{attachment}{note}",
            sender.label, recipient.label
        );
        println!("      201 Created, id {id}");
        self.sent.push(Sent {
            number,
            from,
            to,
            from_function: from_function.to_owned(),
            to_function: to_function.to_owned(),
            label: label.to_owned(),
            id,
            file,
            seen: Vec::new(),
            expected,
        });
        Ok(())
    }

    fn conversation_of(&self, node: usize, id: &str) -> Result<String> {
        let m = self.get(node, id)?;
        Ok(m["attributes"]["conversationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A message's JSON (`data`) at `node`.
    fn get(&self, node: usize, id: &str) -> Result<Value> {
        Ok(self.rt.block_on(self.nodes[node].api().message(id))?)
    }

    /// Prints each status as it appears at the sending node; Region B replies to #1 once it has it.
    fn follow(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(45);
        let mut replied = false;
        loop {
            let mut open = false;
            for i in 0..self.sent.len() {
                let m = self.get(self.sent[i].from, &self.sent[i].id)?;
                let history = history(&m);
                let s = &mut self.sent[i];
                for (status, why) in history.iter().skip(s.seen.len()) {
                    let why = if FINAL.contains(&status.as_str()) {
                        format!("  {why}")
                    } else {
                        String::new()
                    };
                    println!(
                        "  {:5.2}  #{}  {status}{why}",
                        self.started.elapsed().as_secs_f64(),
                        s.number
                    );
                    s.seen.push(status.clone());
                }
                open |= !s.seen.last().is_some_and(|st| FINAL.contains(&st.as_str()));
            }
            if !replied && self.get(1, &self.sent[0].id).is_ok() {
                replied = true;
                println!(
                    "  {:5.2}  Region B has #1 in its vard mailbox and replies:",
                    self.started.elapsed().as_secs_f64()
                );
                let first = self.sent[0].id.clone();
                self.send(
                    1,
                    0,
                    "vard",
                    "registrator",
                    "Svar: Kallelse till SIP-möte",
                    None,
                    Some(&first),
                    "ACCEPTED",
                )?;
                open = true;
            }
            if !open {
                return Ok(());
            }
            if Instant::now() > deadline {
                println!("  ✗ not every message reached a final status within 45 s");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Each message's path through the statuses, and its receipt; whether each ended as expected.
    fn status_paths(&self) -> bool {
        println!(
            "\nStatus paths and receipts (Meddelandekvittens, signed by the recipient organisation)"
        );
        let mut good = true;
        for s in &self.sent {
            let end = s.seen.last().map_or("(none)", String::as_str);
            let ok = end == s.expected;
            good &= ok;
            let unexpected = if ok {
                String::new()
            } else {
                format!("  (expected {})", s.expected)
            };
            println!(
                "  {} #{}  {}{unexpected}",
                mark(ok),
                s.number,
                s.seen.join(" → ")
            );
            if let Ok(m) = self.get(s.from, &s.id) {
                for (status, why) in history(&m) {
                    if status == "WAITING_FOR_RECEIPT" || FINAL.contains(&status.as_str()) {
                        println!("        {why}");
                    }
                }
            }
        }
        good
    }

    /// What the receiving node holds: the mailbox, the functional address, the attachment byte for byte.
    fn deliveries(&self) -> Result<bool> {
        println!(
            "\nAt the recipients (GET /v1/sdk/messages/{{id}} with the recipient's API client)"
        );
        let mut good = true;
        for s in &self.sent {
            let recipient = &self.nodes[s.to];
            let m = self.get(s.to, &s.id)?;
            let a = &m["attributes"];
            let status = a["messageStatus"].as_str().unwrap_or_default();
            let function = a["recipientAttention"]["subOrganization"]["extension"]
                .as_str()
                .unwrap_or_default();
            let mut line = format!(
                "#{}  {}/{}: {status}",
                s.number, recipient.label, s.to_function
            );
            let expected_status = if s.expected == "REJECTED" {
                "REJECTED"
            } else {
                "NEW"
            };
            let mut ok = status == expected_status && function == s.to_function;
            if let Some((name, bytes)) = &s.file {
                let got = attachment(a, name);
                let same = got.as_deref() == Some(bytes.as_slice());
                ok &= same;
                line += &format!(
                    ", {name} {} ({} bytes)",
                    if same { "byte-identical" } else { "DIFFERS" },
                    got.map_or(0, |g| g.len())
                );
            }
            let label = a["label"].as_str().unwrap_or_default();
            line += &format!(
                ", \"{label}\" from {}/{}",
                self.nodes[s.from].label, s.from_function
            );
            good &= ok && label == s.label;
            println!("  {} {line}", mark(ok));
        }
        Ok(good)
    }

    /// One message's audit timeline at both nodes, and `audit verify` of both logs.
    fn audit(&self) -> Result<bool> {
        let Some(s) = self.sent.get(1) else {
            return Ok(false);
        };
        for node in &self.nodes {
            println!(
                "\nAudit timeline of #{} at {}: sdk-relay --data-dir {} audit show {}",
                s.number,
                node.label,
                node.data.display(),
                s.id
            );
            print_indented(&self.lab.run(&node.data, &["audit", "show", &s.id])?);
        }
        println!("\nAudit logs (hash-chained, with signed checkpoints): audit verify");
        let mut good = true;
        for node in &self.nodes {
            let verdict = self.lab.run(&node.data, &["audit", "verify"]);
            let ok = verdict
                .as_ref()
                .is_ok_and(|v| v.starts_with("audit log verifies"));
            good &= ok;
            let text = verdict.unwrap_or_else(|e| e.to_string());
            println!("  {} {}: {}", mark(ok), node.label, text.trim());
        }
        Ok(good)
    }

    /// Restarts the nodes and leaves them, and the SMP, running after the demo exits.
    fn keep_running(&mut self, place: &Place) -> Result<()> {
        let mut pids = Vec::new();
        for node in &mut self.nodes {
            node.start()?;
            pids.extend(node.detach());
        }
        pids.extend(self.lab.detach());
        let a = &self.nodes[0];
        let ca = self.lab.tls_ca_file()?;
        let pdf = place.path().join("vardplan.pdf");
        std::fs::write(&pdf, sample_pdf()).context("writing vardplan.pdf")?;
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        println!("\nThe nodes keep running (--keep). Send more as Kommun A:");
        println!(
            "  export SDK_RELAY_API={} SDK_RELAY_TOKEN={} SDK_RELAY_CA={}",
            a.api_url(),
            a.token,
            ca.display()
        );
        println!(
            "  sdk-relay send --from {} --from-function registrator --to {} --function vard \\\n      --subject 'Hej' --text 'Ett till meddelande' --file {}",
            a.org,
            self.nodes[1].org,
            pdf.display()
        );
        println!("  sdk-relay messages list");
        println!("  sdk-relay queue list");
        println!(
            "Region B's API: {} with token {}",
            self.nodes[1].api_url(),
            self.nodes[1].token
        );
        println!("Logs: {}/*/node.log", place.path().display());
        println!(
            "Stop them (SIGTERM; the nodes finish what is in progress):\n  kill {}",
            pids.join(" ")
        );
        Ok(())
    }
}

/// (status, why) of each entry in a message's `events`.
fn history(m: &Value) -> Vec<(String, String)> {
    m["attributes"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    (
                        e["typeCode"].as_str().unwrap_or_default().to_owned(),
                        e["title"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The content of attachment `name` in a message's `digitalDocument`.
fn attachment(attributes: &Value, name: &str) -> Option<Vec<u8>> {
    let documents = attributes["digitalDocument"].as_array()?;
    let file = documents
        .iter()
        .filter_map(|d| d["contentFiles"].as_array())
        .flatten()
        .find(|f| f["fileName"] == name)?;
    base64::engine::general_purpose::STANDARD
        .decode(file["content"].as_str()?)
        .ok()
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("  {line}");
    }
}

fn explore(demo: &Demo, place: &Place) {
    let a = &demo.nodes[0];
    match place {
        Place::Given(dir) => {
            println!("\nExplore further (the files stay in {}):", dir.display());
            println!("  sdk-relay serve --config {}", a.config.display());
            println!("  sdk-relay --data-dir {} audit list", a.data.display());
            println!("  sdk-relay --data-dir {} certs list", a.data.display());
            println!(
                "  sdk-relay --data-dir {} addressbook list",
                a.data.display()
            );
            println!(
                "  sdk-relay demo --keep --dir <new dir>   (leaves two nodes running to send more)"
            );
        }
        Place::Temporary(_) => {
            println!("\nExplore further:");
            println!(
                "  sdk-relay demo --dir demo          keeps the federation, the nodes' files and logs in ./demo"
            );
            println!(
                "  sdk-relay demo --dir demo --keep   also leaves both nodes running, and shows how to send more"
            );
            println!("  sdk-relay --help                   every command, with examples");
        }
    }
}
