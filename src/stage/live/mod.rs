//! The Slax-style live boot: find the data directory, loop-mount its bundles, stack them
//! with overlayfs over a changes layer, apply rootcopy, and pivot into the union with the
//! initramfs kept at /run/initramfs (where Slax's tools and the shutdown role expect it).
//!
//! One file a step, in boot order: [`data`] (find the data dir), [`bundles`] (listed),
//! [`changes`] (from the media, before any copy to RAM, as Slax does), [`toram`],
//! [`bundles`] (mounted), [`union`], [`rootcopy`], [`switch`]; [`crate::image`] loop-mounts
//! the image files the steps need. Each step's `undo` takes down what it mounted, so that a
//! failed attempt leaves the initramfs as it found it (until the switch's point of no
//! return, after which nothing is retried).
//!
//! Everything is mounted under /live, a tmpfs on the initramfs, and the stage works from
//! /live/memory so its paths are short constants (`data`, `bundles/NAME`, `union`). At the
//! end /live becomes the root (MS_MOVE + chroot: pivot_root refuses the initial rootfs before
//! Linux 7.0), and then `pivot_root` puts the union at `/` and /live at /run/initramfs.
mod bundles;
mod changes;
mod data;
mod rootcopy;
mod switch;
mod toram;
mod union;

use super::{devices::Devices, root, Boot};
use crate::out;
use crate::parse::superblock::FsType;
use crate::sys::fs::{self, Fd, O_DIRECTORY, O_RDONLY};
use crate::sys::mount::{self, MNT_DETACH, MS_SILENT};
use crate::sys::{Errno, PathBuf};
use crate::{report, Reported};
use bundles::{mount_bundles, Bundles, Candidate, Place, MAX_CANDIDATES, NAMES_ARENA};
use changes::setup_changes;
use core::ffi::CStr;
use data::find_data;
use rootcopy::{copy_file, copy_rootcopy};
use switch::switch_live;
use toram::copy_to_ram;
use union::mount_union;

/// Slax's default data directory name (`live=` overrides it).
const DEFAULT_DIR: &[u8] = b"slax";

/// Paths below /live/memory, relative to it (the working directory during the stage).
type Path = PathBuf<512>;

/// Runs the live boot; returns only after reporting why it failed.
pub fn run(boot: &mut Boot) -> Reported {
    let failed = match assemble(boot) {
        Ok(r) | Err(r) => r,
    };
    // Past the switch's point of no return there is no initramfs world to go back to.
    if !super::switch::past_point_of_no_return() {
        undo();
    }
    failed
}

/// Undoes a failed attempt, last step first, so that a retry starts from a clean initramfs:
/// the union, the changes, the bundles (their loop devices detach with their mounts:
/// AUTOCLEAR), the RAM copy, the data device, then the /live tmpfs that held them all.
// Out of line: smaller so (measured: aarch64 -40 B, x86_64 -32 B).
#[inline(never)]
fn undo() {
    if fs::chdir(c"/live/memory").is_ok() {
        union::undo();
        changes::undo();
        bundles::undo();
        toram::undo();
        data::undo();
    }
    // The working directory would keep the detached tmpfs alive.
    let _ = fs::chdir(c"/");
    detach(&[c"/live"]);
}

/// Detaches the mounts at `targets`. EINVAL means nothing is mounted there (the step did not
/// get that far): nothing to undo.
fn detach(targets: &[&CStr]) {
    for target in targets {
        let _ = mount::umount(target, MNT_DETACH);
    }
}

#[inline(never)]
fn assemble(boot: &mut Boot) -> Result<Reported, Reported> {
    let cfg = boot.cfg;
    setup_live_root()?;
    out::stage(b"live: looking for data");
    let mut data = Path::new();
    find_data(boot, cfg.live.unwrap_or(DEFAULT_DIR), &mut data)?;
    out::stage(b"live: data found");
    let mut bundles = Bundles { arena: [0; NAMES_ARENA], used: 0, items: [Candidate { place: Place::Top, start: 0, len: 0 }; MAX_CANDIDATES], count: 0, dropped: 0 };
    // The bundles' directory: the data dir, or its copy in RAM.
    let mut source = fs::open(data.as_cstr(), O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", data.as_bytes(), e))?;
    for place in Place::ALL {
        bundles.collect(source.fd(), place, cfg.load, cfg.noload);
    }
    bundles.sort();
    bundles.name_dropped(source.fd(), cfg.load, cfg.noload);
    // Slax's order: the changes come from the media before any copy to RAM (with toram a
    // relative changes= or perch would otherwise land in the RAM copy and be lost).
    let changes_on_media = setup_changes(boot, data.as_bytes());
    let to_ram = cfg.toram.is_some() && copy_to_ram(source.fd(), &bundles);
    if to_ram {
        source = fs::open(c"toram", O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", b"toram", e))?;
    }
    let mounted = mount_bundles(source.fd(), &bundles, &mut boot.devices.modules);
    out::stage(b"live: bundles mounted");
    if mounted == 0 {
        error!("no bundle could be mounted");
        return Err(Reported);
    }
    boot.devices.modules.load_fs(b"overlay");
    mount_union(mounted)?;
    out::stage(b"live: union mounted");
    match copy_rootcopy(source.fd(), c"union") {
        Some(0) => out::stage(b"live: rootcopy applied"),
        Some(errors) => warning!("rootcopy: %n entries could not be copied"; errors),
        None => {}
    }
    drop(source);
    if to_ram && !changes_on_media {
        // The media can go: nothing is read from it any more. (Changes on it keep it.)
        for &m in &[c"iso", c"data"] {
            if let Err(e) = mount::umount(m, 0) {
                if e != Errno::INVAL {
                    report(b"toram: release", m.to_bytes(), e);
                }
            }
        }
    }
    let root = fs::open(c"union", O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", b"union", e))?;
    let mut init_buf = PathBuf::new();
    let init = root::pick_init(root.fd(), cfg.init, &mut init_buf)?;
    drop(root);
    switch_live(boot, init)
}

/// Enters the directory `dir`, reporting failure.
fn enter(dir: &CStr) -> Result<(), Reported> {
    fs::chdir(dir).map_err(|e| report(b"chdir", dir.to_bytes(), e))
}

/// Makes the directories packed in `dirs` (`b"a\0b\0"`), reporting the first that cannot
/// be made.
fn mkdirs(dirs: &[u8]) -> Result<(), Reported> {
    for d in crate::sys::cstr::packed(dirs) {
        fs::mkdir(d, 0o755).map_err(|e| report(b"mkdir", d.to_bytes(), e))?;
    }
    Ok(())
}

/// Mounts the tmpfs that will become /run/initramfs, with Slax's `memory/` layout, puts the
/// init there (it serves as /run/initramfs/shutdown), and enters /live/memory.
fn setup_live_root() -> Result<(), Reported> {
    let _ = fs::mkdir(c"/live", 0o755);
    mount::mount(c"tmpfs", c"/live", Some(c"tmpfs"), 0, Some(c"mode=0755")).map_err(|e| report(b"mount tmpfs on", b"/live", e))?;
    enter(c"/live")?;
    mkdirs(b"memory\0bin\0dev\0proc\0sys\0run\0oldroot\0")?;
    copy_file(Fd::CWD, c"/init", Fd::CWD, c"init").map_err(|e| report(b"copy /init to", b"/live/init", e))?;
    // The name systemd execs at shutdown, and a rescue shell then when the image has one.
    let _ = fs::symlinkat(c"init", Fd::CWD, c"shutdown");
    // `bundle activate|deactivate|list` in the running system.
    #[cfg(feature = "activate")]
    let _ = fs::symlinkat(c"init", Fd::CWD, c"bundle");
    if copy_file(Fd::CWD, c"/bin/busybox", Fd::CWD, c"bin/busybox").is_ok() {
        let _ = fs::symlinkat(c"busybox", Fd::CWD, c"bin/sh");
    }
    enter(c"/live/memory")?;
    mkdirs(b"data\0iso\0toram\0bundles\0changes\0union\0l\0")
}

/// Makes `path` the concatenation of `parts`, in place (no 512-byte value to move).
fn set_path(path: &mut Path, parts: &[&[u8]]) -> Result<(), Errno> {
    path.truncate(0);
    for part in parts {
        path.push(part)?;
    }
    Ok(())
}

/// Mounts device `i`, holding a filesystem of type `fstype`, at `target`, with `options`.
fn mount_device(devices: &mut Devices, i: usize, fstype: FsType, target: &CStr, flags: u32, options: Option<&CStr>) -> Result<(), Errno> {
    let dev_path = devices.list[i].path();
    let fstype = crate::image::fs_driver(&mut devices.modules, fstype);
    mount::mount(dev_path.as_cstr(), target, Some(fstype.as_cstr()), flags | MS_SILENT, options)
}
