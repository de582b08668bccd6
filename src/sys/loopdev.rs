//! Loop devices: attach a file, read-only, in one ioctl where the kernel allows.
use super::fs::{ioctl, open, O_RDWR};
use super::{Errno, Fd, OwnedFd, PathBuf};
use linux_raw_sys::loop_device as l;

pub const LO_FLAGS_READ_ONLY: u32 = l::LO_FLAGS_READ_ONLY as u32;
pub const LO_FLAGS_AUTOCLEAR: u32 = l::LO_FLAGS_AUTOCLEAR as u32;

/// A free loop device number from `/dev/loop-control` (the kernel creates one if needed).
pub fn get_free(control: Fd) -> Result<u32, Errno> {
    ioctl(control, l::LOOP_CTL_GET_FREE, 0).map(|n| n as u32)
}

/// `/dev/loopN`.
pub fn path(n: u32) -> PathBuf<24> {
    let mut p = PathBuf::new();
    let mut digits = [0u8; 20];
    let _ = p.push(b"/dev/loop");
    let _ = p.push(super::cstr::format_u64(n as u64, &mut digits));
    p
}

/// Attaches `backing` to the open loop device with `flags`: LOOP_CONFIGURE (Linux 5.8, no
/// per-device settle wait), else LOOP_SET_FD + LOOP_SET_STATUS64. On failure the device is
/// left detached: LOOP_CONFIGURE is one step, and the old pair is undone when its second
/// half fails (an attached device without its flags, read-write and never cleared, would
/// otherwise stay behind).
pub fn attach(dev: Fd, backing: Fd, flags: u32) -> Result<(), Errno> {
    // SAFETY: all-zero is a valid loop_config.
    let mut config: l::loop_config = unsafe { core::mem::zeroed() };
    config.fd = backing.0 as u32;
    config.info.lo_flags = flags;
    #[cfg(feature = "fault-hooks")]
    let configure = !fault_hook(backing, &mut config.info);
    #[cfg(not(feature = "fault-hooks"))]
    let configure = true;
    if configure {
        match ioctl(dev, l::LOOP_CONFIGURE, &config as *const _ as usize) {
            Err(Errno::INVAL) | Err(Errno::NOTTY) => {}
            other => return other.map(|_| ()),
        }
    }
    ioctl(dev, l::LOOP_SET_FD, backing.0 as usize)?;
    ioctl(dev, l::LOOP_SET_STATUS64, &config.info as *const _ as usize).map(|_| ()).inspect_err(|_| {
        // The error reported is the configuration's; a failed detach leaves nothing to do.
        let _ = detach(dev);
    })
}

/// The backing file name that [`fault_hook`] fails.
#[cfg(feature = "fault-hooks")]
const FAULT_HOOK_MARKER: &[u8] = b"rdinit-test-loop-fail";

/// Fault injection for tests/hooks.rs only (feature `fault-hooks`, never in a shipped
/// build): when the backing file's name contains FAULT_HOOK_MARKER, asks for the
/// pre-5.8 path (returns true) with an offset past LLONG_MAX, which the kernel's
/// LOOP_SET_STATUS64 refuses (EOVERFLOW) after LOOP_SET_FD has attached the file: the
/// detach above then runs on the real loop driver.
#[cfg(feature = "fault-hooks")]
fn fault_hook(backing: Fd, info: &mut l::loop_info64) -> bool {
    let mut digits = [0u8; 20];
    let mut name = [0u8; 256];
    let mut fd_path = PathBuf::<40>::new();
    let fail = fd_path
        .push(b"/proc/self/fd/")
        .and_then(|p| p.push(super::cstr::format_u64(backing.0 as u64, &mut digits)))
        .and_then(|p| super::fs::readlinkat(Fd::CWD, p.as_cstr(), &mut name))
        .is_ok_and(|n| n.windows(FAULT_HOOK_MARKER.len()).any(|w| w == FAULT_HOOK_MARKER));
    if fail {
        info.lo_offset = u64::MAX;
    }
    fail
}

/// `LOOP_CLR_FD`: detaches (deferred by the kernel while the device is still mounted).
pub fn detach(dev: Fd) -> Result<(), Errno> {
    ioctl(dev, l::LOOP_CLR_FD, 0).map(|_| ())
}

/// Opens `/dev/loop-control`.
pub fn control() -> Result<OwnedFd, Errno> {
    open(c"/dev/loop-control", O_RDWR)
}
