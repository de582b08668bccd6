//! The syscall layer: thin typed wrappers, the only place with `unsafe`.
//!
//! Numbers, flags and structs come from `linux-raw-sys`; the instruction from `sc`. Every
//! wrapper decodes the kernel's `-4095..=-1` error range once, into `Errno`.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

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
#[inline(never)]
unsafe fn syscall0(n: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall0(n)
}
#[inline(never)]
unsafe fn syscall1(n: usize, a1: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall1(n, a1)
}
#[inline(never)]
unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall2(n, a1, a2)
}
#[inline(never)]
unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall3(n, a1, a2, a3)
}
#[inline(never)]
unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall4(n, a1, a2, a3, a4)
}
#[inline(never)]
unsafe fn syscall5(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall5(n, a1, a2, a3, a4, a5)
}
#[inline(never)]
unsafe fn syscall6(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> usize {
    SYSCALLS.fetch_add(1, Relaxed);
    sc::syscall6(n, a1, a2, a3, a4, a5, a6)
}
