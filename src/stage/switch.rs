//! Switching to the real root, in util-linux/systemd order: check everything, move the API
//! mounts, pivot (or move + chroot), and only then empty the old root through a saved fd.
use crate::sys::fs::{self, Dir, FileType, Fd, O_DIRECTORY, O_RDONLY};
use crate::sys::mount::{self, MNT_DETACH, MS_MOVE};
use crate::sys::{OwnedFd, PathBuf};
use crate::{report, Reported};
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// statfs magics of the filesystems the initramfs can be.
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

/// The API filesystems that move into the new root (they stay mounted across the switch).
/// (Packed: `&CStr` tables cost 16 bytes of pointer and length an entry.)
pub const MOVED_MOUNTS: &[u8] = b"/dev\0/proc\0/sys\0/run\0";

/// Is the current root the kernel's rootfs (ramfs or tmpfs)? Deleting anything else would
/// destroy a real filesystem.
fn root_is_initramfs(root: Fd) -> bool {
    matches!(fs::fstatfs_magic(root), Ok(RAMFS_MAGIC) | Ok(TMPFS_MAGIC))
}

/// Set when the API mounts start moving into the new root: the point of no return. From
/// then on the initramfs has no /dev, /proc or /sys (and is soon emptied), so a failure must
/// not start the boot again from the top.
static PAST_NO_RETURN: AtomicBool = AtomicBool::new(false);

/// Has a switch gone past the point of no return?
pub fn past_point_of_no_return() -> bool {
    PAST_NO_RETURN.load(Relaxed)
}

/// Moves the API mounts under `new_root`; a mount whose target is missing there is detached
/// (the new root may be read-only and lack /run). This is the point of no return.
pub fn move_api_mounts(new_root: &[u8]) {
    PAST_NO_RETURN.store(true, Relaxed);
    let mut target = PathBuf::<256>::new();
    for src in crate::sys::cstr::packed(MOVED_MOUNTS) {
        target.truncate(0);
        if target.push(new_root).and_then(|t| t.push(src.to_bytes())).is_err() {
            continue;
        }
        if let Err(e) = mount::mount(src, target.as_cstr(), None, MS_MOVE, None) {
            warning!("move %s to %s: %e; detaching it", src.to_bytes(), target.as_bytes(); e);
            // Detaching cannot fail in a way we could act on: the mount is simply not moved.
            let _ = mount::umount(src, MNT_DETACH);
        }
    }
}

/// Makes `new_root` (a mount point) the root: `pivot_root(".", ".")` then detaching the old
/// root where the kernel allows it (Linux 7.0+ on the initramfs), else MS_MOVE + chroot.
pub fn enter_root(new_root: &CStr) -> Result<(), Reported> {
    fs::chdir(new_root).map_err(|e| report(b"chdir", new_root.to_bytes(), e))?;
    if mount::pivot_root(c".", c".").is_ok() {
        // The old root now sits on top of the new one at "."; detach it.
        let _ = mount::umount(c".", MNT_DETACH);
    } else {
        // EINVAL on the initial rootfs before Linux 7.0: the classic switch_root way.
        mount::mount(c".", c"/", None, MS_MOVE, None).map_err(|e| report(b"move new root onto", b"/", e))?;
        fs::chroot(c".").map_err(|e| report(b"chroot", new_root.to_bytes(), e))?;
    }
    fs::chdir(c"/").map_err(|e| report(b"chdir", b"/", e))
}

/// Deletes the old initramfs content below `dir`, staying on `dev` and never following
/// symlinks. Errors are reported once per directory and skipped: what is left only costs RAM.
pub fn delete_tree(dir: Fd, dev: u64, depth: u32) {
    let mut entries = Dir::open_at(dir, c".");
    while let Ok(Some(entry)) = entries.next_entry() {
        let name = entry.cname();
        let mut is_dir = entry.kind == FileType::Dir;
        if entry.kind == FileType::Unknown {
            is_dir = fs::statat(dir, name, fs::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| fs::file_type(&st) == FileType::Dir);
        }
        if is_dir {
            // A mount point inside (another device) is left alone.
            let Ok(sub) = fs::openat(dir, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW, 0) else { continue };
            let same_dev = fs::fstat(sub.fd()).is_ok_and(|st| st.st_dev == dev);
            if !same_dev || depth > 64 {
                continue;
            }
            delete_tree(sub.fd(), dev, depth + 1);
            drop(sub);
            let _ = fs::unlinkat(dir, name, fs::AT_REMOVEDIR);
        } else {
            let _ = fs::unlinkat(dir, name, 0);
        }
    }
}

/// What `/` was before the switch, and how it is cleared afterwards.
pub enum OldRoot {
    /// The initramfs, emptied through this fd without leaving its device.
    Initramfs(OwnedFd, u64),
    /// A legacy initrd's RAM disk: the switch detached it; its memory is handed back.
    #[cfg(feature = "initrd")]
    RamDisk,
}

impl OldRoot {
    /// Clears the old root, once the new one is `/`.
    pub fn clear(self) {
        match self {
            OldRoot::Initramfs(fd, dev) => delete_tree(fd.fd(), dev, 0),
            #[cfg(feature = "initrd")]
            OldRoot::RamDisk => super::initrd::release_ramdisk(),
        }
    }
}

/// Opens the current root before the switch, to clear it afterwards; refuses unless it is
/// the initramfs (or a legacy initrd's RAM disk), since emptying anything else would
/// destroy a real filesystem.
pub fn open_old_root() -> Result<OldRoot, Reported> {
    #[cfg(feature = "initrd")]
    if super::initrd::is_ramdisk_root() {
        return Ok(OldRoot::RamDisk);
    }
    let fd = fs::open(c"/", O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", b"/", e))?;
    if !root_is_initramfs(fd.fd()) {
        error!("refusing to switch: / is not the initramfs (ramfs/tmpfs)");
        return Err(Reported);
    }
    let dev = fs::fstat(fd.fd()).map_err(|e| report(b"stat", b"/", e))?.st_dev;
    Ok(OldRoot::Initramfs(fd, dev))
}
