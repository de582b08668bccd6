//! Running as the init of a legacy initrd (the kernel's Documentation/admin-guide/initrd.rst).
//!
//! The boot loader hands the kernel a filesystem image (ext2) instead of a cpio archive; the
//! kernel copies it into /dev/ram0 and, with `root=/dev/ram0`, mounts it as `/` and runs
//! `/sbin/init` from it: this program. Three things differ from the initramfs boot:
//! - `root=` names the RAM disk, so the real root comes from `real_root=` (the name
//!   genkernel's initrds read), in any form `root=` takes;
//! - the switch pivots the real root in and detaches the RAM disk, which is a real
//!   filesystem and is not emptied file by file;
//! - the RAM disk's memory is handed back afterwards (initrd.rst's
//!   `blockdev --flushbufs /dev/ram0`): a discard of the whole device frees both the
//!   image's copy in the page cache and the RAM disk's own pages.
//!
//! Freeing needs the RAM disk unmounted, and it stays mounted while a program runs from
//! it; so the init first re-executes itself from a copy in RAM (a memfd).
use super::Boot;
use crate::sys::fs::{self, O_RDONLY, O_RDWR};
use crate::sys::start::StartArgs;
use crate::sys::{blockdev, process, Errno, Fd};
use crate::report;

/// /dev/ram0's device number (major 1, RAMDISK_MAJOR, in the kernel's encoding): the only
/// device the kernel loads an initrd into.
const RAM0: u64 = 1 << 8;

/// Is `/` the RAM disk of a legacy initrd, rather than the initramfs?
pub fn is_ramdisk_root() -> bool {
    fs::stat(c"/").is_ok_and(|st| st.st_dev == RAM0)
}

/// Re-executes this program from a copy in RAM, unless it already runs from one. Returns
/// when it does, or when the copy failed: the boot then goes on, and only the RAM disk's
/// memory stays taken.
pub fn run_from_memory(args: &StartArgs) {
    let Ok(exe) = fs::open(c"/proc/self/exe", O_RDONLY) else { return };
    let Ok(st) = fs::fstat(exe.fd()) else { return };
    if st.st_dev != RAM0 {
        return;
    }
    let e = exec_copy(exe.fd(), st.st_size as u64, args);
    warning!("initrd: cannot run from RAM: %e; /dev/ram0 stays taken"; e);
}

/// Copies the program open at `exe` into a memfd and executes that; returns only why not.
fn exec_copy(exe: Fd, size: u64, args: &StartArgs) -> Errno {
    let copy = match fs::memfd_create(c"rdinit") {
        Ok(copy) => copy,
        Err(e) => return e,
    };
    match fs::copy_bytes(copy.fd(), exe, size) {
        Ok(n) if n == size => {}
        Ok(_) => return Errno::IO,
        Err(e) => return e,
    }
    process::execve_fd(copy.fd(), args.argv(), args.envp())
}

/// Makes `real_root=` the root to boot (the root= boot then names it as it mounts it).
pub fn take_real_root(boot: &mut Boot) {
    boot.cfg.root = boot.cfg.real_root;
    if boot.cfg.root.is_none() {
        error!("initrd: / is /dev/ram0: name the real root with real_root=");
    }
}

/// After the switch, with the RAM disk detached: hands its memory back and says how much
/// came back.
pub fn release_ramdisk() {
    let before = process::ram().map_or(0, |r| r.free);
    let dev = match fs::open(c"/dev/ram0", O_RDWR) {
        Ok(dev) => dev,
        Err(e) => {
            report(b"open", b"/dev/ram0", e);
            return;
        }
    };
    // By now the image lives only in brd's own pages: the kernel wrote it through
    // /dev/ram and dropped that page cache when it closed the device. A discard of the
    // whole device frees them (brd can discard on Linux 6.12). 6.1's brd cannot discard
    // (EOPNOTSUPP) and frees its pages only when the device goes, which a built-in driver
    // never does: initrd.rst's `blockdev --flushbufs` (BLKFLSBUF) is then all there is,
    // and measured there it freed nothing.
    let done = match blockdev::discard_all(dev.fd()) {
        Err(Errno::NOTSUP) => blockdev::flush_buffers(dev.fd()),
        other => other,
    };
    if let Err(e) = done {
        warning!("initrd: free /dev/ram0: %e"; e);
    }
    drop(dev);
    let freed_kb = process::ram().map_or(0, |r| r.free).saturating_sub(before) / 1024;
    info!("initrd: /dev/ram0 released, %n kB freed"; freed_kb);
}
