//! Mounts: the classic mount(2), pivot_root, and the new mount API for overlayfs.
use super::{nr, ret, ret_unit, syscall1, syscall2, syscall3, syscall5, Errno, Fd, OwnedFd};
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
pub const MNT_FORCE: u32 = g::MNT_FORCE;
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

/// `fsopen(2)`: a filesystem context for the new mount API.
pub fn fsopen(fstype: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `fstype` is NUL-terminated.
    let r = unsafe { syscall2(nr::__NR_fsopen as usize, fstype.as_ptr() as usize, g::FSOPEN_CLOEXEC as usize) };
    ret(r).map(OwnedFd::from_raw)
}

/// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
pub fn fsconfig_string(ctx: Fd, key: &CStr, value: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated.
    let r = unsafe {
        syscall5(nr::__NR_fsconfig as usize, ctx.raw(), g::fsconfig_command::FSCONFIG_SET_STRING as usize, key.as_ptr() as usize, value.as_ptr() as usize, 0)
    };
    ret_unit(r)
}

/// `fsconfig(FSCONFIG_SET_FLAG, key)`.
pub fn fsconfig_flag(ctx: Fd, key: &CStr) -> Result<(), Errno> {
    // SAFETY: `key` is NUL-terminated.
    let r = unsafe {
        syscall5(nr::__NR_fsconfig as usize, ctx.raw(), g::fsconfig_command::FSCONFIG_SET_FLAG as usize, key.as_ptr() as usize, 0, 0)
    };
    ret_unit(r)
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`: creates the superblock from the configured context.
pub fn fsconfig_create(ctx: Fd) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    let r = unsafe { syscall5(nr::__NR_fsconfig as usize, ctx.raw(), g::fsconfig_command::FSCONFIG_CMD_CREATE as usize, 0, 0, 0) };
    ret_unit(r)
}

/// `fsmount(2)`: a detached mount of the created superblock.
pub fn fsmount(ctx: Fd, attr: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: no memory is passed.
    let r = unsafe { syscall3(nr::__NR_fsmount as usize, ctx.raw(), g::FSMOUNT_CLOEXEC as usize, attr as usize) };
    ret(r).map(OwnedFd::from_raw)
}

pub const MOUNT_ATTR_RDONLY: u32 = g::MOUNT_ATTR_RDONLY;

/// `move_mount(2)` of a detached mount onto `target`.
pub fn move_mount_to(mnt: Fd, target: &CStr) -> Result<(), Errno> {
    // SAFETY: `target` and the empty string are NUL-terminated.
    let r = unsafe {
        syscall5(nr::__NR_move_mount as usize, mnt.raw(), c"".as_ptr() as usize, Fd::CWD.raw(), target.as_ptr() as usize, g::MOVE_MOUNT_F_EMPTY_PATH as usize)
    };
    ret_unit(r)
}

/// `finit_module(2)`: loads a kernel module from an open file.
pub fn finit_module(fd: Fd, params: &CStr, flags: u32) -> Result<(), Errno> {
    // SAFETY: `params` is NUL-terminated.
    let r = unsafe { super::syscall3(nr::__NR_finit_module as usize, fd.raw(), params.as_ptr() as usize, flags as usize) };
    ret_unit(r)
}

/// `MODULE_INIT_COMPRESSED_FILE`: the kernel decompresses the module (Linux 5.17+).
pub const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// `syncfs(2)`.
pub fn syncfs(fd: Fd) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    ret_unit(unsafe { syscall1(nr::__NR_syncfs as usize, fd.raw()) })
}
