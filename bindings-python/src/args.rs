//! Python arguments as runtime values: request bodies (bytes without a copy, any other
//! buffer copied once), timeouts in seconds, metadata, codec names, and the options a
//! client or server is made with.

use std::time::Duration;

use bytes::Bytes;
use muxwire::{CallOptions, Codec};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyMapping, PyString};

/// A request body: `bytes` are shared with Python (no copy); a `bytearray`, `memoryview`
/// or any other buffer of bytes is copied once.
pub(crate) fn body(data: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = data.cast::<PyBytes>() {
        let backed: PyBackedBytes = b.clone().into();
        return Ok(Bytes::from_owner(backed));
    }
    match PyBuffer::<u8>::get(data) {
        Ok(buf) => Ok(Bytes::from(buf.to_vec(data.py())?)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "data must be bytes or a buffer of bytes, not {}",
            type_name(data)
        ))),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .qualname()
        .map(|q| q.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// A duration given in seconds (`None` stays `None`); `what` names it in errors.
pub(crate) fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    let Some(s) = value else { return Ok(None) };
    if !s.is_finite() || s < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, not {s}"
        )));
    }
    Duration::try_from_secs_f64(s)
        .map(Some)
        .map_err(|_| PyValueError::new_err(format!("{what} is too large: {s}")))
}

/// Metadata: a mapping or a sequence of `(key, value)` pairs; values are bytes or str
/// (sent as UTF-8). Keys are checked by the runtime (1 to 255 bytes of `[a-z0-9-_.]`).
pub(crate) fn metadata(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, Bytes)>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.is_none() {
        return Ok(Vec::new());
    }
    let items = if let Ok(map) = value.cast::<PyMapping>() {
        map.items()?.into_any()
    } else {
        value.clone()
    };
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        let (key, val): (String, Bound<'_, PyAny>) = item.extract().map_err(|_| {
            PyTypeError::new_err("metadata must be a mapping or (key, value) pairs with str keys")
        })?;
        out.push((key, metadata_value(&val)?));
    }
    Ok(out)
}

fn metadata_value(val: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(s) = val.cast::<PyString>() {
        return Ok(Bytes::from(s.to_str()?.to_owned()));
    }
    body(val).map_err(|_| {
        PyTypeError::new_err(format!(
            "metadata values must be bytes or str, not {}",
            type_name(val)
        ))
    })
}

/// A codec name: `"lz4"`, `"zstd"` or `None`.
pub(crate) fn codec(name: Option<&str>) -> PyResult<Option<Codec>> {
    match name {
        None | Some("none") | Some("identity") => Ok(None),
        Some("lz4") => Ok(Some(Codec::Lz4)),
        Some("zstd") => Ok(Some(Codec::Zstd)),
        Some(other) => Err(PyValueError::new_err(format!(
            "compression must be 'lz4', 'zstd' or None, not {other:?}"
        ))),
    }
}

/// One call's options from Python arguments.
pub(crate) fn call_options(
    timeout: Option<f64>,
    meta: Option<&Bound<'_, PyAny>>,
    compression: Option<&str>,
) -> PyResult<CallOptions> {
    Ok(CallOptions {
        timeout: seconds(timeout, "timeout")?,
        metadata: metadata(meta)?,
        compression: codec(compression)?,
    })
}

/// A positive count option, checked against `max`; `what` names it in errors.
pub(crate) fn count(value: usize, max: usize, what: &str) -> PyResult<usize> {
    if value == 0 || value > max {
        return Err(PyValueError::new_err(format!(
            "{what} must be between 1 and {max}, not {value}"
        )));
    }
    Ok(value)
}

/// Python functions by method name.
pub(crate) type Handlers = Vec<(String, Py<PyAny>)>;

/// Handlers by method name, from a mapping of names to callables.
pub(crate) fn handlers(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Handlers>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let map = value.cast::<PyMapping>().map_err(|_| {
        PyTypeError::new_err("handlers must be a mapping of method names to functions")
    })?;
    let mut out = Vec::new();
    for item in map.items()?.try_iter()? {
        let (name, handler): (String, Bound<'_, PyAny>) = item?.extract()?;
        if !handler.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "the handler of {name:?} is not callable"
            )));
        }
        out.push((name, handler.unbind()));
    }
    Ok(Some(out))
}
