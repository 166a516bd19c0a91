//! Checks of the pointers C hands in: NULL, UTF-8, lengths. Each failure names the
//! argument.

use std::ffi::{c_char, CStr};

use crate::error::{Failure, Outcome};

/// `*p` as a shared reference, or NULL_ARGUMENT naming `what`.
///
/// # Safety
/// `p` is NULL or points to a live `T` that no one mutates for `'a`.
pub(crate) unsafe fn obj<'a, T>(p: *const T, what: &str) -> Outcome<&'a T> {
    // SAFETY: the caller's contract: NULL or a live T.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// A NUL-terminated UTF-8 string, or NULL_ARGUMENT / INVALID_ARGUMENT naming `what`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Outcome<&'a str> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: not NULL, and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|e| Failure::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// `len` bytes at `p`; NULL is accepted only with `len` 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that live for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Outcome<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(&format!("{what} (with length {len})")));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{what}: length {len} is impossible"
        )));
    }
    // SAFETY: not NULL, `len` readable bytes by the caller's contract, len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An output pointer, checked for NULL before any work and written only on success.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks `p`; NULL_ARGUMENT naming `what` if it is NULL.
    pub(crate) fn new(p: *mut T, what: &str) -> Outcome<Out<T>> {
        if p.is_null() {
            return Err(Failure::null(what));
        }
        Ok(Out(p))
    }

    /// Writes `value` (without reading or dropping what was there).
    ///
    /// # Safety
    /// The pointer given to [`Out::new`] is valid for writes of a `T`.
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: not NULL (checked in `new`) and writable by the caller's contract.
        unsafe { self.0.write(value) }
    }
}

/// Moves `value` to the heap and hands C the pointer (freed by the object's `_free`).
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back a handle made by [`into_handle`]; NULL gives `None`.
///
/// # Safety
/// `p` is NULL or came from [`into_handle`] and was not taken back before; no other
/// thread uses it any more.
pub(crate) unsafe fn take_handle<T>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: made by Box::into_raw and not freed before, by the caller's contract.
    Some(unsafe { Box::from_raw(p) })
}

/// A `void *` C hands in to be given back to its callbacks, on library threads.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut std::ffi::c_void);

// SAFETY: the library never dereferences it; it only passes it back to the C callback it
// came with, and the header tells C that those callbacks run on library threads.
unsafe impl Send for UserData {}
// SAFETY: as for Send: the pointer is only copied, never dereferenced here.
unsafe impl Sync for UserData {}

impl UserData {
    /// The pointer, to pass back to C.
    pub(crate) fn get(self) -> *mut std::ffi::c_void {
        self.0
    }
}
