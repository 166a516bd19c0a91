//! Failed calls as Python exceptions and back: a [`Status`] becomes the `RpcError`
//! subclass for its code (built by `muxwire._errors._status_error`), an `RpcError` raised
//! by a handler becomes the [`Status`] the caller sees, and anything else a handler raises
//! becomes INTERNAL naming the exception.

use muxwire::{Status, StatusCode};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

static STATUS_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static RPC_ERROR: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
static MUXWIRE_ERROR: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();

/// The Python exception for a failed call.
pub(crate) fn status_err(py: Python<'_>, status: Status) -> PyErr {
    match build_status_err(py, &status) {
        Ok(err) => err,
        Err(err) => err,
    }
}

fn build_status_err(py: Python<'_>, status: &Status) -> PyResult<PyErr> {
    let factory = STATUS_ERROR.import(py, "muxwire._errors", "_status_error")?;
    let details = status.details.as_ref().map(|d| PyBytes::new(py, d));
    let exc = factory.call1((status.code.0, &status.message, details, status.retry_safe))?;
    Ok(PyErr::from_value(exc))
}

/// A `MuxwireError` with `message` (misuse the runtime cannot express as a call status).
pub(crate) fn muxwire_err(py: Python<'_>, message: impl Into<String>) -> PyErr {
    match MUXWIRE_ERROR.import(py, "muxwire._errors", "MuxwireError") {
        Ok(ty) => PyErr::from_type(ty.clone(), message.into()),
        Err(err) => err,
    }
}

/// The status a handler's exception ends its call with.
pub(crate) fn err_to_status(py: Python<'_>, err: &PyErr) -> Status {
    match rpc_error_status(py, err) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            let kind = err
                .get_type(py)
                .qualname()
                .map(|q| q.to_string())
                .unwrap_or_else(|_| "an exception".to_string());
            let text = err
                .value(py)
                .str()
                .map(|s| s.to_string())
                .unwrap_or_default();
            Status::internal(format!("the handler raised {kind}: {text}"))
        }
    }
}

/// The status an `RpcError` carries, `None` for any other exception.
fn rpc_error_status(py: Python<'_>, err: &PyErr) -> PyResult<Option<Status>> {
    let rpc_error = RPC_ERROR.import(py, "muxwire._errors", "RpcError")?;
    let value = err.value(py);
    if !value.is_instance(rpc_error)? {
        return Ok(None);
    }
    let code: u32 = value.getattr("status")?.extract()?;
    let message: String = value.getattr("message")?.extract()?;
    let details: Option<Vec<u8>> = value.getattr("details")?.extract()?;
    let retry_safe: bool = value.getattr("retry_safe")?.extract()?;
    let mut status = Status::new(StatusCode(code), message).with_retry_safe(retry_safe);
    if let Some(d) = details {
        status = status.with_details(d);
    }
    Ok(Some(status))
}
