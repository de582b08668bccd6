//! The syscall layer: thin typed wrappers, the only place with `unsafe`.
//!
//! Numbers, flags and structs come from `linux-raw-sys`; the instruction from `arch/` (one
//! file per architecture, chosen here once). Every wrapper decodes the kernel's `-4095..=-1` error range once, into `Errno`.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/riscv64.rs")]
#[cfg_attr(target_arch = "arm", path = "arch/arm.rs")]
mod arch;

mod abi;
#[cfg(feature = "initrd")]
pub mod blockdev;
pub mod cstr;
pub mod errno;
pub mod fd;
pub mod fs;
pub mod loopdev;
pub mod mount;
pub mod net;
pub mod process;
pub mod start;

pub use cstr::PathBuf;
pub use errno::Errno;
pub use fd::{Fd, OwnedFd};

/// Decodes a raw syscall return: values in `-4095..=-1` are errnos.
#[inline(always)]
fn ret(raw: usize) -> Result<usize, Errno> {
    if raw > usize::MAX - 4095 {
        Err(Errno((!raw + 1) as u16))
    } else {
        Ok(raw)
    }
}

/// Like `ret` for calls whose success value carries no information.
#[inline(always)]
fn ret_unit(raw: usize) -> Result<(), Errno> {
    ret(raw).map(|_| ())
}

use linux_raw_sys::general as nr;

/// System calls made so far, for `debug`'s report at the switch.
static SYSCALLS: AtomicU32 = AtomicU32::new(0);

/// How many system calls this process has made.
pub fn syscall_count() -> u32 {
    SYSCALLS.load(Relaxed)
}

// The wrappers' ways into the kernel, one per argument count: out of line, so a call site
// passes only the arguments it has, and the count costs one increment in each.
macro_rules! counted_syscalls {
    ($($name:ident($($arg:ident),*);)*) => {$(
        #[inline(never)]
        unsafe fn $name(n: usize $(, $arg: usize)*) -> usize {
            // A load and a store, not an atomic add: the process has one thread (children
            // are processes of their own), and aarch64 would otherwise call an out-of-line
            // atomics helper with its CPU-feature check (224 bytes).
            SYSCALLS.store(SYSCALLS.load(Relaxed).wrapping_add(1), Relaxed);
            arch::$name(n $(, $arg)*)
        }
    )*};
}
counted_syscalls! {
    syscall0();
    syscall1(a1);
    syscall2(a1, a2);
    syscall3(a1, a2, a3);
    syscall4(a1, a2, a3, a4);
    syscall5(a1, a2, a3, a4, a5);
    syscall6(a1, a2, a3, a4, a5, a6);
}
