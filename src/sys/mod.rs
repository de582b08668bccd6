//! The syscall layer: thin typed wrappers, the only place with `unsafe`.
//!
//! Numbers, flags and structs come from `linux-raw-sys`; the instruction from `sc`. Every
//! wrapper decodes the kernel's `-4095..=-1` error range once, into `Errno`.
#![allow(unsafe_code)]

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

// The raw instruction, re-exported under short names for the wrappers' use.
use linux_raw_sys::general as nr;
use sc::{syscall0, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};
