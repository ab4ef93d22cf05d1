//! Build script of lb: gives the shared library its SONAME.
//!
//! The SONAME carries the ABI major version (`liblb.so.1` for 1.x.y), so a program
//! linked against any 1.x keeps loading every later 1.x, and a 2.0 installs beside
//! it instead of breaking it. The install step (`make install`) lays out
//! liblb.so.MAJOR.MINOR.PATCH, the liblb.so.MAJOR link that the SONAME names, and
//! the development link liblb.so.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "1".to_string());
    // ELF platforms take -soname; others (macOS, Windows) name libraries differently.
    let elf = matches!(
        target_os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    );
    if elf {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblb.so.{major}");
    }
}
