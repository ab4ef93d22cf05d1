//! One 16-byte thread-local word pair, `(u64, *const ())`, zero in every new
//! thread: the object a thread used last and its value in it (`sync::PerThread`).
//!
//! Why not only `thread_local!`: in a shared object (`liblb.so`, or `liblb.a`
//! linked into a shared object such as an nginx module) Rust reaches a thread-local
//! through the general-dynamic model, a call to glibc's `__tls_get_addr` on every
//! access, 11 instructions a call and two calls per select + report pair. On
//! x86-64 Linux with glibc this module instead defines the slot itself with the
//! initial-exec model: its offset from the thread pointer is fixed when the library
//! is loaded, so an access is a load of that offset and an `fs`-relative load or
//! store. Linked into an executable, the linker turns it into the same constant
//! offset Rust's own thread-locals get there.
//!
//! The cost of initial-exec in a library: a library loaded with `dlopen` after the
//! program started takes its 16 bytes from glibc's surplus of static TLS, which is
//! there for this (glibc keeps 512 bytes of it for such libraries by default,
//! tunable `glibc.rtld.optional_static_tls`); were it used up, `dlopen` would fail
//! with "cannot allocate memory in static TLS block" rather than anything going
//! wrong later. glibc zeroes the slot in every thread, including threads that
//! exist before the `dlopen`. Elsewhere (another architecture, C library, or
//! Miri) the slot is a plain `thread_local!`.

#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_env = "gnu",
    not(miri)
))]
mod imp {
    // The slot, in the thread-local bss (zero in every thread). A hidden global
    // rather than a local symbol: the accesses below may be compiled into another
    // codegen unit than this definition; hidden keeps it out of the dynamic
    // symbol table.
    std::arch::global_asm!(
        ".pushsection .tbss.lb_thread_slot,\"awT\",@nobits",
        ".p2align 4",
        ".globl lb_thread_slot",
        ".hidden lb_thread_slot",
        ".type lb_thread_slot, @tls_object",
        ".size lb_thread_slot, 16",
        "lb_thread_slot:",
        ".zero 16",
        ".popsection",
    );

    /// This thread's slot.
    #[inline(always)]
    pub(crate) fn get() -> (u64, *const ()) {
        let id: u64;
        let value: *const ();
        // SAFETY: the slot is this thread's own 16 bytes at the thread pointer plus
        // the offset the GOT entry holds; only this thread reads or writes them.
        unsafe {
            std::arch::asm!(
                "mov {offset}, qword ptr [rip + lb_thread_slot@GOTTPOFF]",
                "mov {id}, qword ptr fs:[{offset}]",
                "mov {value}, qword ptr fs:[{offset} + 8]",
                offset = out(reg) _,
                id = out(reg) id,
                value = out(reg) value,
                options(nostack, preserves_flags, readonly),
            );
        }
        (id, value)
    }

    /// Sets this thread's slot.
    #[inline(always)]
    pub(crate) fn set(id: u64, value: *const ()) {
        // SAFETY: as in `get`.
        unsafe {
            std::arch::asm!(
                "mov {offset}, qword ptr [rip + lb_thread_slot@GOTTPOFF]",
                "mov qword ptr fs:[{offset}], {id}",
                "mov qword ptr fs:[{offset} + 8], {value}",
                offset = out(reg) _,
                id = in(reg) id,
                value = in(reg) value,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_env = "gnu",
    not(miri)
)))]
mod imp {
    use std::cell::Cell;

    std::thread_local! {
        static SLOT: Cell<(u64, *const ())> = const { Cell::new((0, std::ptr::null())) };
    }

    #[inline(always)]
    pub(crate) fn get() -> (u64, *const ()) {
        SLOT.with(Cell::get)
    }

    #[inline(always)]
    pub(crate) fn set(id: u64, value: *const ()) {
        SLOT.with(|c| c.set((id, value)));
    }
}

pub(crate) use imp::{get, set};

#[cfg(test)]
mod tests {
    use super::{get, set};

    #[test]
    fn each_thread_has_its_own_slot_starting_at_zero() {
        let here = 7u8;
        let mine = (&here as *const u8).cast::<()>();
        set(u64::MAX, mine);
        // Addresses as integers: a raw pointer cannot cross threads.
        let other = std::thread::spawn(|| {
            let start = get();
            set(99, 8 as *const ());
            let end = get();
            ((start.0, start.1 as usize), (end.0, end.1 as usize))
        })
        .join()
        .unwrap();
        assert_eq!(other.0, (0, 0));
        assert_eq!(other.1, (99, 8));
        assert_eq!(get(), (u64::MAX, mine));
        set(0, std::ptr::null());
        assert_eq!(get(), (0, std::ptr::null()));
    }
}
