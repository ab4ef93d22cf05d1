//! Static text: the name of a status and lb's version.

use super::guard::guard_value;
use super::types::*;
use std::ffi::c_char;

/// Returns a short English description of `status`: static NUL-terminated text,
/// never NULL, also for values lb does not define.
///
/// Thread safety: may be called from any thread.
/// Ownership: the text is lb's and lives as long as the program; do not free it.
#[no_mangle]
pub extern "C" fn lb_status_str(status: lb_status) -> *const c_char {
    guard_value(b"internal error in lb\0".as_ptr().cast(), || {
        status_text(status).as_ptr().cast()
    })
}

fn status_text(status: lb_status) -> &'static [u8] {
    match status {
        LB_STATUS_OK => b"ok\0",
        LB_STATUS_NULL_POINTER => b"a required pointer was NULL\0",
        LB_STATUS_INVALID_ARGUMENT => b"invalid argument\0",
        LB_STATUS_NO_INSTANCE => b"no instance can be selected\0",
        LB_STATUS_UNKNOWN_INSTANCE => b"no instance with that id in the set\0",
        LB_STATUS_DUPLICATE_INSTANCE => b"the same instance id twice in one set\0",
        LB_STATUS_INVALID_PICK => {
            b"invalid pick: foreign, corrupted, forged, expired or already reported\0"
        }
        LB_STATUS_BUFFER_TOO_SMALL => b"the array is too small\0",
        LB_STATUS_IN_FLIGHT_LIMIT => b"no instance can be selected: in-flight ceiling reached\0",
        LB_STATUS_INTERNAL => b"internal error in lb\0",
        _ => b"unknown status\0",
    }
}

/// Returns lb's version, "MAJOR.MINOR.PATCH": static NUL-terminated text equal to
/// LB_VERSION_STRING of the header lb was built with.
///
/// Thread safety: may be called from any thread.
/// Ownership: the text is lb's and lives as long as the program; do not free it.
#[no_mangle]
pub extern "C" fn lb_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    guard_value(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}
