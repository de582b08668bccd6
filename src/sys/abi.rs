//! What a 32-bit ABI changes: the calls with 64-bit times and file offsets have their own
//! numbers and structs there (the `*64` and `*_time64` calls, Linux 5.1), and a 64-bit
//! argument takes a pair of registers. The wrappers in `sys` use these names on every
//! target, so nothing outside this file knows the word size.
#![allow(unsafe_code)]

pub use imp::*;

#[cfg(target_pointer_width = "64")]
mod imp {
    use linux_raw_sys::general as g;

    pub use g::__NR_clock_gettime as NR_CLOCK_GETTIME;
    pub use g::__NR_clock_nanosleep as NR_CLOCK_NANOSLEEP;
    pub use g::__NR_mmap as NR_MMAP;
    pub use g::__NR_newfstatat as NR_FSTATAT;
    pub use g::__NR_ppoll as NR_PPOLL;
    pub use g::__NR_utimensat as NR_UTIMENSAT;
    /// What `NR_FSTATAT` fills.
    pub use g::stat as Stat;
    /// What `fstatfs` fills.
    pub use g::statfs as Statfs;

    /// `pread64(fd, buf, len, offset)`: the offset is one register.
    ///
    /// # Safety
    /// `buf` must be `len` writable bytes.
    pub unsafe fn pread64(fd: usize, buf: usize, len: usize, offset: u64) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { super::super::syscall4(g::__NR_pread64 as usize, fd, buf, len, offset as usize) }
    }

    /// `fstatfs(fd, st)`.
    ///
    /// # Safety
    /// `st` must be writable.
    pub unsafe fn fstatfs(fd: usize, st: *mut Statfs) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { super::super::syscall2(g::__NR_fstatfs as usize, fd, st as usize) }
    }
}

#[cfg(target_pointer_width = "32")]
mod imp {
    use linux_raw_sys::general as g;

    pub use g::__NR_clock_gettime64 as NR_CLOCK_GETTIME;
    pub use g::__NR_clock_nanosleep_time64 as NR_CLOCK_NANOSLEEP;
    pub use g::__NR_fstatat64 as NR_FSTATAT;
    // Offset 0 in pages is offset 0: the only offset rdinit maps at.
    pub use g::__NR_mmap2 as NR_MMAP;
    pub use g::__NR_ppoll_time64 as NR_PPOLL;
    pub use g::__NR_utimensat_time64 as NR_UTIMENSAT;
    /// What `NR_FSTATAT` fills: 64-bit size and inode (the plain `stat` overflows).
    pub use g::stat64 as Stat;
    /// What `fstatfs` fills: 64-bit counts (`fstatfs` fails with EOVERFLOW on a big
    /// filesystem).
    pub use g::statfs64 as Statfs;

    /// `pread64(fd, buf, len, offset)`: a 64-bit argument is a register pair starting at an
    /// even register (ARM EABI), so a padding word comes before it; low word first.
    ///
    /// # Safety
    /// `buf` must be `len` writable bytes.
    pub unsafe fn pread64(fd: usize, buf: usize, len: usize, offset: u64) -> usize {
        let (lo, hi) = (offset as u32 as usize, (offset >> 32) as usize);
        // SAFETY: forwarded from the caller.
        unsafe { super::super::syscall6(g::__NR_pread64 as usize, fd, buf, len, 0, lo, hi) }
    }

    /// `fstatfs64(fd, size, st)`. The kernel's ARM entry accepts this struct's padded
    /// size (88) for its packed one (84).
    ///
    /// # Safety
    /// `st` must be writable.
    pub unsafe fn fstatfs(fd: usize, st: *mut Statfs) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { super::super::syscall3(g::__NR_fstatfs64 as usize, fd, core::mem::size_of::<Statfs>(), st as usize) }
    }
}
