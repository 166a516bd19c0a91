//! Entry points that exist only to test the library's boundary (feature `test-hooks`,
//! declared in the header only when `MUXWIRE_TEST_HOOKS` is defined).

use crate::boundary::guard;
use crate::result::muxwire_result;

/// Panics inside the library, to show the boundary turns it into `MUXWIRE_RESULT_PANIC`
/// with the panic's message as the last error, and that nothing reaches stderr.
#[no_mangle]
pub extern "C" fn muxwire_test_panic() -> muxwire_result {
    guard(|| panic!("a panic provoked by muxwire_test_panic"))
}
