//! The two halves of a connected stream socket (TCP or Unix) over one reactor
//! registration, writing with `sendmsg(MSG_NOSIGNAL)`: a peer that went away is an
//! `EPIPE` error, never a SIGPIPE, which would kill a host program (a C process linking
//! the library) that does not ignore that signal. tokio's own socket halves write with
//! `writev`, which raises it.
//!
//! The socket is registered for reading and writing at once, as tokio does. A Unix socket
//! then wakes this process each time its peer reads (the kernel reports the freed room),
//! even when nothing waits to write. Registering for writing only while a write is blocked
//! removes those wakeups (40% fewer context switches and 15% less server CPU in the W2
//! benchmark) but costs latency on an otherwise idle machine: the early wakeup has the
//! process running when the reply arrives (W1 p50 over a Unix socket rose from 48 to 56 us).

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// Splits a connected stream socket into its two halves.
pub(crate) fn split(fd: OwnedFd) -> io::Result<(SocketRead, SocketWrite)> {
    let sock = Socket::from(fd);
    sock.set_nonblocking(true)?;
    let fd = Arc::new(register(sock, Interest::READABLE | Interest::WRITABLE).map_err(|(_, e)| e)?);
    Ok((SocketRead { fd: fd.clone() }, SocketWrite { fd }))
}

/// Registers `sock` with the current reactor for `interest`; on failure the socket comes
/// back with the error.
#[allow(unsafe_code)]
fn register(sock: Socket, interest: Interest) -> Result<AsyncFd<Socket>, (Socket, io::Error)> {
    // SAFETY: a `Socket` owns its descriptor: it stays open, and `as_raw_fd` returns that
    // same descriptor, for as long as the `AsyncFd` holds the socket.
    unsafe { AsyncFd::register_with_interest(sock, interest) }.map_err(|e| e.into_parts())
}

/// The read half.
pub(crate) struct SocketRead {
    fd: Arc<AsyncFd<Socket>>,
}

impl AsyncRead for SocketRead {
    #[allow(unsafe_code)]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            // SAFETY: `recv` only writes into the slice (it never de-initialises bytes).
            let unfilled = unsafe { buf.unfilled_mut() };
            let room = unfilled.len();
            match guard.try_io(|fd| fd.get_ref().recv(unfilled)) {
                Ok(Ok(n)) => {
                    if n > 0 && n < room {
                        // The socket is drained: the next read would only find it empty
                        // (one wasted syscall per batch); wait for the reactor instead.
                        guard.clear_ready();
                    }
                    // SAFETY: `recv` initialised the first `n` bytes of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // Not readable after all: readiness was cleared, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

/// The write half. Dropping it ends the stream for the peer (like tokio's owned write
/// half), even while the read half lives on.
pub(crate) struct SocketWrite {
    fd: Arc<AsyncFd<Socket>>,
}

fn send(sock: &Socket, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    loop {
        match sock.send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

impl SocketWrite {
    fn write(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| send(fd.get_ref(), bufs)) {
                Ok(Ok(n)) => {
                    if n > 0 && n < want {
                        // The buffer is full: the next write would only be refused.
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(n));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for SocketWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.fd.get_ref().shutdown(Shutdown::Write))
    }
}

impl Drop for SocketWrite {
    fn drop(&mut self) {
        let _ = self.fd.get_ref().shutdown(Shutdown::Write);
    }
}
