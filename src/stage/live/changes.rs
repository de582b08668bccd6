//! The changes layer at `changes` (holding overlayfs's `changes/` and `workdir/`): in RAM,
//! or persistent in a directory or an image file (`changes=`, `perch`).
use crate::image::{mount_image, Image, ImageError};
use super::{mount_device, set_path, Path};
use crate::parse::cmdline::{located_path, Located, Wait};
use crate::stage::devices::DEFAULT_WAIT_S;
use crate::stage::Boot;
use crate::sys::fs::{self, Fd, FileType};
use crate::sys::mount::{self, MNT_DETACH, MS_BIND, MS_REMOUNT, MS_SILENT};
use crate::sys::Errno;

/// Undoes [`setup_changes`]: the changes layer, and the other device it may live on.
pub(super) fn undo() {
    super::detach(&[c"changes", c"persist"]);
}

/// Sets up the changes layer at `changes` (holding `changes/` and `workdir/`); whether the
/// changes live on the data device, which must then stay mounted (toram). Anything that
/// fails falls back to RAM with a warning: it never fails the boot.
pub(super) fn setup_changes(boot: &mut Boot, data: &[u8]) -> bool {
    let wanted: Option<&[u8]> = match (boot.cfg.changes, boot.cfg.perch) {
        (Some(c), _) => Some(c),
        // Slax's perch: changes kept in the data dir itself.
        (None, true) => Some(b"changes"),
        (None, false) => None,
    };
    if let Some(spec) = wanted {
        // A full changes device may still take the mount, but not the layer's dirs.
        let persistent = persistent_changes(boot, data, spec).and_then(|on_media| {
            make_layer_dirs().map(|()| on_media).map_err(|e| {
                let _ = mount::umount(c"changes", MNT_DETACH);
                cannot_create(e)
            })
        });
        match persistent {
            Ok(on_media) => {
                info!("changes persist in %s", spec);
                return on_media;
            }
            Err(why) => warning!("changes=%s: %s; keeping changes in RAM", spec, why),
        }
    }
    // In RAM, on the tmpfs: cannot fail for space.
    let _ = make_layer_dirs();
    false
}

/// Mounts the persistent changes at `changes` and tells whether they are on the data device,
/// or says why not.
pub(super) fn persistent_changes(boot: &mut Boot, data: &[u8], spec: &[u8]) -> Result<bool, &'static [u8]> {
    // `any`, not `contains`: that brings core's word-at-a-time memchr (180 bytes).
    let located = if spec.starts_with(b"/") || spec.iter().any(|&b| b == b'=') {
        located_path(spec).ok_or(&b"not a device or path"[..])?
    } else {
        // A bare name is relative to the data dir (Slax's `changes=NAME`).
        Located { device: None, path: spec }
    };
    let base: &[u8] = match located.device {
        None => {
            // On the data device: make it writable first.
            if data.starts_with(b"iso") {
                return Err(b"the data is inside an ISO image (read-only)");
            }
            mount::mount(c"none", c"data", None, MS_REMOUNT | MS_SILENT, None)
                .map_err(|e| if e == Errno::ROFS || e == Errno::ACCES { &b"the data device is read-only"[..] } else { &b"cannot remount the data device read-write"[..] })?;
            if spec.starts_with(b"/") { b"data" } else { data }
        }
        Some(dev_spec) => {
            let i = boot.devices.wait_for(&dev_spec, Wait::Seconds(DEFAULT_WAIT_S)).ok_or(&b"device not found"[..])?;
            boot.devices.probe(i);
            let sb = boot.devices.list[i].sb.ok_or(&b"no known filesystem on the device"[..])?;
            let _ = fs::mkdir(c"persist", 0o755);
            mount_device(&mut boot.devices, i, sb.fstype, c"persist", 0, None).map_err(|_| &b"cannot mount the device read-write"[..])?;
            b"persist"
        }
    };
    let on_media = located.device.is_none();
    let rel = located.path.strip_prefix(b"/").unwrap_or(located.path);
    let mut place = Path::new();
    set_path(&mut place, &[base]).map_err(|_| &b"path too long"[..])?;
    // A directory must live on a filesystem that can hold overlayfs's upper layer.
    let non_posix = fs::statfs_magic_path(place.as_cstr()).is_ok_and(|m| NON_POSIX_MAGICS.contains(&m));
    if !rel.is_empty() {
        place.push(b"/").and_then(|p| p.push(rel)).map_err(|_| &b"path too long"[..])?;
    }
    if fs::stat(place.as_cstr()).is_ok_and(|st| fs::file_type(&st) == FileType::File) {
        // An image file (ext4 on FAT/exFAT/NTFS media).
        return mount_image(Fd::CWD, place.as_cstr(), c"changes", Image::Changes, &mut boot.devices.modules).map_err(|e| match e {
            ImageError::Open(_) => &b"cannot open the image read-write"[..],
            ImageError::Read(_) => b"cannot read the image",
            ImageError::NotImage => b"the image holds no known filesystem",
            ImageError::Mkdir(_) | ImageError::Mount(_) => b"cannot mount the image",
        }).map(|()| on_media);
    }
    if non_posix {
        return Err(b"the filesystem cannot hold a changes dir (FAT/NTFS/exFAT); use changes=/path/file.img");
    }
    fs::mkdir(place.as_cstr(), 0o755).map_err(cannot_create)?;
    mount::mount(place.as_cstr(), c"changes", None, MS_BIND, None).map_err(|_| &b"cannot bind-mount the directory"[..])?;
    Ok(on_media)
}

/// Why a directory for the changes could not be made, in the user's terms.
pub(super) fn cannot_create(e: Errno) -> &'static [u8] {
    match e {
        Errno::ROFS => b"read-only filesystem",
        Errno::NOSPC | Errno::DQUOT => b"no space left on device",
        _ => b"cannot create the directory",
    }
}

/// Makes overlayfs's upper and work dirs in the changes layer mounted at `changes`.
pub(super) fn make_layer_dirs() -> Result<(), Errno> {
    fs::mkdir(c"changes/changes", 0o755)?;
    fs::mkdir(c"changes/workdir", 0o755)
}

/// vfat/msdos, exfat, ntfs3 and ntfs (fuse is not in an initramfs): no owners, modes or
/// whiteouts for overlayfs's upper layer.
pub(super) const NON_POSIX_MAGICS: [u64; 4] = [0x4d44, 0x2011_BAB0, 0x7366_746e, 0x5346_544e];
