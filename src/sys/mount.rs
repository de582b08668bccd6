//! Mounts: mount(2), umount2(2), pivot_root(2), and module loading.
use super::{nr, ret_unit, syscall2, syscall5, Errno, Fd};
use core::ffi::CStr;
use linux_raw_sys::general as g;

pub const MS_RDONLY: u32 = g::MS_RDONLY;
pub const MS_NOSUID: u32 = g::MS_NOSUID;
pub const MS_NODEV: u32 = g::MS_NODEV;
pub const MS_NOEXEC: u32 = g::MS_NOEXEC;
pub const MS_REMOUNT: u32 = g::MS_REMOUNT;
pub const MS_BIND: u32 = g::MS_BIND;
pub const MS_MOVE: u32 = g::MS_MOVE;
pub const MS_REC: u32 = g::MS_REC;
pub const MS_PRIVATE: u32 = g::MS_PRIVATE;
pub const MS_SILENT: u32 = g::MS_SILENT;
pub const MNT_DETACH: u32 = g::MNT_DETACH;

/// `mount(2)`. `data` is the filesystem's option string (NUL-terminated) or none.
pub fn mount(source: &CStr, target: &CStr, fstype: Option<&CStr>, flags: u32, data: Option<&CStr>) -> Result<(), Errno> {
    let fstype = fstype.map_or(0, |s| s.as_ptr() as usize);
    let data = data.map_or(0, |s| s.as_ptr() as usize);
    // SAFETY: every pointer is a NUL-terminated string or null.
    let r = unsafe {
        syscall5(nr::__NR_mount as usize, source.as_ptr() as usize, target.as_ptr() as usize, fstype, flags as usize, data)
    };
    ret_unit(r)
}

/// `umount2(2)`.
pub fn umount(target: &CStr, flags: u32) -> Result<(), Errno> {
    // SAFETY: `target` is NUL-terminated.
    ret_unit(unsafe { syscall2(nr::__NR_umount2 as usize, target.as_ptr() as usize, flags as usize) })
}

/// `pivot_root(2)`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated.
    ret_unit(unsafe { syscall2(nr::__NR_pivot_root as usize, new_root.as_ptr() as usize, put_old.as_ptr() as usize) })
}

/// `finit_module(2)`: loads a kernel module from an open file.
pub fn finit_module(fd: Fd, params: &CStr, flags: u32) -> Result<(), Errno> {
    // SAFETY: `params` is NUL-terminated.
    let r = unsafe { super::syscall3(nr::__NR_finit_module as usize, fd.raw(), params.as_ptr() as usize, flags as usize) };
    ret_unit(r)
}

/// `MODULE_INIT_COMPRESSED_FILE`: the kernel decompresses the module (Linux 5.17+).
pub const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// Makes mounts under `/` private: MS_MOVE fails under a shared parent.
pub fn make_private() {
    // Failure means the root is already private (or cannot be changed): the move reports it.
    let _ = mount(c"none", c"/", None, MS_REC | MS_PRIVATE, None);
}

/// Is `path` a mount point distinct from its parent directory?
pub fn is_mount_point(path: &CStr) -> Result<bool, Errno> {
    let st = super::fs::stat(path)?;
    let mut parent = super::PathBuf::<256>::new();
    parent.push(path.to_bytes())?.push(b"/..")?;
    let up = super::fs::stat(parent.as_cstr())?;
    Ok(st.st_dev != up.st_dev || st.st_ino == up.st_ino)
}
