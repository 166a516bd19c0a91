//! CRC-32 trailers (section 11): the zlib polynomial, as `crc32fast` computes it.

/// CRC-32 (ISO-HDLC / zlib) of `bytes`.
#[inline]
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The 4-byte trailer for a frame whose bytes before the trailer are `head` (header and
/// metadata) followed by `body`. Lets a writer send `[head, body, trailer]` as one
/// vectored write without copying the body.
#[inline]
pub fn crc_trailer(head: &[u8], body: &[u8]) -> [u8; 4] {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(body);
    h.finalize().to_le_bytes()
}
