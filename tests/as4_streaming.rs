//! Large AS4 messages stream: a 64 MB payload is packed from a reader to a file and unpacked from that file
//! with the process's peak memory growing by far less than the payload (attachments spool to disk). One test
//! in its own binary, so the peak belongs to it alone.

mod common;

use std::io::{Read, Seek, SeekFrom};

use common::as4::{message, net, signer};
use sdk_relay::as4::pack::{self, ReceivePolicy};
use sdk_relay::pki::{Checker, RevocationPolicy};

/// Incompressible content (base64 alphabet from xorshift), generated as it is read: never all in memory.
struct Generated {
    left: u64,
    state: u64,
    digest: aws_lc_rs::digest::Context,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = ALPHABET[(self.state >> 58) as usize];
        }
        self.digest.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

fn peak_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_64_mb_payload_packs_and_unpacks_without_holding_it_in_memory() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let n = net();
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("message.body");
    let baseline = peak_kb();

    let mut source = Generated {
        left: SIZE,
        state: 0x2545_F491_4F6C_DD1D,
        digest: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
    };
    let mut body = std::io::BufWriter::new(std::fs::File::create(&body_path).unwrap());
    let mut sources: Vec<&mut dyn Read> = vec![&mut source];
    let packed = pack::pack_to(
        &message(1),
        &mut sources,
        &signer(&n.sender),
        &n.receiver.cert,
        &mut body,
        1024 * 1024,
    )
    .expect("pack");
    drop(body);
    let sent_digest = source.digest.finish();
    assert!(std::fs::metadata(&body_path).unwrap().len() > SIZE / 2);

    let checker = Checker::new(&n.trust, RevocationPolicy::default());
    let policy = ReceivePolicy::new(&checker, &n.env);
    let mut file = std::io::BufReader::new(std::fs::File::open(&body_path).unwrap());
    let mut received = pack::unpack_from(
        &packed.content_type,
        &mut file,
        &policy,
        &n.receiver.payload_key(),
    )
    .expect("unpack");
    let (_, spool) = &mut received.payloads[0];
    assert_eq!(spool.len(), SIZE);
    assert!(
        spool.spilled(),
        "a 64 MB payload must be on disk, not in memory"
    );
    let mut check = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut reader = spool.reader().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = reader.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        check.update(&buf[..k]);
    }
    assert_eq!(
        check.finish().as_ref(),
        sent_digest.as_ref(),
        "the payload arrives intact"
    );
    drop(reader);
    let _ = file.seek(SeekFrom::Start(0));

    let grown_mb = (peak_kb().saturating_sub(baseline)) / 1024;
    assert!(
        grown_mb < 24,
        "peak memory grew by {grown_mb} MB for a 64 MB payload"
    );
}
