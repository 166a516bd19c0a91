//! Per-message compression (PROTOCOL.md section 10): LZ4 frames and Zstandard frames,
//! with decompression bounded by MAX_MESSAGE_SIZE.

use std::io::Read;

use bytes::Bytes;
use muxwire_core::wire::Codec;

use crate::Status;

/// Compresses `body` with `codec`; `None` if the result is not smaller.
pub(crate) fn compress(codec: Codec, body: &[u8]) -> Option<Bytes> {
    let out = match codec {
        Codec::Identity => return None,
        Codec::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(body.len() / 2));
            std::io::Write::write_all(&mut enc, body).ok()?;
            enc.finish().ok()?
        }
        #[cfg(feature = "zstd")]
        Codec::Zstd => zstd::bulk::compress(body, 1).ok()?,
        // Not built in: never offered or chosen (`Options::validate`), so never asked for.
        #[cfg(not(feature = "zstd"))]
        Codec::Zstd => return None,
    };
    (out.len() < body.len()).then(|| Bytes::from(out))
}

/// Decompresses a message, failing with RESOURCE_EXHAUSTED past `max` bytes and INTERNAL
/// on corrupt input.
pub(crate) fn decompress(codec: Codec, data: Bytes, max: usize) -> Result<Bytes, Status> {
    let too_big = || {
        Status::resource_exhausted(format!(
            "max_message_size {max} exceeded after decompression"
        ))
    };
    match codec {
        Codec::Identity => Ok(data),
        Codec::Lz4 => {
            let mut out = Vec::new();
            let dec = lz4_flex::frame::FrameDecoder::new(&data[..]);
            dec.take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Status::internal(format!("lz4 decompression failed: {e}")))?;
            if out.len() > max {
                return Err(too_big());
            }
            Ok(out.into())
        }
        #[cfg(not(feature = "zstd"))]
        Codec::Zstd => Err(Status::internal(
            "zstd support is not built in (the muxwire crate's `zstd` feature)",
        )),
        #[cfg(feature = "zstd")]
        Codec::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(&data[..])
                .map_err(|e| Status::internal(format!("zstd decompression failed: {e}")))?;
            let mut out = Vec::new();
            (&mut dec)
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Status::internal(format!("zstd decompression failed: {e}")))?;
            if out.len() > max {
                return Err(too_big());
            }
            Ok(out.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        let body = vec![b'a'; 100_000];
        let codecs: &[Codec] = if cfg!(feature = "zstd") {
            &[Codec::Lz4, Codec::Zstd]
        } else {
            &[Codec::Lz4]
        };
        for &codec in codecs {
            let c = compress(codec, &body).unwrap();
            assert!(c.len() < 1000);
            assert_eq!(
                &decompress(codec, c.clone(), 100_000).unwrap()[..],
                &body[..]
            );
            let err = decompress(codec, c, 99_999).unwrap_err();
            assert_eq!(err.code, muxwire_core::wire::StatusCode::RESOURCE_EXHAUSTED);
            assert_eq!(
                decompress(codec, Bytes::from_static(b"garbage!"), 10)
                    .unwrap_err()
                    .code,
                muxwire_core::wire::StatusCode::INTERNAL
            );
        }
        assert!(compress(Codec::Zstd, b"xy").is_none());
        assert!(compress(Codec::Lz4, b"xy").is_none());
    }

    /// Without the `zstd` feature nothing is compressed with zstd, and a zstd message is
    /// a clear error.
    #[cfg(not(feature = "zstd"))]
    #[test]
    fn without_zstd_the_codec_is_refused_clearly() {
        assert!(compress(Codec::Zstd, &[b'a'; 10_000]).is_none());
        let e = decompress(Codec::Zstd, Bytes::from_static(b"x"), 10).unwrap_err();
        assert!(e.message.contains("`zstd` feature"), "{e}");
    }
}
