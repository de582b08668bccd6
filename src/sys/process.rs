//! Processes, time, the machine.
use super::{nr, ret, ret_unit, syscall0, syscall1, syscall2, syscall3, syscall4, Errno};
use core::ffi::CStr;
use linux_raw_sys::general as g;

pub fn getpid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { syscall0(nr::__NR_getpid as usize) as u32 }
}

/// `execve(2)`: returns only on failure. `argv` and `envp` are null-terminated arrays of
/// pointers to NUL-terminated strings (built by `start::ArgvBuilder` or passed through).
pub fn execve(path: &CStr, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: the caller hands arrays built by this module's builders or the kernel's own.
    let r = unsafe { syscall3(nr::__NR_execve as usize, path.as_ptr() as usize, argv as usize, envp as usize) };
    match ret(r) {
        Err(e) => e,
        Ok(_) => Errno::INVAL,
    }
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the program open at `fd` (a memfd
/// copy of this one); returns only on failure.
pub fn execve_fd(fd: super::Fd, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: as for execve; the empty path is a NUL-terminated literal.
    let r = unsafe {
        super::syscall5(nr::__NR_execveat as usize, fd.raw(), c"".as_ptr() as usize, argv as usize, envp as usize, g::AT_EMPTY_PATH as usize)
    };
    match ret(r) {
        Err(e) => e,
        Ok(_) => Errno::INVAL,
    }
}

/// `exit_group(2)` (never used by PID 1: only by children).
pub fn exit(code: i32) -> ! {
    // SAFETY: ends the process.
    unsafe {
        syscall1(nr::__NR_exit_group as usize, code as usize);
    }
    // exit_group does not return; this only satisfies the type.
    loop {
        core::hint::spin_loop();
    }
}

/// `fork` through `clone(SIGCHLD)`: `Ok(0)` in the child, the child's pid in the parent.
pub fn fork() -> Result<u32, Errno> {
    // SAFETY: a plain fork: no shared stack or memory is set up.
    ret(unsafe { super::syscall5(nr::__NR_clone as usize, g::SIGCHLD as usize, 0, 0, 0, 0) }).map(|p| p as u32)
}

/// `wait4(pid, &status, 0)`: the exit status word.
pub fn wait(pid: i32) -> Result<(u32, i32), Errno> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes one int into `status`.
    let r = unsafe { syscall4(nr::__NR_wait4 as usize, pid as isize as usize, &mut status as *mut i32 as usize, 0, 0) };
    ret(r).map(|p| (p as u32, status))
}

/// `wait4(pid, &status, WNOHANG)`: `Ok(None)` while the child runs, else how it ended:
/// `Ok(Some(code))` for an exit with `code`, `Ok(Some(-1))` for death by a signal.
pub fn try_wait(pid: i32) -> Result<Option<i32>, Errno> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes one int into `status`.
    let r = unsafe {
        syscall4(nr::__NR_wait4 as usize, pid as isize as usize, &mut status as *mut i32 as usize, g::WNOHANG as usize, 0)
    };
    Ok(match ret(r)? {
        0 => None,
        // WIFEXITED, WEXITSTATUS.
        _ if status & 0x7f == 0 => Some((status >> 8) & 0xff),
        _ => Some(-1),
    })
}

/// `kill(2)`.
pub fn kill(pid: i32, sig: u32) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    ret_unit(unsafe { syscall2(nr::__NR_kill as usize, pid as isize as usize, sig as usize) })
}

pub const SIGTERM: u32 = g::SIGTERM;
pub const SIGKILL: u32 = g::SIGKILL;
pub const SIGCONT: u32 = g::SIGCONT;

/// `rt_sigprocmask(SIG_BLOCK, all)`: blocks every signal that can be blocked (all but
/// SIGKILL and SIGSTOP), e.g. SIGHUP when the shell that started us dies.
pub fn block_all_signals() {
    let all: u64 = !0;
    // SAFETY: the kernel reads one 8-byte sigset; the old-set pointer is null.
    unsafe {
        syscall4(nr::__NR_rt_sigprocmask as usize, g::SIG_BLOCK as usize, &all as *const u64 as usize, 0, 8);
    }
}

/// Milliseconds of CLOCK_BOOTTIME (the clock /proc/uptime and printk use, sleep included).
pub fn boottime_ms() -> u64 {
    let mut ts = g::__kernel_timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: the kernel writes one timespec.
    unsafe {
        syscall2(super::abi::NR_CLOCK_GETTIME as usize, g::CLOCK_BOOTTIME as usize, &mut ts as *mut _ as usize);
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Sleeps for `ms` milliseconds (used only where the protocol asks for a delay: rootdelay=,
/// panic=N).
pub fn sleep_ms(ms: u64) {
    let ts = g::__kernel_timespec { tv_sec: (ms / 1000) as i64, tv_nsec: ((ms % 1000) * 1_000_000) as i64 };
    // SAFETY: the kernel reads one timespec; the remainder pointer is null. A relative
    // sleep (flags 0) on the monotonic clock is nanosleep(2).
    unsafe {
        syscall4(super::abi::NR_CLOCK_NANOSLEEP as usize, g::CLOCK_MONOTONIC as usize, 0, &ts as *const _ as usize, 0);
    }
}

/// The running kernel's release (`uname -r`) copied into `buf`.
pub fn kernel_release(buf: &mut [u8; 65]) -> &[u8] {
    let mut uts = [0u8; 6 * 65];
    // SAFETY: `new_utsname` is six 65-byte fields.
    unsafe {
        syscall1(nr::__NR_uname as usize, uts.as_mut_ptr() as usize);
    }
    let release = &uts[2 * 65..3 * 65];
    let len = release.iter().position(|&b| b == 0).unwrap_or(64);
    buf[..len].copy_from_slice(&release[..len]);
    &buf[..len]
}

/// The free RAM figures of `sysinfo(2)`, in bytes.
pub struct Ram {
    pub free: u64,
    /// Block devices' page cache: free for the taking, but not counted in `free`.
    pub buffers: u64,
}

/// How much RAM is free, from `sysinfo(2)`.
pub fn ram() -> Result<Ram, Errno> {
    let mut info = core::mem::MaybeUninit::<linux_raw_sys::system::sysinfo>::zeroed();
    // SAFETY: the kernel fills the struct.
    ret(unsafe { syscall1(nr::__NR_sysinfo as usize, info.as_mut_ptr() as usize) })?;
    // SAFETY: zero-initialised and filled by the successful call.
    let info = unsafe { info.assume_init() };
    let unit = info.mem_unit.max(1) as u64;
    // The counts are `unsigned long`: 32 bits on a 32-bit ABI, where only the product in
    // u64 is safe.
    #[allow(clippy::unnecessary_cast)]
    Ok(Ram { free: info.freeram as u64 * unit, buffers: info.bufferram as u64 * unit })
}

/// What `reboot(2)` should do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RebootCmd {
    Restart,
    PowerOff,
    Halt,
    Kexec,
}

/// `reboot(2)`: returns only on failure.
pub fn reboot(cmd: RebootCmd) -> Errno {
    let cmd = match cmd {
        RebootCmd::Restart => g::LINUX_REBOOT_CMD_RESTART,
        RebootCmd::PowerOff => g::LINUX_REBOOT_CMD_POWER_OFF,
        RebootCmd::Halt => g::LINUX_REBOOT_CMD_HALT,
        RebootCmd::Kexec => g::LINUX_REBOOT_CMD_KEXEC,
    };
    // SAFETY: no memory is passed.
    let r = unsafe {
        syscall4(nr::__NR_reboot as usize, g::LINUX_REBOOT_MAGIC1 as usize, g::LINUX_REBOOT_MAGIC2 as usize, cmd as usize, 0)
    };
    match ret(r) {
        Err(e) => e,
        Ok(_) => Errno::INVAL,
    }
}

/// `setsid(2)`, for a rescue shell that should own the console.
pub fn setsid() -> Result<(), Errno> {
    // SAFETY: no arguments.
    ret_unit(unsafe { syscall0(nr::__NR_setsid as usize) })
}

/// `ioctl(0, TIOCSCTTY, 1)`: makes the console the controlling terminal (job control in sh).
pub fn set_controlling_tty(fd: super::Fd) -> Result<(), Errno> {
    super::fs::ioctl(fd, linux_raw_sys::ioctl::TIOCSCTTY, 1).map(|_| ())
}
