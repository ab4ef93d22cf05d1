//! The C ABI of lb, version 1 (the header `include/lb.h` is generated from this
//! module by cbindgen).
//!
//! Conventions, the same for every function:
//! - Each exported function runs its body inside `guard` (guard.rs), which turns a
//!   Rust panic into `LB_STATUS_INTERNAL` (or a neutral value for the functions
//!   without a status), so no panic unwinds into C. The one exception is the common
//!   case of lb_select() and lb_report() (request.rs): code with no panic site,
//!   which `tests/fast-path.py` checks in the compiled library, and which hands
//!   every other case to the same function under the guard.
//! - Pointers are checked for NULL first (`LB_STATUS_NULL_POINTER`), then integer
//!   "enum" values and numbers (`LB_STATUS_INVALID_ARGUMENT`), then the call is
//!   made. A function that fails changes nothing.
//! - Structs read from or written to the caller's memory are copied with unaligned
//!   reads and writes, so lb never forms a Rust reference into caller memory except
//!   for an aligned array of ids it only reads.
//! - Strategy, outcome, status and option values are `u32`; Rust enums stay inside.

#![allow(non_camel_case_types)]
// The exported functions take raw pointers from C and are called from C: marking
// them `unsafe` would change nothing for those callers. Their safety condition is
// the contract's: every pointer is NULL (checked) or valid.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// The header lists items in the order cbindgen reads them: these modules' order is
// the header's (types and constants, then the functions as a program calls them).
mod guard;

mod options;
mod types;

mod lifecycle;
mod membership;
mod request;

mod keyed;

mod reads;
mod text;

pub use keyed::*;
pub use lifecycle::*;
pub use membership::*;
pub use options::*;
pub use reads::*;
pub use request::*;
pub use text::*;
pub use types::*;

#[cfg(test)]
mod option_tests;
#[cfg(test)]
mod tests;
