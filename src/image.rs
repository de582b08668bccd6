//! Loop-mounting image files: bundles, an ISO file holding the data, a changes image. A
//! floor below `stage/` and `role/`: the live boot mounts them all, the `bundle` role
//! (feature `activate`) mounts bundles into the running system.
use crate::parse::superblock::{self, FsType};
use crate::kmod::Modules;
use crate::sys::fs::{self, Fd, O_RDONLY, O_RDWR};
use crate::sys::mount::{self, MS_RDONLY, MS_SILENT};
use crate::sys::{loopdev, Errno, PathBuf};
use core::ffi::CStr;

/// A filesystem image file to loop-mount.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Image {
    Bundle,
    Iso,
    Changes,
}

/// Why an image file could not be loop-mounted.
pub enum ImageError {
    Open(Errno),
    /// Reading its first bytes failed (a bad sector, a pulled disk).
    Read(Errno),
    NotImage,
    Mkdir(Errno),
    Mount(Errno),
}

/// Loop-mounts the image `file` (relative to `dir`) at `target` (made if missing): read-write only for changes;
/// a bundle must be squashfs or EROFS.
pub fn mount_image(dir: Fd, file: &CStr, target: &CStr, kind: Image, modules: &mut Modules) -> Result<(), ImageError> {
    let writable = kind == Image::Changes;
    let fd = fs::openat(dir, file, if writable { O_RDWR } else { O_RDONLY }, 0).map_err(ImageError::Open)?;
    // Only as much as identifies it: squashfs needs 96 bytes, EROFS up to its volume name at
    // 1088..1104, ext4 2 KiB, ISO 9660 36 KiB.
    let mut head = [0u8; 36864];
    let len = match kind {
        Image::Bundle => 1104,
        Image::Changes => 2048,
        Image::Iso => head.len(),
    };
    let n = fs::read_full(fd.fd(), &mut head[..len]).map_err(ImageError::Read)?;
    let fstype = superblock::probe(&head[..n])
        .map(|sb| sb.fstype)
        .filter(|t| kind != Image::Bundle || matches!(t, FsType::Squashfs | FsType::Erofs))
        .ok_or(ImageError::NotImage)?;
    fs::mkdir(target, 0o755).map_err(ImageError::Mkdir)?;
    let fstype = fs_driver(modules, fstype);
    mount_loop(fd.fd(), target, fstype.as_cstr(), writable).map_err(|e| {
        if kind == Image::Bundle {
            // The directory was made here, empty: nothing else can be lost with it.
            let _ = fs::unlinkat(Fd::CWD, target, fs::AT_REMOVEDIR);
        }
        ImageError::Mount(e)
    })
}

/// Loads the drivers of `fstype` (from this system's modules: no modprobe helper) and gives
/// its mount(2) type name.
pub fn fs_driver(modules: &mut Modules, fstype: FsType) -> PathBuf<16> {
    let mut name = PathBuf::new();
    // The longest type name, `iso9660`, fits.
    let _ = name.push(fstype.mount_type().unwrap_or(b"none"));
    modules.load_fs(name.as_bytes());
    name
}

/// Attaches `backing` to a free loop device and mounts it at `target`. The backing fd stays
/// open until mount(2) returns: with AUTOCLEAR the device would detach without it.
pub fn mount_loop(backing: Fd, target: &CStr, fstype: &CStr, writable: bool) -> Result<(), Errno> {
    let control = loopdev::control()?;
    let mut attempts = 0;
    loop {
        let n = loopdev::get_free(control.fd())?;
        let dev_path = loopdev::path(n);
        let dev = fs::open(dev_path.as_cstr(), if writable { O_RDWR } else { O_RDONLY })?;
        let flags = loopdev::LO_FLAGS_AUTOCLEAR | if writable { 0 } else { loopdev::LO_FLAGS_READ_ONLY };
        match loopdev::attach(dev.fd(), backing, flags) {
            // Another attach raced us to this device: ask for the next free one.
            Err(Errno::BUSY) if attempts < 8 => {
                attempts += 1;
                continue;
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let flags = MS_SILENT | if writable { 0 } else { MS_RDONLY };
        let result = mount::mount(dev_path.as_cstr(), target, Some(fstype), flags, None);
        if result.is_err() {
            let _ = loopdev::detach(dev.fd());
        }
        return result;
    }
}
