//! Bytes that stay in memory while small and spill to an anonymous temporary file when they grow, so a
//! 100 MB attachment costs disk, not memory. The file is deleted when the spool is dropped.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Payloads up to this size stay in memory by default.
pub const DEFAULT_THRESHOLD: usize = 1024 * 1024;

/// Written bytes, in memory or in a temporary file.
#[derive(Debug)]
pub struct Spool {
    threshold: usize,
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
}

impl Spool {
    pub fn new(threshold: usize) -> Spool {
        Spool {
            threshold,
            memory: Vec::new(),
            file: None,
            len: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the bytes went to disk.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// A reader from the start. Only one reader at a time (the file position is shared).
    pub fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        match &mut self.file {
            Some(f) => {
                f.flush()?;
                f.seek(SeekFrom::Start(0))?;
                Ok(Box::new(io::BufReader::with_capacity(64 * 1024, f)))
            }
            None => Ok(Box::new(self.memory.as_slice())),
        }
    }

    /// All the bytes in memory (for small payloads and tests).
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        if self.file.is_none() {
            return Ok(self.memory);
        }
        let mut out = Vec::with_capacity(self.len as usize);
        self.reader()?.read_to_end(&mut out)?;
        Ok(out)
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.memory.len() + buf.len() > self.threshold {
            let mut file = tempfile::tempfile()?;
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(f) => f.write_all(buf)?,
            None => self.memory.extend_from_slice(buf),
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// A writer that hashes (SHA-256) what passes through to `inner`.
pub struct Digesting<W: Write> {
    pub inner: W,
    context: aws_lc_rs::digest::Context,
}

impl<W: Write> Digesting<W> {
    pub fn new(inner: W) -> Self {
        Digesting {
            inner,
            context: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
        }
    }

    /// The writer and the base64 SHA-256 of everything written.
    pub fn finish(self) -> (W, String) {
        use base64::Engine;
        let digest = self.context.finish();
        (
            self.inner,
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
        )
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.context.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stays_in_memory_large_spills_and_both_read_back() {
        let mut small = Spool::new(100);
        small.write_all(&[1u8; 60]).unwrap();
        assert!(!small.spilled());
        let mut large = Spool::new(100);
        large.write_all(&[2u8; 60]).unwrap();
        large.write_all(&[3u8; 60]).unwrap();
        assert!(large.spilled());
        assert_eq!(large.len(), 120);
        let mut back = Vec::new();
        large.reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(&back[..60], &[2u8; 60]);
        assert_eq!(&back[60..], &[3u8; 60]);
        assert_eq!(small.into_bytes().unwrap(), vec![1u8; 60]);
    }
}
