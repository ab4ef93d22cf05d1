//! Text: the name of a status, lb's version, and strategies and options by name.

use super::guard::{guard, guard_value, non_null};
use super::options::lb_option;
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

/// Returns the name of `strategy` ("round_robin", ..., the names
/// lb_strategy_from_name() takes): static NUL-terminated text, never NULL;
/// "unknown strategy" for a value lb does not define. Since 1.3.
///
/// Thread safety: may be called from any thread.
/// Ownership: the text is lb's and lives as long as the program; do not free it.
#[no_mangle]
pub extern "C" fn lb_strategy_str(strategy: lb_strategy) -> *const c_char {
    guard_value(b"unknown strategy\0".as_ptr().cast(), || {
        strategy_text(strategy).as_ptr().cast()
    })
}

fn strategy_text(strategy: lb_strategy) -> &'static [u8] {
    crate::Strategy::from_u32(strategy)
        .map_or(b"unknown strategy\0", |s| s.name_with_nul().as_bytes())
}

/// The `len` bytes at `name` as text, for the name lookups: `None` for bytes that
/// are not UTF-8 (no name matches them).
///
/// # Safety
/// `name` is not NULL and points to `len` readable bytes.
unsafe fn name_text<'a>(name: *const c_char, len: usize) -> Option<&'a str> {
    // SAFETY: the caller's promise (bytes need no alignment).
    std::str::from_utf8(unsafe { std::slice::from_raw_parts(name.cast::<u8>(), len) }).ok()
}

/// Finds the strategy named `name` (`len` bytes, not necessarily NUL-terminated):
/// lb's own names, as the README and the simulator use them ("round_robin", "least_connections", "weighted_response_time", "adaptive",
/// "least_request", "peak_ewma", "maglev", "ring_hash"; exact, lower case), and
/// writes its `LB_STRATEGY_*` value to `*out`. So a configuration file or a
/// proxy's directive maps names through lb's table instead of a copy. Since 1.3.
///
/// Thread safety: may be called from any thread at any time.
/// Ownership: borrows the name for the call; `*out` is the caller's memory,
/// unchanged on failure.
///
/// Errors: LB_STATUS_NULL_POINTER (`out` is NULL, or `name` is NULL with `len` >
/// 0), LB_STATUS_INVALID_ARGUMENT (no strategy has that name), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_strategy_from_name(
    name: *const c_char,
    len: usize,
    out: *mut lb_strategy,
) -> lb_status {
    guard(|| {
        let text = checked_name(name, len, out)?;
        let strategy = crate::Strategy::from_name(text).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        // SAFETY: not NULL (checked); the caller passes a writable lb_strategy.
        unsafe { std::ptr::write_unaligned(out, strategy as lb_strategy) };
        Ok(())
    })
}

/// Finds the option named `name` (`len` bytes, not necessarily NUL-terminated):
/// the option's name in lower case without the prefix, as `lb.h` lists them
/// (`LB_OPTION_CHOICE_COUNT` is "choice_count"), the same names as the Rust
/// `Config` fields and the simulator's `option=value` words, and writes its
/// `LB_OPTION_*` value to `*out`. Since 1.3.
///
/// Thread safety: may be called from any thread at any time.
/// Ownership: borrows the name for the call; `*out` is the caller's memory,
/// unchanged on failure.
///
/// Errors: LB_STATUS_NULL_POINTER (`out` is NULL, or `name` is NULL with `len` >
/// 0), LB_STATUS_INVALID_ARGUMENT (no option has that name), LB_STATUS_INTERNAL.
#[no_mangle]
pub extern "C" fn lb_option_from_name(
    name: *const c_char,
    len: usize,
    out: *mut lb_option,
) -> lb_status {
    guard(|| {
        let text = checked_name(name, len, out)?;
        let spec = crate::options::by_name(text).ok_or(LB_STATUS_INVALID_ARGUMENT)?;
        // SAFETY: not NULL (checked); the caller passes a writable lb_option.
        unsafe { std::ptr::write_unaligned(out, spec.id as lb_option) };
        Ok(())
    })
}

/// The argument checks the name lookups share: `out` and (with `len` > 0) `name`
/// not NULL; the name as text (`""` for anything that is no name).
fn checked_name<'a, T>(name: *const c_char, len: usize, out: *mut T) -> Result<&'a str, lb_status> {
    non_null(out)?;
    if len == 0 {
        return Ok("");
    }
    non_null(name)?;
    if len > isize::MAX as usize {
        return Err(LB_STATUS_INVALID_ARGUMENT);
    }
    // SAFETY: not NULL, and the caller passes `len` readable bytes.
    Ok(unsafe { name_text(name, len) }.unwrap_or(""))
}
