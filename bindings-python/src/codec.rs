//! The frame codec without a connection: `decode_frame` reads one frame from the front of
//! a buffer and checks every rule the frame's own bytes decide (PROTOCOL.md section 17,
//! steps 1 to 13), `encode_frame` writes one. For tools, tests and other
//! implementations' conformance work; calls go through `Connection` or the clients.
//!
//! A frame that breaks a rule raises `ProtocolError` whose `code` is the connection error
//! code (`ErrorCode.FRAME_SIZE_ERROR`, ...); a buffer that holds only part of a frame
//! raises `Incomplete` whose `needed` says how many more bytes it takes at least.

use muxwire_core::wire::{
    self, crc32, Decoded, Flags, FrameEncoder, FrameType, Header, StreamId, Tag, HEADER_LEN,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{IntoPyDict, PyBytes, PyMemoryView, PySlice, PyTuple};

use crate::args::body;

static PROTOCOL_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static INCOMPLETE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The largest MAX_FRAME_SIZE a receiver may have (2^24 - 1).
const MAX_MAX_FRAME_SIZE: u32 = wire::MAX_MAX_FRAME_SIZE;

/// One decoded frame: the header's fields, the metadata TLVs in wire order and the body
/// (for an extension type, 0x80 and above, `body` is the whole payload but a CRC trailer,
/// and `metadata` is empty).
#[pyclass(frozen, get_all, module = "muxwire._muxwire")]
pub(crate) struct Frame {
    /// The frame type (`0x01` HELLO ... `0x08` GOAWAY, `0x80` and above: extensions).
    #[pyo3(name = "type")]
    ty: u8,
    /// The flag bits.
    flags: u8,
    /// The metadata length from the header (not interpreted in an extension frame).
    meta_len: u16,
    /// The stream id (0: the connection).
    stream_id: u32,
    /// The header's Argument.
    arg: u32,
    /// `(tag, value)` pairs in wire order.
    metadata: Vec<(u16, Py<PyBytes>)>,
    /// The body: a read-only view of the decoded buffer (no copy).
    body: Py<PyAny>,
    /// True if the frame had a CRC trailer (decoding verified it).
    crc: bool,
    /// Bytes of the buffer the frame took (header, payload, trailer).
    size: usize,
}

#[pymethods]
impl Frame {
    /// True for an extension type (0x80 and above), whose payload is not interpreted.
    #[getter]
    fn is_extension(&self) -> bool {
        FrameType(self.ty).is_extension()
    }

    /// The frame encoded again (the same bytes it was decoded from).
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let body = body(self.body.bind(py))?;
        let metadata: Vec<(u16, &[u8])> = self
            .metadata
            .iter()
            .map(|(t, v)| (*t, v.as_bytes(py)))
            .collect();
        let fields = Fields {
            ty: self.ty,
            flags: self.flags,
            stream_id: self.stream_id,
            arg: self.arg,
            meta_len: Some(self.meta_len),
        };
        Ok(PyBytes::new(py, &encode(&fields, &metadata, &body)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "Frame(type={:#04x} {}, flags={:#04x}, stream_id={}, arg={}, metadata={} tlvs, size={})",
            self.ty,
            FrameType(self.ty),
            self.flags,
            self.stream_id,
            self.arg,
            self.metadata.len(),
            self.size
        )
    }
}

/// The `ProtocolError` for a frame that broke a rule.
fn frame_err(py: Python<'_>, e: &wire::FrameError) -> PyErr {
    let built = PROTOCOL_ERROR
        .import(py, "muxwire._errors", "ProtocolError")
        .and_then(|cls| {
            let kwargs = [("code", e.code.0)].into_py_dict(py)?;
            cls.call((e.to_string(), "frame"), Some(&kwargs))
        });
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// The `Incomplete` for a buffer that needs `needed` more bytes.
fn incomplete(py: Python<'_>, needed: usize) -> PyErr {
    match INCOMPLETE
        .import(py, "muxwire._errors", "Incomplete")
        .and_then(|cls| cls.call1((needed,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Decodes the frame at the front of `data` (bytes or any buffer of bytes) as a receiver
/// whose MAX_FRAME_SIZE is `max_frame_size`; bytes after the frame are left alone (see
/// `Frame.size`). Raises `ProtocolError` (with `code`) for a frame that breaks a rule and
/// `Incomplete` (with `needed`) for part of a frame.
#[pyfunction]
#[pyo3(signature = (data, *, max_frame_size=16_384))]
pub(crate) fn decode_frame(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    max_frame_size: u64,
) -> PyResult<Frame> {
    let max = u32::try_from(max_frame_size)
        .ok()
        .filter(|m| (wire::MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(m))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "max_frame_size must be between {} and {MAX_MAX_FRAME_SIZE}, not {max_frame_size}",
                wire::MIN_MAX_FRAME_SIZE
            ))
        })?;
    // `bytes` are read in place; any other buffer is read through a copy (the body is a
    // view of the original all the same).
    let owned;
    let input: &[u8] = match data.cast::<PyBytes>() {
        Ok(b) => b.as_bytes(),
        Err(_) => {
            owned = body(data)?;
            &owned
        }
    };
    let (frame, len) = match wire::decode(input, max) {
        Ok(Decoded::Frame { frame, len }) => (frame, len),
        Ok(Decoded::Incomplete { needed }) => return Err(incomplete(py, needed)),
        Err(e) => return Err(frame_err(py, &e)),
    };
    let h = frame.header();
    let metadata = frame
        .metadata()
        .iter()
        .map(|t| (t.tag.0, PyBytes::new(py, t.value).unbind()))
        .collect();
    // The body's place in the input: after the header and the metadata block (none in an
    // extension frame), before any CRC trailer.
    let start = HEADER_LEN
        + if frame.is_extension() {
            0
        } else {
            usize::from(h.meta_len)
        };
    let end = start + frame.body().len();
    let view = PyMemoryView::from(data)?;
    let view = view.call_method0(pyo3::intern!(py, "toreadonly"))?;
    let slice = PySlice::new(py, start as isize, end as isize, 1);
    let body = view.get_item(slice)?.unbind();
    Ok(Frame {
        ty: h.ty.0,
        flags: h.flags.0,
        meta_len: h.meta_len,
        stream_id: h.stream_id.0,
        arg: h.arg,
        metadata,
        body,
        crc: frame.crc().is_some(),
        size: len,
    })
}

/// A frame's header fields, as `encode_frame` takes them.
struct Fields {
    ty: u8,
    flags: u8,
    stream_id: u32,
    arg: u32,
    /// Required to match the metadata of a core frame; written as given in an extension
    /// frame's header.
    meta_len: Option<u16>,
}

/// Encodes a frame; a CRC trailer is added if `flags` has the CRC bit (0x80).
fn encode(f: &Fields, metadata: &[(u16, &[u8])], body: &[u8]) -> PyResult<Vec<u8>> {
    let flags = Flags(f.flags);
    let crc_len = if flags.contains(Flags::CRC) { 4 } else { 0 };
    if FrameType(f.ty).is_extension() {
        if !metadata.is_empty() {
            return Err(PyValueError::new_err(
                "an extension frame (type 0x80 and above) has no metadata: put its whole \
                 payload in body",
            ));
        }
        let payload_len = u32::try_from(body.len() + crc_len)
            .map_err(|_| PyValueError::new_err("the payload exceeds 2^32 - 1 bytes"))?;
        let header = Header {
            payload_len,
            ty: FrameType(f.ty),
            flags,
            meta_len: f.meta_len.unwrap_or(0),
            stream_id: StreamId(f.stream_id),
            arg: f.arg,
        };
        let mut out = header.to_bytes().to_vec();
        out.extend_from_slice(body);
        if crc_len > 0 {
            let crc = crc32(&out);
            out.extend_from_slice(&crc.to_le_bytes());
        }
        return Ok(out);
    }
    let meta_room: usize = metadata.iter().map(|(_, v)| 4 + v.len()).sum();
    let mut out = vec![0u8; HEADER_LEN + meta_room + body.len() + crc_len];
    let mut enc = FrameEncoder::new(&mut out, FrameType(f.ty), StreamId(f.stream_id), f.arg)
        .map_err(encode_err)?;
    for (tag, value) in metadata {
        enc.tlv(Tag(*tag), value).map_err(encode_err)?;
    }
    if let Some(m) = f.meta_len {
        if usize::from(m) != enc.meta_len() {
            return Err(PyValueError::new_err(format!(
                "meta_len is {m} but the metadata given takes {} bytes",
                enc.meta_len()
            )));
        }
    }
    let n = enc.finish_with_body(flags, body).map_err(encode_err)?;
    out.truncate(n);
    Ok(out)
}

fn encode_err(e: wire::EncodeError) -> PyErr {
    PyValueError::new_err(format!("cannot encode the frame: {e}"))
}

/// An integer argument checked against its field's range; `what` names it in errors.
fn field<T: TryFrom<i64>>(value: i64, what: &str, max: i64) -> PyResult<T> {
    T::try_from(value)
        .ok()
        .filter(|_| (0..=max).contains(&value))
        .ok_or_else(|| {
            PyValueError::new_err(format!("{what} must be between 0 and {max}, not {value}"))
        })
}

/// Encodes one frame: the header from `type`, `flags`, `stream_id` and `arg`, then the
/// `metadata` TLVs (`(tag, value)` pairs, in order) and `body`, then a CRC trailer if
/// `flags` has the CRC bit (0x80). For an extension type (0x80 and above) `body` is the
/// whole payload and `meta_len` goes into the header as given; for a core type `meta_len`,
/// if given, must equal the metadata's length. Only sizes are checked: `decode_frame`
/// checks the protocol's rules.
#[pyfunction]
#[pyo3(signature = (r#type, *, flags=0, stream_id=0, arg=0, metadata=None, body=None, meta_len=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_frame<'py>(
    py: Python<'py>,
    r#type: i64,
    flags: i64,
    stream_id: i64,
    arg: i64,
    metadata: Option<&Bound<'py, PyAny>>,
    body: Option<&Bound<'py, PyAny>>,
    meta_len: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let fields = Fields {
        ty: field(r#type, "type", 0xff)?,
        flags: field(flags, "flags", 0xff)?,
        stream_id: field(stream_id, "stream_id", i64::from(u32::MAX))?,
        arg: field(arg, "arg", i64::from(u32::MAX))?,
        meta_len: meta_len
            .map(|m| field(m, "meta_len", i64::from(u16::MAX)))
            .transpose()?,
    };
    let mut tlvs: Vec<(u16, bytes::Bytes)> = Vec::new();
    if let Some(items) = metadata.filter(|m| !m.is_none()) {
        for item in items.try_iter()? {
            let item = item?;
            let pair = item
                .cast::<PyTuple>()
                .ok()
                .filter(|t| t.len() == 2)
                .ok_or_else(|| PyValueError::new_err("metadata must be (tag, value) pairs"))?;
            let tag: i64 = pair.get_item(0)?.extract().map_err(|_| {
                PyValueError::new_err("a metadata tag must be an int between 0 and 65535")
            })?;
            let tag = field(tag, "a metadata tag", i64::from(u16::MAX))?;
            tlvs.push((tag, crate::args::body(&pair.get_item(1)?)?));
        }
    }
    let body = match body.filter(|b| !b.is_none()) {
        Some(b) => crate::args::body(b)?,
        None => bytes::Bytes::new(),
    };
    let metadata: Vec<(u16, &[u8])> = tlvs.iter().map(|(t, v)| (*t, v.as_ref())).collect();
    Ok(PyBytes::new(py, &encode(&fields, &metadata, &body)?))
}
