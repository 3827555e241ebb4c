//! AS4 pack (gzip → sign → encrypt → MIME) and unpack (MIME → verify → decrypt → digest → gunzip) of one XHE
//! payload at 10 KB, 1 MB and 100 MB (an attachment as incompressible as a real PDF) with RSA-3072 AP keys, beside the RSA private-key operations each needs
//! (pack: one signature; unpack: one OAEP decryption), measured in the same run. The peak resident memory of
//! the whole bench process is printed at the end (the 100 MB case dominates it).

mod support;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sdk_relay::as4::ebms::UserMessage;
use sdk_relay::as4::pack::{self, ReceivePolicy};
use sdk_relay::as4::wssec::ApSigner;
use sdk_relay::envelope::ids::TransportModel;
use sdk_relay::pki::{Checker, Purpose, RevocationPolicy, Role, truststore::Trust};
use sdk_relay::xmlsec::RsaPayloadKey;

fn bench(c: &mut Criterion) {
    let bench_fed = support::BenchFederation::new();
    let fed = &bench_fed.fed;
    let issue = |cn: &str| bench_fed.issue(Purpose::Ap, cn);
    let (k1, c1) = issue("AP0001-SDK-TEST");
    let (k2, c2) = issue("AP0002-SDK-TEST");
    let signer = ApSigner::new(&k1, c1).expect("signer");
    let receiver_key = RsaPayloadKey::new(&k2, c2.clone()).expect("key");
    let mut cas = Vec::new();
    for (role, file) in fed.trust_files() {
        if role == Role::Ap {
            cas.extend(
                sdk_relay::pki::read_certificates(&std::fs::read(file).expect("CA"), "ca")
                    .expect("CA"),
            );
        }
    }
    let env = fed.env().clone();
    let trust = Trust::ad_hoc(&env, Role::Ap, cas, &[]).expect("trust");
    let checker = Checker::new(
        &trust,
        RevocationPolicy {
            enabled: false,
            ..RevocationPolicy::default()
        },
    );

    // Streaming first, while the process peak still says something: 100 MB from a reader to a file and back.
    streaming(&signer, &c2, &checker, &env, &receiver_key);

    let mut group = c.benchmark_group("as4");
    for (name, size) in [
        ("10KB", 10 * 1024),
        ("1MB", 1024 * 1024),
        ("100MB", 100 * 1024 * 1024),
    ] {
        let xhe =
            support::envelope_with(size, TransportModel::BaseExtSigEnc, support::Filler::Random);
        let message = UserMessage::sdk(
            "AP0001-SDK-TEST",
            "AP0002-SDK-TEST",
            "doc",
            "0203:a.se",
            "0203:b.se",
            "c",
        );
        let packed = pack::pack(&message, &[xhe.as_bytes()], &signer, &c2).expect("pack");
        group.throughput(Throughput::Bytes(xhe.len() as u64));
        group.sample_size(if size > 10 * 1024 * 1024 { 10 } else { 30 });
        group.bench_function(format!("pack/{name}"), |b| {
            b.iter(|| {
                pack::pack(&message, &[black_box(xhe.as_bytes())], &signer, &c2)
                    .expect("pack")
                    .body
                    .len()
            })
        });
        group.bench_function(format!("unpack/{name}"), |b| {
            b.iter(|| {
                let policy = ReceivePolicy::new(&checker, &env);
                pack::unpack(
                    &packed.content_type,
                    black_box(&packed.body),
                    &policy,
                    &receiver_key,
                )
                .expect("unpack")
                .payloads
                .len()
            })
        });
    }
    group.finish();
    support::rsa_bound(c, &k1, &k2);
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        eprintln!(
            "as4 bench peak resident memory: {}",
            line.trim_start_matches("VmHWM:").trim()
        );
    }
}

/// Incompressible content generated as it is read.
struct Generated {
    left: u64,
    state: u64,
}

impl std::io::Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = ALPHABET[(self.state >> 58) as usize];
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One 100 MB message packed from a generator to a file and unpacked from it (spooling to disk), timed,
/// with the growth of the process's peak resident memory.
fn streaming(
    signer: &ApSigner,
    recipient: &rustls_pki_types::CertificateDer<'_>,
    checker: &Checker<'_>,
    env: &sdk_relay::pki::Env,
    key: &RsaPayloadKey,
) {
    const SIZE: u64 = 100 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("message.body");
    let baseline = peak_kb();
    let message = UserMessage::sdk(
        "AP0001-SDK-TEST",
        "AP0002-SDK-TEST",
        "doc",
        "0203:a.se",
        "0203:b.se",
        "c",
    );
    let started = std::time::Instant::now();
    let mut source = Generated {
        left: SIZE,
        state: 0x2545_F491_4F6C_DD1D,
    };
    let mut sources: Vec<&mut dyn std::io::Read> = vec![&mut source];
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
    let packed = pack::pack_to(
        &message,
        &mut sources,
        signer,
        recipient,
        &mut out,
        1024 * 1024,
    )
    .expect("pack");
    drop(out);
    let packed_in = started.elapsed();
    let started = std::time::Instant::now();
    let policy = ReceivePolicy::new(checker, env);
    let mut input = std::io::BufReader::new(std::fs::File::open(&path).expect("file"));
    let received =
        pack::unpack_from(&packed.content_type, &mut input, &policy, key).expect("unpack");
    let unpacked_in = started.elapsed();
    assert_eq!(received.payloads[0].1.len(), SIZE);
    let mb = SIZE as f64 / (1024.0 * 1024.0);
    eprintln!(
        "as4 streaming 100 MB: pack {:.0} ms ({:.0} MiB/s), unpack {:.0} ms ({:.0} MiB/s), peak memory grew {} MB",
        packed_in.as_secs_f64() * 1000.0,
        mb / packed_in.as_secs_f64(),
        unpacked_in.as_secs_f64() * 1000.0,
        mb / unpacked_in.as_secs_f64(),
        peak_kb().saturating_sub(baseline) / 1024
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
