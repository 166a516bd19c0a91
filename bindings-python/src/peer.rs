//! `Peer`: the connection a call came in on, seen from its handler, to call the caller
//! back (the caller serves methods too: `Client(..., handlers=...)`).

use muxwire::{Channel, RuntimeHandle};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args::{body, call_options};
use crate::runtime::Owner;
use crate::wait::wait_ok;

/// The caller of a call, to call back over the same connection.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct Peer {
    channel: Channel,
    rt: RuntimeHandle,
    owner: Owner,
}

impl Peer {
    /// The peer on `channel`, waited for on `rt`.
    pub(crate) fn new(channel: Channel, rt: RuntimeHandle) -> Peer {
        Peer {
            channel,
            rt,
            owner: Owner::here("Peer"),
        }
    }
}

#[pymethods]
impl Peer {
    /// A unary call to the caller's `method` (blocking, the GIL released while waiting;
    /// from an async handler, run it with `asyncio.to_thread`).
    #[pyo3(signature = (method, data, *, timeout=None, metadata=None, compression=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
        metadata: Option<&Bound<'py, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.owner.check(py)?;
        let (body, opts) = (body(data)?, call_options(timeout, metadata, compression)?);
        let reply = wait_ok(py, &self.rt, self.channel.call_with(method, body, &opts))?;
        Ok(PyBytes::new(py, &reply))
    }

    /// A one-way call to the caller's `method`.
    fn notify(&self, py: Python<'_>, method: &str, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.owner.check(py)?;
        let body = body(data)?;
        wait_ok(py, &self.rt, self.channel.notify(method, body))
    }

    /// True once the connection to the caller has closed.
    #[getter]
    fn closed(&self) -> bool {
        self.channel.is_closed()
    }
}
