//! File descriptors: `Fd` borrows, `OwnedFd` closes on drop.
use super::{nr, syscall1};

/// A file descriptor number that this value does not own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fd(pub i32);

impl Fd {
    /// `AT_FDCWD`: path arguments are relative to the working directory.
    pub const CWD: Fd = Fd(linux_raw_sys::general::AT_FDCWD);
    pub const STDIN: Fd = Fd(0);
    pub const STDOUT: Fd = Fd(1);
    pub const STDERR: Fd = Fd(2);

    pub(crate) fn raw(self) -> usize {
        self.0 as isize as usize
    }
}

/// An open file descriptor, closed when dropped.
pub struct OwnedFd(i32);

impl OwnedFd {
    pub(crate) fn from_raw(raw: usize) -> OwnedFd {
        OwnedFd(raw as i32)
    }

    pub fn fd(&self) -> Fd {
        Fd(self.0)
    }

    /// Gives up ownership: the descriptor stays open (e.g. for fds 0-2 of PID 1).
    pub fn leak(self) -> Fd {
        let fd = Fd(self.0);
        core::mem::forget(self);
        fd
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        // close(2) errors are not actionable here: the descriptor is gone either way.
        // SAFETY: closes a descriptor this value owns; no memory is passed.
        unsafe {
            syscall1(nr::__NR_close as usize, self.0 as usize);
        }
    }
}

impl OwnedFd {
    /// Takes ownership of a descriptor that was leaked earlier with `leak`.
    pub fn from_fd(fd: Fd) -> OwnedFd {
        OwnedFd(fd.0)
    }
}
