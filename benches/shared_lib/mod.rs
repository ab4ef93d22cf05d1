//! lb's C ABI as a program linking `liblb.so` reaches it: the shared library of
//! this build (`cargo bench` builds it beside the bench executable) loaded with
//! `dlopen`, its functions found with `dlsym`. It is a second
//! copy of lb in the process, apart from the one linked into the bench, with its
//! own per-thread slot.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;

use lb::ffi::{lb_balancer, lb_instance, lb_pick, LB_STATUS_OK};

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;

type NewFn = unsafe extern "C" fn(u32, *mut *mut lb_balancer) -> u32;
type SetFn = unsafe extern "C" fn(*mut lb_balancer, *const lb_instance, usize) -> u32;
type SelectFn = unsafe extern "C" fn(*mut lb_balancer, *mut lb_pick) -> u32;
type ReportFn = unsafe extern "C" fn(*mut lb_balancer, *const lb_pick, u32, u64) -> u32;
type FreeFn = unsafe extern "C" fn(*mut lb_balancer);

/// The functions of the loaded library (it stays loaded until the process ends).
pub struct SharedLb {
    balancer_new: NewFn,
    set_instances: SetFn,
    pub select: SelectFn,
    pub report: ReportFn,
    balancer_free: FreeFn,
}

/// A balancer of the shared library, freed on drop.
pub struct SharedHandle<'a> {
    lib: &'a SharedLb,
    pub ptr: *mut lb_balancer,
}

impl Drop for SharedHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: a live handle of this library, freed once.
        unsafe { (self.lib.balancer_free)(self.ptr) }
    }
}

/// Where the shared library of this build is: `cargo bench` builds it beside the
/// bench executable (`<target>/release/deps/`), from the same sources and profile.
/// `LB_SHARED_LIB` names another (an installed one, or an earlier version's).
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("LB_SHARED_LIB") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("liblb.so")))
        .unwrap_or_else(|| PathBuf::from("liblb.so"))
}

impl SharedLb {
    /// Loads the library, or says why not.
    pub fn open() -> Result<SharedLb, String> {
        let path = path();
        let name = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path; dlerror's text is read at once.
        let handle = unsafe { dlopen(name.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a NUL-terminated string after a failure.
            let why = unsafe { CStr::from_ptr(dlerror()) };
            return Err(format!(
                "dlopen({}): {}",
                path.display(),
                why.to_string_lossy()
            ));
        }
        let find = |symbol: &str| -> Result<*mut c_void, String> {
            let c = CString::new(symbol).map_err(|e| e.to_string())?;
            // SAFETY: a live handle and a NUL-terminated name.
            let p = unsafe { dlsym(handle, c.as_ptr()) };
            if p.is_null() {
                Err(format!("dlsym({symbol}) in {}", path.display()))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is the lb.h function of that name, whose C signature
        // the type spells.
        unsafe {
            Ok(SharedLb {
                balancer_new: std::mem::transmute::<*mut c_void, NewFn>(find("lb_balancer_new")?),
                set_instances: std::mem::transmute::<*mut c_void, SetFn>(find("lb_set_instances")?),
                select: std::mem::transmute::<*mut c_void, SelectFn>(find("lb_select")?),
                report: std::mem::transmute::<*mut c_void, ReportFn>(find("lb_report")?),
                balancer_free: std::mem::transmute::<*mut c_void, FreeFn>(find(
                    "lb_balancer_free",
                )?),
            })
        }
    }

    /// A balancer with `strategy` over `set`.
    pub fn balancer(&self, strategy: u32, set: &[lb_instance]) -> SharedHandle<'_> {
        let mut ptr: *mut lb_balancer = std::ptr::null_mut();
        // SAFETY: the library's own functions, called as lb.h documents them.
        unsafe {
            assert_eq!((self.balancer_new)(strategy, &mut ptr), LB_STATUS_OK);
            assert_eq!(
                (self.set_instances)(ptr, set.as_ptr(), set.len()),
                LB_STATUS_OK
            );
        }
        SharedHandle { lib: self, ptr }
    }
}
