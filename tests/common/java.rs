//! The Java oracle for the Domibus dialect of WS-Security: `tests/java/Dialect.java`, on Debian's Santuario
//! (libxml-security-java) and WSS4J 1.6 (libwss4j-java). Compiled once per source version into
//! `target/java-dialect/<hash>/` (into a temporary directory first, then renamed, so parallel test processes
//! never see half a build), then run one JVM per command or per batch of commands.
//!
//! Without a JDK or the jars the tests fail, naming the packages: they cannot say anything without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const JAVA_DIR: &str = "/usr/share/java";
/// Santuario, WSS4J 1.6, and the logging they need (commons-logging for WSS4J, slf4j for Santuario, silenced).
const JARS: [&str; 5] = [
    "xmlsec.jar",
    "wss4j.jar",
    "commons-logging.jar",
    "slf4j-api.jar",
    "slf4j-nop.jar",
];
const INSTALL: &str = "apt-get install default-jdk-headless libxml-security-java libwss4j-java";

pub struct Dialect {
    classpath: String,
}

/// What one command printed and whether it succeeded (exit 0, or "ok" in a batch).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ok: bool,
    /// Standard output on success, the reason on failure (a batch joins lines with " | ").
    pub message: String,
}

fn missing(what: &str) -> ! {
    panic!(
        "the Domibus dialect tests need a JDK and Debian's Santuario and WSS4J jars: {what}. Install them with \
         `{INSTALL}`{}",
        if std::env::var_os("CI").is_some() {
            " — CI must provide them (.ci/run installs them)"
        } else {
            ""
        }
    )
}

fn tool_works(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// FNV-1a over the source and the classpath: a new source or other jars mean a new build directory.
fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The compiled helper, built on first use in this process.
pub fn dialect() -> &'static Dialect {
    static DIALECT: OnceLock<Dialect> = OnceLock::new();
    DIALECT.get_or_init(build)
}

fn build() -> Dialect {
    for tool in ["java", "javac"] {
        if !tool_works(tool) {
            missing(&format!("`{tool} -version` does not run"));
        }
    }
    let mut jars = Vec::new();
    for jar in JARS {
        let path = Path::new(JAVA_DIR).join(jar);
        if !path.is_file() {
            missing(&format!("{} is missing", path.display()));
        }
        jars.push(path.display().to_string());
    }
    let jar_classpath = jars.join(":");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/Dialect.java");
    let text = std::fs::read(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    // target/tmp is CARGO_TARGET_TMPDIR; the builds go beside it, in target/java-dialect.
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join("java-dialect");
    let classes = root.join(fingerprint(&[&text, jar_classpath.as_bytes()]));
    if !classes.join("Dialect.class").is_file() {
        std::fs::create_dir_all(&root).expect("create target/java-dialect");
        let scratch = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(&root)
            .expect("a build directory");
        let out = Command::new("javac")
            .args(["-nowarn", "-encoding", "UTF-8", "-cp", &jar_classpath, "-d"])
            .arg(scratch.path())
            .arg(&source)
            .output()
            .expect("run javac");
        assert!(
            out.status.success(),
            "javac {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let built = scratch.keep();
        // Another test process may have won the race: its build is as good as ours.
        if std::fs::rename(&built, &classes).is_err() {
            let _ = std::fs::remove_dir_all(&built);
            assert!(
                classes.join("Dialect.class").is_file(),
                "could not move the build into {}",
                classes.display()
            );
        }
    }
    Dialect {
        classpath: format!("{}:{jar_classpath}", classes.display()),
    }
}

impl Dialect {
    fn java(&self) -> Command {
        let mut c = Command::new("java");
        // Start-up dominates every run; the C1 compiler alone is enough for a few signatures.
        c.args([
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-cp",
            &self.classpath,
            "Dialect",
        ]);
        c
    }

    /// Runs one command in its own JVM.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Outcome {
        let out = self.java().args(args).output().expect("run java");
        let ok = out.status.success();
        assert!(
            ok || out.status.code() == Some(1),
            "the Java helper crashed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Outcome {
            ok,
            message: String::from_utf8_lossy(if ok { &out.stdout } else { &out.stderr })
                .into_owned(),
        }
    }

    /// Runs several commands in one JVM, in order; one outcome each.
    pub fn batch(&self, commands: &[Vec<String>]) -> Vec<Outcome> {
        let file = tempfile::NamedTempFile::new().expect("a batch file");
        let mut text = String::new();
        for c in commands {
            for a in c {
                assert!(
                    !a.contains(['\t', '\n', '\r']),
                    "batch arguments cannot hold tabs or newlines: {a:?}"
                );
            }
            text.push_str(&c.join("\t"));
            text.push('\n');
        }
        std::fs::write(file.path(), text).expect("write the batch file");
        let out = self
            .java()
            .arg("batch")
            .arg(file.path())
            .output()
            .expect("run java");
        assert!(
            out.status.success(),
            "the Java helper failed on the batch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let outcomes: Vec<Outcome> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| {
                let mut fields = l.splitn(3, '\t');
                let _index = fields.next();
                let status = fields.next().unwrap_or_default();
                Outcome {
                    ok: status == "ok",
                    message: fields.next().unwrap_or_default().to_owned(),
                }
            })
            .collect();
        assert_eq!(
            outcomes.len(),
            commands.len(),
            "one outcome per command: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        outcomes
    }
}

/// A command line for [`Dialect::batch`] from anything printable (paths included).
#[macro_export]
macro_rules! cmd {
    ($($arg:expr),* $(,)?) => {
        vec![$(::std::string::ToString::to_string(&::std::path::Path::new(&$arg).display())),*]
    };
}
