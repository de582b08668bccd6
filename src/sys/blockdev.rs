//! Requests to an open block device node.
use super::fs::ioctl;
use super::{Errno, Fd};
use linux_raw_sys::ioctl as io;

/// `BLKFLSBUF`: writes back and drops the device's page cache (`blockdev --flushbufs`).
pub fn flush_buffers(dev: Fd) -> Result<(), Errno> {
    ioctl(dev, io::BLKFLSBUF, 0).map(drop)
}

/// `BLKDISCARD` over the whole device: its content is gone. Only for a device whose data
/// nobody needs any more (a RAM disk after the switch).
pub fn discard_all(dev: Fd) -> Result<(), Errno> {
    let mut size = 0u64;
    ioctl(dev, io::BLKGETSIZE64, &mut size as *mut u64 as usize)?;
    let range: [u64; 2] = [0, size];
    ioctl(dev, io::BLKDISCARD, range.as_ptr() as usize).map(drop)
}
