//! rdinit: the init that the kernel runs as `/init` from an initramfs.
//!
//! The library holds everything but the startup glue, so that the parsers can be unit-tested
//! on the host. `src/sys/` is the only module that opts out of `deny(unsafe_code)`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

#[macro_use]
pub mod out;
#[cfg(feature = "activate")]
pub mod activation;
#[cfg(feature = "live")]
pub mod image;
pub mod kmod;
pub mod parse;
pub mod role;
pub mod stage;
pub mod sys;
#[cfg(feature = "live")]
pub mod tree;

use sys::start::StartArgs;

/// Marks an error that has already been reported on the console.
#[derive(Clone, Copy)]
pub struct Reported;

/// Reports `rdinit: <what> <name>: ENAME (n)` and returns the marker.
pub fn report(what: &[u8], name: &[u8], e: sys::Errno) -> Reported {
    error!("%s %s: %e", what, name; e);
    Reported
}

/// The process entry after `_start`: picks the role from argv[0].
pub fn main(args: StartArgs) -> ! {
    let argv0 = args.arg(0).map_or(&b""[..], |a| a.to_bytes());
    let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or(argv0);
    if base == b"modprobe" {
        role::modprobe::run(args);
    }
    #[cfg(feature = "activate")]
    if base == b"bundle" {
        role::bundle::run(args);
    }
    #[cfg(feature = "shutdown")]
    if base == b"shutdown" {
        role::shutdown::run(args);
    }
    let _ = base;
    stage::boot(args)
}

/// The panic handler's body: one fixed line, then what the role's duty asks. PID 1's boot
/// enters its failure path; the shutdown role still syncs and reboots as asked; the
/// modprobe role, a helper the kernel runs (never PID 1), fails the load.
pub fn panicked() -> ! {
    error!("internal error (panic)");
    #[cfg(feature = "shutdown")]
    role::shutdown::after_panic();
    if sys::process::getpid() != 1 {
        sys::process::exit(1);
    }
    loop {
        stage::rescue::run(None);
    }
}
