//! AS4 payload compression (`CompressionType` `application/gzip`), with decompression bounded by an absolute
//! size and a ratio, so a small bomb cannot fill memory or disk (EBMS:0303 beyond either).

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::error::{EbmsError, ErrorCode};

/// How far a payload may inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Largest decompressed payload, in bytes.
    pub max_bytes: u64,
    /// Largest decompressed/compressed ratio. Real documents compress 5–20×; bombs 1000× and more.
    pub max_ratio: u64,
}

impl Default for InflateLimits {
    /// 200 MB (SDK asks for 100 MB messages) and a ratio of 200.
    fn default() -> Self {
        InflateLimits {
            max_bytes: 200 * 1024 * 1024,
            max_ratio: 200,
        }
    }
}

pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    // Reading a slice and writing to a Vec cannot fail.
    let _ = compress_to(&mut &data[..], &mut out);
    out
}

/// Compresses `input` into `output` as it streams.
pub fn compress_to(input: &mut dyn Read, output: &mut dyn Write) -> std::io::Result<u64> {
    let mut encoder = GzEncoder::new(output, Compression::fast());
    let n = std::io::copy(input, &mut encoder)?;
    encoder.finish()?;
    Ok(n)
}

/// Decompresses `data` within `limits`.
pub fn decompress(data: &[u8], limits: &InflateLimits) -> Result<Vec<u8>, EbmsError> {
    let mut out = Vec::new();
    decompress_to(&mut &data[..], data.len() as u64, &mut out, limits)?;
    Ok(out)
}

/// Decompresses `input` (`compressed_len` bytes) into `output` within `limits`. The output is read through
/// a cap one byte past the allowed size, so a bomb is stopped after at most that much work.
pub fn decompress_to(
    input: &mut dyn Read,
    compressed_len: u64,
    output: &mut dyn Write,
    limits: &InflateLimits,
) -> Result<u64, EbmsError> {
    let allowed = limits
        .max_bytes
        .min(compressed_len.saturating_mul(limits.max_ratio).max(1024));
    let written =
        std::io::copy(&mut GzDecoder::new(input).take(allowed + 1), output).map_err(|e| {
            EbmsError::new(
                ErrorCode::DecompressionFailure,
                format!("not valid gzip: {e}"),
            )
        })?;
    if written > allowed {
        return Err(EbmsError::new(
            ErrorCode::DecompressionFailure,
            format!(
                "the payload inflates beyond {allowed} bytes from {compressed_len} compressed (limits: {} bytes, ratio {})",
                limits.max_bytes, limits.max_ratio
            ),
        ));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bombs_are_stopped() {
        let text = "Kallelse till möte. ".repeat(1000);
        let packed = compress(text.as_bytes());
        assert!(packed.len() < text.len() / 5);
        assert_eq!(
            decompress(&packed, &InflateLimits::default()).unwrap(),
            text.as_bytes()
        );
        let bomb = compress(&vec![0u8; 50 * 1024 * 1024]);
        let err = decompress(&bomb, &InflateLimits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::DecompressionFailure);
        let err = decompress(b"not gzip at all", &InflateLimits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::DecompressionFailure);
    }
}
