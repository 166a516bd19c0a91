//! The metadata TLV iterator and accessors on arbitrary blocks.
//!
//! Input: one byte choosing the frame type the block is validated for, then the block.

use muxwire_core::wire::{
    self, Decoded, Entry, EntryBlock, ErrorCode, Flags, FrameEncoder, FrameType, Header, Metadata,
    Settings, StreamId, Tag, TlvIter, GOAWAY_BODY_LEN, HEADER_LEN, MAX_MAX_FRAME_SIZE,
};

use crate::reader::Reader;

/// The frame types a block can be carried by, with a header that passes every other
/// check of section 17 (flags, stream, argument, body).
const CARRIERS: [(FrameType, u8, u32, u32, usize); 6] = [
    (FrameType::HELLO, 0, 0, 1, 0),
    (FrameType::CALL, 0, 1, 0, 0),
    (FrameType::DATA, 0x01, 1, 0, 0),
    (FrameType::STATUS, 0, 1, 2, 0),
    (FrameType::CANCEL, 0, 1, 1, 0),
    (FrameType::GOAWAY, 0, 0, 0, GOAWAY_BODY_LEN),
];

/// Walks the block at the end of `data` in every way the crate offers and checks that
/// they agree. Panics on the first disagreement.
pub fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let carrier = CARRIERS[usize::from(r.u8()) % CARRIERS.len()];
    let block = r.bytes(usize::from(u16::MAX));

    let (tlvs, whole) = walk(block);
    // The validated view yields the same TLVs and stops where the iterator failed.
    let viewed: Vec<_> = Metadata::new(block).iter().collect();
    assert_eq!(viewed, tlvs, "Metadata::iter and TlvIter disagree");
    let meta = Metadata::new(block);
    let _ = (
        meta.method(),
        meta.deadline_us(),
        meta.reason(),
        meta.details(),
    );
    for tag in [Tag::MAX_FRAME_SIZE, Tag::IDLE_TIMEOUT, Tag::AGENT] {
        let _ = meta.get_u32(tag);
    }

    // Re-encoding the TLVs gives back the bytes they were read from.
    let covered: usize = tlvs.iter().map(|t| 4 + t.value.len()).sum();
    assert_eq!(
        reencode(&tlvs),
        &block[..covered],
        "TLVs re-encode differently"
    );

    let entries = entries_of(&tlvs);
    assert_eq!(
        EntryBlock::is_valid(block),
        whole && entries.is_some(),
        "EntryBlock::is_valid disagrees with the iterator"
    );
    if let (true, Some(entries)) = (whole, entries) {
        let mut buf = vec![0u8; block.len()];
        let mut eb = EntryBlock::new(&mut buf);
        for e in &entries {
            eb.push(e.key, e.value).expect("a parsed entry pushes");
        }
        assert_eq!(eb.as_bytes(), block, "EntryBlock rebuilds differently");
        assert_eq!(meta.entries().collect::<Vec<_>>(), entries);
    }
    check_in_frame(carrier, block, whole, &tlvs);
}

/// The well-formed TLVs at the front of `block`, and whether they cover all of it.
fn walk(block: &[u8]) -> (Vec<wire::Tlv<'_>>, bool) {
    let mut it = TlvIter::new(block);
    let mut tlvs = Vec::new();
    let mut at = 0;
    // Every TLV takes at least 4 bytes, so this loop is bounded.
    for _ in 0..=block.len() / 4 + 1 {
        match it.next() {
            Some(Ok(t)) => {
                let offset = t.value.as_ptr() as usize - block.as_ptr() as usize;
                assert_eq!(offset, at + 4, "value not where its TLV says");
                at += 4 + t.value.len();
                tlvs.push(t);
            }
            Some(Err(e)) => {
                assert_eq!(e.code, ErrorCode::METADATA_ERROR);
                assert!(it.next().is_none(), "the iterator went on after an error");
                assert!(at < block.len());
                return (tlvs, false);
            }
            None => {
                assert_eq!(at, block.len(), "the iterator stopped early");
                return (tlvs, true);
            }
        }
    }
    panic!(
        "the iterator yielded more TLVs than fit in {} bytes",
        block.len()
    );
}

fn reencode(tlvs: &[wire::Tlv<'_>]) -> Vec<u8> {
    let size: usize = tlvs.iter().map(|t| 4 + t.value.len()).sum();
    let mut out = vec![0u8; HEADER_LEN + size];
    let mut enc = FrameEncoder::new(&mut out, FrameType::CALL, 1u32, 0).unwrap();
    for t in tlvs {
        enc.tlv(t.tag, t.value).expect("a read TLV encodes");
    }
    let n = enc.finish(Flags::NONE).expect("fits");
    out[HEADER_LEN..n].to_vec()
}

/// The entries, if every TLV is a well-formed ENTRY.
fn entries_of<'a>(tlvs: &[wire::Tlv<'a>]) -> Option<Vec<Entry<'a>>> {
    tlvs.iter()
        .map(|t| {
            let e = Entry::parse(t.value).filter(|_| t.tag == Tag::ENTRY)?;
            assert!(Entry::is_valid_key(e.key), "parsed an invalid key");
            assert_eq!(1 + e.key.len() + e.value.len(), t.value.len());
            Some(e)
        })
        .collect()
}

/// The block as the metadata of a frame of the carrier's type, through the decoder.
fn check_in_frame(
    (ty, flags, stream, arg, body): (FrameType, u8, u32, u32, usize),
    block: &[u8],
    whole: bool,
    tlvs: &[wire::Tlv<'_>],
) {
    let payload = block.len() + body;
    let header = Header {
        payload_len: payload as u32,
        ty,
        flags: Flags(flags),
        meta_len: block.len() as u16,
        stream_id: StreamId(stream),
        arg,
    };
    let mut frame = header.to_bytes().to_vec();
    frame.extend_from_slice(block);
    frame.resize(HEADER_LEN + payload, 0);
    match wire::decode(&frame, MAX_MAX_FRAME_SIZE) {
        Ok(Decoded::Frame { frame: f, len }) => {
            assert_eq!(len, frame.len());
            assert!(
                whole,
                "the decoder accepted a block the iterator cannot walk"
            );
            assert_eq!(f.metadata().iter().collect::<Vec<_>>(), tlvs);
            check_accepted(ty, arg, &f.metadata(), tlvs);
        }
        Ok(Decoded::Incomplete { .. }) => panic!("a whole frame reported incomplete"),
        Err(e) => {
            let metadata_codes = [ErrorCode::METADATA_ERROR, ErrorCode::HANDSHAKE_ERROR];
            assert!(
                metadata_codes.contains(&e.code),
                "a frame valid but for its metadata failed with {e}"
            );
        }
    }
}

/// What a validated block guarantees (section 6).
fn check_accepted(ty: FrameType, arg: u32, meta: &Metadata<'_>, tlvs: &[wire::Tlv<'_>]) {
    for t in tlvs {
        assert_ne!(t.tag.0, 0, "tag 0 accepted");
        if t.tag.is_ignorable() {
            continue;
        }
        assert!(
            t.tag.name().is_some(),
            "unknown must-understand tag accepted"
        );
        let repeats = tlvs.iter().filter(|u| u.tag == t.tag).count();
        assert!(
            repeats == 1 || t.tag == Tag::ENTRY,
            "tag {:?} repeated",
            t.tag
        );
        if t.tag == Tag::ENTRY {
            assert!(Entry::parse(t.value).is_some(), "bad ENTRY accepted");
        }
    }
    match ty {
        FrameType::CALL => {
            let method = meta.method().expect("a CALL has a METHOD");
            assert!(!method.is_empty());
            let deadline = tlvs.iter().any(|t| t.tag == Tag::DEADLINE);
            assert_eq!(meta.deadline_us().is_some(), deadline);
        }
        FrameType::HELLO => {
            let s = Settings::from_hello(arg, meta);
            assert_eq!(
                s.first_out_of_range(),
                None,
                "a HELLO out of range accepted"
            );
        }
        _ => {}
    }
}
