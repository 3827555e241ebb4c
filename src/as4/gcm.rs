//! AES-GCM over streams, in the layout AS4 attachments use (IV ‖ ciphertext ‖ tag, 12-byte IV, 16-byte tag),
//! so a 100 MB attachment is encrypted and decrypted in fixed memory. aws-lc-rs offers GCM only one-shot;
//! this is GCM from its two halves (NIST SP 800-38D): aws-lc-rs AES-CTR for the keystream and RustCrypto's
//! GHASH for the tag. Its output is checked against aws-lc-rs's one-shot GCM in the tests.

use std::io::{self, Read, Write};

use aws_lc_rs::cipher::{
    AES_128, AES_256, EncryptionContext, StreamingEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use ghash::GHash;
use ghash::universal_hash::{KeyInit, UniversalHash};

pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
const CHUNK: usize = 64 * 1024;

/// Why a stream did not open.
#[derive(Debug, thiserror::Error)]
pub enum GcmError {
    #[error("the authentication tag does not match: the data was changed or the key is wrong")]
    Tag,
    #[error("too short to be IV ‖ ciphertext ‖ tag")]
    Short,
    #[error("AES key of {0} bytes (16 or 32 are supported)")]
    Key(usize),
    #[error("the AES-CTR keystream failed")]
    Keystream,
    #[error(transparent)]
    Io(#[from] io::Error),
}

struct Gcm {
    ctr: StreamingEncryptingKey,
    ghash: GHash,
    /// Ciphertext not yet hashed (GHASH takes whole blocks; the last one is padded).
    pending: Vec<u8>,
    /// E_K(J0), XORed onto the GHASH result to make the tag.
    mask: [u8; 16],
    length: u64,
    buffer: Vec<u8>,
}

fn unbound(key: &[u8]) -> Result<UnboundCipherKey, GcmError> {
    let algorithm = match key.len() {
        16 => &AES_128,
        32 => &AES_256,
        n => return Err(GcmError::Key(n)),
    };
    UnboundCipherKey::new(algorithm, key).map_err(|_| GcmError::Key(key.len()))
}

fn ctr_at(key: &[u8], counter: [u8; 16]) -> Result<StreamingEncryptingKey, GcmError> {
    StreamingEncryptingKey::less_safe_ctr(
        unbound(key)?,
        EncryptionContext::Iv128(FixedLength::from(counter)),
    )
    .map_err(|_| GcmError::Key(key.len()))
}

/// E_K(counter): the keystream of one block.
fn block(key: &[u8], counter: [u8; 16]) -> Result<[u8; 16], GcmError> {
    let mut ctr = ctr_at(key, counter)?;
    let mut out = [0u8; 32];
    let n = ctr
        .update(&[0u8; 16], &mut out)
        .map_err(|_| GcmError::Key(key.len()))?
        .written()
        .len();
    let mut result = [0u8; 16];
    result.copy_from_slice(&out[..16]);
    debug_assert_eq!(n, 16);
    Ok(result)
}

impl Gcm {
    fn new(key: &[u8], iv: &[u8; IV_LEN]) -> Result<Gcm, GcmError> {
        let h = block(key, [0u8; 16])?;
        let mut j0 = [0u8; 16];
        j0[..IV_LEN].copy_from_slice(iv);
        j0[15] = 1;
        let mask = block(key, j0)?;
        // Data blocks start at inc32(J0). AES-CTR here increments all 128 bits, GCM only the low 32: the two
        // agree for the first 2^32 − 2 blocks (64 GiB), far beyond any AS4 message.
        let mut first = j0;
        first[15] = 2;
        Ok(Gcm {
            ctr: ctr_at(key, first)?,
            ghash: GHash::new(&h.into()),
            pending: Vec::with_capacity(16),
            mask,
            length: 0,
            buffer: vec![0u8; CHUNK + 16],
        })
    }

    fn hash(&mut self, ciphertext: &[u8]) {
        self.length += ciphertext.len() as u64;
        let mut data = ciphertext;
        if !self.pending.is_empty() {
            let take = (16 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == 16 {
                self.ghash
                    .update(&[ghash::Block::clone_from_slice(&self.pending)]);
                self.pending.clear();
            }
        }
        let whole = data.len() / 16 * 16;
        for chunk in data[..whole].chunks_exact(16) {
            self.ghash.update(&[ghash::Block::clone_from_slice(chunk)]);
        }
        self.pending.extend_from_slice(&data[whole..]);
    }

    /// Runs `input` through the keystream into `self.buffer`, returning how many bytes were written: all of
    /// them, or an error. (Taking a failure as 0 bytes gave a valid tag over data that was never written.)
    fn keystream(&mut self, input: &[u8]) -> Result<usize, GcmError> {
        let written = self
            .ctr
            .update(input, &mut self.buffer)
            .map(|u| u.written().len())
            .map_err(|_| GcmError::Keystream)?;
        if written != input.len() {
            return Err(GcmError::Keystream);
        }
        Ok(written)
    }

    fn tag(mut self) -> [u8; TAG_LEN] {
        if !self.pending.is_empty() {
            self.ghash.update_padded(&self.pending);
        }
        let mut lengths = [0u8; 16];
        lengths[8..].copy_from_slice(&(self.length * 8).to_be_bytes());
        self.ghash.update(&[lengths.into()]);
        let s = self.ghash.finalize();
        let mut tag = [0u8; TAG_LEN];
        for (i, t) in tag.iter_mut().enumerate() {
            *t = s[i] ^ self.mask[i];
        }
        tag
    }
}

fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Encrypts `input` to `output` as IV ‖ ciphertext ‖ tag with a fresh random IV. Returns the bytes written.
pub fn seal(key: &[u8], input: &mut dyn Read, output: &mut dyn Write) -> Result<u64, GcmError> {
    let mut iv = [0u8; IV_LEN];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| GcmError::Io(io::Error::other("no randomness")))?;
    let mut gcm = Gcm::new(key, &iv)?;
    output.write_all(&iv)?;
    let mut chunk = vec![0u8; CHUNK];
    let mut written = IV_LEN as u64;
    loop {
        let n = read_full(input, &mut chunk)?;
        if n == 0 {
            break;
        }
        let out = gcm.keystream(&chunk[..n])?;
        let ciphertext = gcm.buffer[..out].to_vec();
        gcm.hash(&ciphertext);
        output.write_all(&ciphertext)?;
        written += out as u64;
    }
    output.write_all(&gcm.tag())?;
    Ok(written + TAG_LEN as u64)
}

/// Decrypts IV ‖ ciphertext ‖ tag from `input` into `output`. Plaintext is written before the tag is known:
/// on `Err`, whatever reached `output` must be discarded (callers write to a temporary file).
pub fn open(key: &[u8], input: &mut dyn Read, output: &mut dyn Write) -> Result<u64, GcmError> {
    let mut iv = [0u8; IV_LEN];
    if read_full(input, &mut iv)? < IV_LEN {
        return Err(GcmError::Short);
    }
    let mut gcm = Gcm::new(key, &iv)?;
    // The last TAG_LEN bytes are the tag: hold them back until the input ends.
    let mut held: Vec<u8> = Vec::with_capacity(CHUNK + TAG_LEN);
    let mut chunk = vec![0u8; CHUNK];
    let mut written = 0u64;
    loop {
        let n = read_full(input, &mut chunk)?;
        held.extend_from_slice(&chunk[..n]);
        if held.len() > TAG_LEN {
            let ready = held.len() - TAG_LEN;
            let ciphertext: Vec<u8> = held.drain(..ready).collect();
            gcm.hash(&ciphertext);
            let out = gcm.keystream(&ciphertext)?;
            output.write_all(&gcm.buffer[..out])?;
            written += out as u64;
        }
        if n < chunk.len() {
            break;
        }
    }
    if held.len() < TAG_LEN {
        return Err(GcmError::Short);
    }
    let expected = gcm.tag();
    aws_lc_rs::constant_time::verify_slices_are_equal(&expected, &held)
        .map_err(|_| GcmError::Tag)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    use super::*;

    fn one_shot_open(key: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let alg = if key.len() == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let k = LessSafeKey::new(UnboundKey::new(alg, key).ok()?);
        let nonce = Nonce::try_assume_unique_for_key(&sealed[..IV_LEN]).ok()?;
        let mut buf = sealed[IV_LEN..].to_vec();
        k.open_in_place(nonce, Aad::empty(), &mut buf)
            .ok()
            .map(|p| p.to_vec())
    }

    fn one_shot_seal(key: &[u8], iv: [u8; 12], plain: &[u8]) -> Vec<u8> {
        let alg = if key.len() == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let k = LessSafeKey::new(UnboundKey::new(alg, key).unwrap());
        let mut buf = plain.to_vec();
        k.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut buf)
            .unwrap();
        let mut out = iv.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    #[test]
    fn a_keystream_that_cannot_take_the_input_is_an_error_not_zero_bytes() {
        let mut gcm = Gcm::new(&[7u8; 16], &[1u8; IV_LEN]).unwrap();
        // More than the output buffer holds: the cipher refuses, and that must not read as "0 bytes, done".
        let too_much = vec![0u8; CHUNK + 64];
        assert!(matches!(gcm.keystream(&too_much), Err(GcmError::Keystream)));
        assert_eq!(gcm.keystream(&[0u8; 100]).unwrap(), 100);
    }

    #[test]
    fn streams_agree_with_aws_lc_one_shot_gcm_in_both_directions() {
        for key in [vec![7u8; 16], vec![9u8; 32]] {
            for len in [
                0usize,
                1,
                15,
                16,
                17,
                100,
                CHUNK - 1,
                CHUNK,
                CHUNK + 17,
                3 * CHUNK + 5,
            ] {
                let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
                let mut sealed = Vec::new();
                seal(&key, &mut plain.as_slice(), &mut sealed).unwrap();
                assert_eq!(
                    one_shot_open(&key, &sealed).as_deref(),
                    Some(plain.as_slice()),
                    "len {len}"
                );
                let theirs = one_shot_seal(&key, [3u8; 12], &plain);
                let mut opened = Vec::new();
                open(&key, &mut theirs.as_slice(), &mut opened).unwrap();
                assert_eq!(opened, plain, "len {len}");
                let mut tampered = theirs.clone();
                let last = tampered.len() - 1;
                tampered[last / 2] ^= 1;
                assert!(
                    open(&key, &mut tampered.as_slice(), &mut Vec::new()).is_err(),
                    "len {len}"
                );
            }
        }
    }
}
