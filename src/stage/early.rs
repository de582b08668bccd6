//! Early mounts: the API filesystems every later stage and the real init rely on.
use crate::sys::fs;
use crate::sys::mount::{mount, MS_NODEV, MS_NOEXEC, MS_NOSUID};
use core::ffi::CStr;

/// The kernel's COMMAND_LINE_SIZE is 2048 on x86 and 4096 elsewhere.
pub const CMDLINE_MAX: usize = 4096;

/// What to mount where, one row per filesystem (systemd's table style).
const API_MOUNTS: [(&CStr, &CStr, u32, Option<&CStr>); 4] = [
    (c"proc", c"/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
    (c"sysfs", c"/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
    // Block device nodes appear here by themselves: no mknod, no udev.
    (c"devtmpfs", c"/dev", MS_NOSUID, Some(c"mode=0755")),
    // /run moves into the real root; systemd and the live boot keep state there.
    (c"tmpfs", c"/run", MS_NOSUID | MS_NODEV, Some(c"mode=0755")),
];

pub fn mount_api_filesystems() {
    for &(fstype, target, flags, data) in &API_MOUNTS {
        // The packer creates these directories; mkdir covers hand-made images.
        let _ = fs::mkdir(target, 0o755);
        if let Err(e) = mount(fstype, target, Some(fstype), flags, data) {
            // EBUSY: already mounted (CONFIG_DEVTMPFS_MOUNT-like setups); harmless.
            if e != crate::sys::Errno::BUSY {
                error!("mount %s: %e", target.to_bytes(); e);
            }
        }
    }
}

/// Reads /proc/cmdline, without its trailing newline.
pub fn read_cmdline(buf: &mut [u8; CMDLINE_MAX]) -> &[u8] {
    match fs::read_file(fs::Fd::CWD, c"/proc/cmdline", buf) {
        Ok(text) => text.strip_suffix(b"\n").unwrap_or(text),
        Err(e) => {
            error!("read /proc/cmdline: %e"; e);
            &[]
        }
    }
}
