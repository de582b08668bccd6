//! Finding the data directory: every device (or the one `from=` names) is mounted read-only
//! at `data` until one holds the data dir, or an ISO file holding it (loop-mounted at `iso`).
use crate::image::{mount_image, Image, ImageError};
use super::{mount_device, set_path, Path};
use crate::parse::cmdline::{located_path, DeviceSpec, Located};
use crate::parse::superblock::FsType;
use crate::stage::devices::Devices;
use crate::kmod::Modules;
use crate::stage::Boot;
use crate::sys::fs::{self, Dir, Fd, FileType};
use crate::sys::mount::{self, MNT_DETACH, MS_RDONLY};
use crate::sys::{process, Errno};
use crate::Reported;
use core::ffi::CStr;

/// What a device held when it was tried as the data source.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Untried,
    NoFilesystem,
    MountFailed(Errno),
    NoDataDir,
    NoBundles,
}

/// Undoes [`find_data`]: the ISO file's mount, then the data device's.
pub(super) fn undo() {
    super::detach(&[c"iso", c"data"]);
}

/// Finds and mounts the device holding the data dir, and puts the data dir's path in `data`.
// Out of line: the init is smaller so (measured).
#[inline(never)]
pub(super) fn find_data(boot: &mut Boot, dir_name: &[u8], data: &mut Path) -> Result<(), Reported> {
    let from: Option<Located> = match boot.cfg.from {
        Some(f) => match located_path(f) {
            Some(l) => Some(l),
            None => {
                error!("from=%s: not a device or path", f);
                return Err(Reported);
            }
        },
        None => None,
    };
    let spec: Option<DeviceSpec> = from.and_then(|l| l.device);
    let sub = from.map(|l| l.path).filter(|p| !p.is_empty() && *p != b"/");
    let wanted = sub.unwrap_or(dir_name);
    let limit_ms = crate::stage::devices::wait_limit_ms(boot.cfg.rootwait);
    let start = process::boottime_ms();
    let mut verdicts = [Verdict::Untried; crate::stage::devices::MAX_DEVICES];
    let mut announced = false;
    boot.devices.scan();
    loop {
        for (i, verdict) in verdicts.iter_mut().enumerate().take(boot.devices.list.len()) {
            if *verdict != Verdict::Untried || spec.as_ref().is_some_and(|s| !boot.devices.is_match(i, s)) {
                continue;
            }
            boot.devices.probe(i);
            match try_device(boot, i, sub, dir_name, data) {
                Ok(()) => {
                    // `slax` on the device itself, `iso/slax` inside an ISO file on it.
                    let d = data.as_bytes();
                    info!("data %s on %s", d.strip_prefix(b"data/").unwrap_or(d), boot.devices.list[i].name.as_bytes());
                    return Ok(());
                }
                Err(v) => *verdict = v,
            }
        }
        let waited = process::boottime_ms() - start;
        if waited >= limit_ms {
            break;
        }
        if !announced {
            announced = true;
            info!("waiting for a device with %s", wanted);
        }
        boot.devices.wait_events((limit_ms - waited).min(1000) as u32);
    }
    let secs = limit_ms.min(u32::MAX as u64) / 1000;
    match boot.cfg.from {
        Some(f) => error!("could not locate the data directory %s (from=%s) after %n s", wanted, f; secs),
        None => error!("could not locate the data directory %s after %n s", wanted; secs),
    }
    // What each device is: "NAME " or "NAME FSTYPE label=LABEL: " (the parts are short).
    let mut what = Path::new();
    for (dev, &verdict) in boot.devices.list.iter().zip(&verdicts) {
        let name = dev.name.as_bytes();
        if name.starts_with(b"loop") || name.starts_with(b"ram") {
            continue;
        }
        let _ = match &dev.sb {
            Some(sb) => set_path(&mut what, &[name, b" ", sb.fstype.name(), b" label=", sb.label.as_bytes(), b": "]),
            None => set_path(&mut what, &[name, b" "]),
        };
        let seen = what.as_bytes();
        match verdict {
            Verdict::Untried => error!("seen %snot tried (does not match from=)", seen),
            Verdict::NoFilesystem => error!("seen %sno known filesystem", seen),
            Verdict::MountFailed(e) => error!("seen %smount failed: %e", seen; e),
            Verdict::NoDataDir => error!("seen %sno %s", seen, wanted),
            Verdict::NoBundles => error!("seen %s%s holds no bundles (*.sb)", seen, wanted),
        }
    }
    Err(Reported)
}

/// Mounts device `i` read-only at `data` and looks for the data dir (or the ISO file) on it,
/// leaving the data dir's path in `data`.
pub(super) fn try_device(boot: &mut Boot, i: usize, sub: Option<&[u8]>, dir_name: &[u8], data: &mut Path) -> Result<(), Verdict> {
    let dev = &boot.devices.list[i];
    let fstype = match &dev.sb {
        Some(sb) if !matches!(sb.fstype, FsType::Squashfs | FsType::Erofs) => sb.fstype,
        _ => return Err(Verdict::NoFilesystem),
    };
    // Read-only and without journal replay while searching: a device that is not ours is
    // never written.
    let no_replay = no_replay_option(fstype);
    mount_device(&mut boot.devices, i, fstype, c"data", MS_RDONLY, no_replay).map_err(Verdict::MountFailed)?;
    let sub = sub.map(|s| s.strip_prefix(b"/").unwrap_or(s));
    let found = match set_path(data, &[b"data/", sub.unwrap_or(dir_name)]) {
        Err(_) => Err(Verdict::NoDataDir),
        Ok(()) if sub.is_some() && fs::stat(data.as_cstr()).is_ok_and(|st| fs::file_type(&st) == FileType::File) => {
            mount_for_real(&mut boot.devices, i, fstype, no_replay).and_then(|()| mount_iso(data, dir_name, &mut boot.devices.modules))
        }
        Ok(()) => data_dir(data).and_then(|()| mount_for_real(&mut boot.devices, i, fstype, no_replay)),
    };
    if found.is_err() {
        let _ = mount::umount(c"data", MNT_DETACH);
    }
    found
}

/// The option that keeps a read-only mount from writing: a read-only ext3/ext4, XFS or btrfs
/// mount still replays its journal (log), on a disk that may belong to another system or to
/// a hibernated one. (Slax's own search mounts every candidate read-write.)
fn no_replay_option(fstype: FsType) -> Option<&'static CStr> {
    match fstype {
        FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => Some(c"noload"),
        FsType::Xfs => Some(c"norecovery"),
        FsType::Btrfs => Some(c"nologreplay"),
        _ => None,
    }
}

/// Mounts the device where the data was found again, read-only with its journal replayed:
/// it is the media the user boots from. A remount cannot turn the replay back on.
fn mount_for_real(devices: &mut Devices, i: usize, fstype: FsType, searched_with: Option<&CStr>) -> Result<(), Verdict> {
    if searched_with.is_some() {
        mount::umount(c"data", 0).map_err(Verdict::MountFailed)?;
        mount_device(devices, i, fstype, c"data", MS_RDONLY, None).map_err(Verdict::MountFailed)?;
    }
    Ok(())
}

/// Whether the directory `dir` holds bundles, else why not.
pub(super) fn data_dir(dir: &mut Path) -> Result<(), Verdict> {
    let len = dir.len();
    let found = has_bundle_files(dir.as_cstr()) || (dir.push(b"/modules").is_ok() && has_bundle_files(dir.as_cstr()));
    dir.truncate(len);
    if found {
        Ok(())
    } else if fs::stat(dir.as_cstr()).is_ok() {
        Err(Verdict::NoBundles)
    } else {
        Err(Verdict::NoDataDir)
    }
}

/// Does `dir` hold at least one `*.sb`?
pub(super) fn has_bundle_files(dir: &CStr) -> bool {
    let mut d = Dir::open(dir);
    while let Ok(Some(e)) = d.next_entry() {
        if e.name().ends_with(b".sb") {
            return true;
        }
    }
    false
}

/// Loop-mounts the ISO file named by `path` at `iso`, and replaces `path` with the data dir
/// inside it.
pub(super) fn mount_iso(path: &mut Path, dir_name: &[u8], modules: &mut Modules) -> Result<(), Verdict> {
    mount_image(Fd::CWD, path.as_cstr(), c"iso", Image::Iso, modules).map_err(|e| match e {
        ImageError::Open(e) | ImageError::Read(e) | ImageError::Mkdir(e) | ImageError::Mount(e) => Verdict::MountFailed(e),
        ImageError::NotImage => {
            warning!("%s: not a filesystem image", path.as_bytes());
            Verdict::NoDataDir
        }
    })?;
    let found = match set_path(path, &[b"iso/", dir_name]) {
        Ok(()) => data_dir(path),
        Err(_) => Err(Verdict::NoDataDir),
    };
    if found.is_err() {
        let _ = mount::umount(c"iso", MNT_DETACH);
    }
    found
}
