//! The Slax-style live boot: find the data directory, loop-mount its bundles, stack them
//! with overlayfs over a changes layer, apply rootcopy, and pivot into the union with the
//! initramfs kept at /run/initramfs (where Slax's tools and the shutdown role expect it).
//!
//! Everything is mounted under /live, a tmpfs on the initramfs, and the stage works from
//! /live/memory so its paths are short constants (`data`, `bundles/NAME`, `union`). At the
//! end /live becomes the root (MS_MOVE + chroot: pivot_root refuses the initial rootfs before
//! Linux 7.0), and then `pivot_root` puts the union at `/` and /live at /run/initramfs.
use super::{devices::{Devices, DEFAULT_WAIT_S}, root, switch, Boot};
use crate::kmod::Modules;
use crate::out;
use crate::parse::cmdline::{located_path, DeviceSpec, Located, Wait};
use crate::parse::pattern::{matches_any, natural_cmp};
use crate::parse::superblock::{self, FsType};
use crate::sys::fs::{self, Dir, Fd, FileType, O_DIRECTORY, O_RDONLY, O_RDWR};
use crate::sys::mount::{self, MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, MS_SILENT};
use crate::sys::cstr::until_nul;
use crate::sys::{loopdev, process, Errno, PathBuf};
use crate::{report, Reported};
use core::ffi::CStr;

/// Slax's default data directory name (`live=` overrides it).
const DEFAULT_DIR: &[u8] = b"slax";
/// overlayfs's limit on lower layers.
pub const MAX_BUNDLES: usize = 500;
/// Bundle files considered before sorting (the ones past MAX_BUNDLES are refused by name).
const MAX_CANDIDATES: usize = 1024;
/// Bytes for all candidate bundle names.
const NAMES_ARENA: usize = 160 * 1024;
/// RAM kept free after a toram copy.
const TORAM_RESERVE: u64 = 64 << 20;

/// Paths below /live/memory, relative to it (the working directory during the stage).
type Path = PathBuf<512>;

/// Where a bundle file sits inside the data directory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Top,
    Modules,
    Optional,
}

impl Place {
    fn subdir(self) -> &'static [u8] {
        match self {
            Place::Top => b"",
            Place::Modules => b"modules/",
            Place::Optional => b"optional/",
        }
    }

    fn dir(self) -> &'static CStr {
        match self {
            Place::Top => c".",
            Place::Modules => c"modules",
            Place::Optional => c"optional",
        }
    }
}

#[derive(Clone, Copy)]
struct Candidate {
    place: Place,
    start: u32,
    len: u16,
}

/// The bundle file names found, in a fixed arena.
struct Bundles {
    arena: [u8; NAMES_ARENA],
    used: usize,
    items: [Candidate; MAX_CANDIDATES],
    count: usize,
    dropped: usize,
}

impl Bundles {
    fn name(&self, c: &Candidate) -> &[u8] {
        &self.arena[c.start as usize..c.start as usize + c.len as usize]
    }

    /// The bundle's path relative to the data dir.
    fn rel_path(&self, c: &Candidate, path: &mut Path) -> Result<(), Errno> {
        set_path(path, &[c.place.subdir(), self.name(c)])
    }

    fn add(&mut self, place: Place, name: &[u8]) {
        if self.count == MAX_CANDIDATES || self.used + name.len() > NAMES_ARENA {
            self.dropped += 1;
            return;
        }
        self.arena[self.used..self.used + name.len()].copy_from_slice(name);
        self.items[self.count] = Candidate { place, start: self.used as u32, len: name.len() as u16 };
        self.used += name.len();
        self.count += 1;
    }

    /// Lists `*.sb` in one subdirectory of the data dir, filtered by `load=`/`noload=`.
    fn collect(&mut self, data: Fd, place: Place, load: Option<&[u8]>, noload: Option<&[u8]>) {
        let Ok(mut dir) = Dir::open_at(data, place.dir()) else { return };
        while let Ok(Some(e)) = dir.next_entry() {
            let name = e.name();
            if !name.ends_with(b".sb") || e.kind == FileType::Dir {
                continue;
            }
            let wanted = match place {
                // load= picks from optional/; noload= drops from the default set.
                Place::Optional => load.is_some_and(|l| matches_any(l, name)),
                _ => !noload.is_some_and(|l| matches_any(l, name)),
            };
            if wanted {
                self.add(place, name);
            }
        }
    }

    /// Shell sort by (place, natural name order): a few hundred bytes of code where
    /// core's sort costs kilobytes, and fast enough for 1,024 names.
    fn sort(&mut self) {
        let n = self.count;
        let mut gap = n / 2;
        while gap > 0 {
            for i in gap..n {
                let mut j = i;
                while j >= gap && self.before(j, j - gap) {
                    self.items.swap(j, j - gap);
                    j -= gap;
                }
            }
            gap /= 2;
        }
    }

    fn before(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.items[a], &self.items[b]);
        x.place.cmp(&y.place).then_with(|| natural_cmp(self.name(x), self.name(y))).is_lt()
    }
}

/// Runs the live boot; returns only after reporting why it failed.
pub fn run(boot: &mut Boot) -> Reported {
    match assemble(boot) {
        Ok(r) | Err(r) => r,
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
    for &place in &[Place::Top, Place::Modules, Place::Optional] {
        bundles.collect(source.fd(), place, cfg.load, cfg.noload);
    }
    bundles.sort();
    let to_ram = cfg.toram.is_some() && copy_to_ram(source.fd(), &bundles);
    if to_ram {
        source = fs::open(c"toram", O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", b"toram", e))?;
    }
    let source_path: &[u8] = if to_ram { b"toram" } else { data.as_bytes() };
    let mounted = mount_bundles(source.fd(), &bundles, &mut boot.devices.modules);
    out::stage(b"live: bundles mounted");
    if mounted == 0 {
        error!("no bundle could be mounted");
        return Err(Reported);
    }
    setup_changes(boot, source_path);
    boot.devices.modules.load_fs(b"overlay");
    mount_union(mounted)?;
    out::stage(b"live: union mounted");
    match copy_rootcopy(source.fd(), c"union") {
        Some(0) => out::stage(b"live: rootcopy applied"),
        Some(errors) => warning!("rootcopy: %n entries could not be copied"; errors),
        None => {}
    }
    drop(source);
    if to_ram {
        // The media can go: nothing is read from it any more.
        for &m in &[c"iso", c"data"] {
            if let Err(e) = mount::umount(m, 0) {
                if e != Errno::INVAL {
                    report(b"toram: release", m.to_bytes(), e);
                }
            }
        }
    }
    let root = fs::open(c"union", O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", b"union", e))?;
    let init = root::pick_init(root.fd(), cfg.init)?;
    drop(root);
    switch_live(boot, init.as_cstr())
}

/// Enters the directory `dir`, reporting failure.
fn enter(dir: &CStr) -> Result<(), Reported> {
    fs::chdir(dir).map_err(|e| report(b"chdir", dir.to_bytes(), e))
}

/// Makes directories, reporting the first that cannot be made.
fn mkdirs(dirs: &[&CStr]) -> Result<(), Reported> {
    for d in dirs {
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
    mkdirs(&[c"memory", c"bin", c"dev", c"proc", c"sys", c"run", c"oldroot"])?;
    copy_file(Fd::CWD, c"/init", Fd::CWD, c"init").map_err(|e| report(b"copy /init to", b"/live/init", e))?;
    // The name systemd execs at shutdown, and a rescue shell then when the image has one.
    let _ = fs::symlinkat(c"init", Fd::CWD, c"shutdown");
    if copy_file(Fd::CWD, c"/bin/busybox", Fd::CWD, c"bin/busybox").is_ok() {
        let _ = fs::symlinkat(c"busybox", Fd::CWD, c"bin/sh");
    }
    enter(c"/live/memory")?;
    mkdirs(&[c"data", c"iso", c"toram", c"bundles", c"changes", c"union", c"l"])
}

/// Makes `path` the concatenation of `parts`, in place (no 512-byte value to move).
fn set_path(path: &mut Path, parts: &[&[u8]]) -> Result<(), Errno> {
    path.truncate(0);
    for part in parts {
        path.push(part)?;
    }
    Ok(())
}

/// What a device held when it was tried as the data source.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Untried,
    NoFilesystem,
    MountFailed(Errno),
    NoDataDir,
    NoBundles,
}

/// Finds and mounts the device holding the data dir, and puts the data dir's path in `data`.
// Out of line: the init is smaller so (measured).
#[inline(never)]
fn find_data(boot: &mut Boot, dir_name: &[u8], data: &mut Path) -> Result<(), Reported> {
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
    let limit_ms = super::devices::wait_limit_ms(boot.cfg.rootwait);
    let start = process::boottime_ms();
    let mut verdicts = [Verdict::Untried; super::devices::MAX_DEVICES];
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
    for (dev, verdict) in boot.devices.list.iter().zip(verdicts) {
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

/// Loads the drivers of `fstype` (the image's, in this process: no modprobe helper) and
/// gives its mount(2) type name.
fn fs_driver(modules: &mut Modules, fstype: FsType) -> PathBuf<16> {
    let name = PathBuf::from_parts(&[fstype.mount_type().unwrap_or(b"none")]).unwrap_or_default();
    modules.load_fs(name.as_bytes());
    name
}

/// Mounts device `i`, holding a filesystem of type `fstype`, at `target`.
fn mount_device(devices: &mut Devices, i: usize, fstype: FsType, target: &CStr, flags: u32) -> Result<(), Errno> {
    let dev_path = devices.list[i].path();
    let fstype = fs_driver(&mut devices.modules, fstype);
    mount::mount(dev_path.as_cstr(), target, Some(fstype.as_cstr()), flags | MS_SILENT, None)
}

/// Mounts device `i` read-only at `data` and looks for the data dir (or the ISO file) on it,
/// leaving the data dir's path in `data`.
fn try_device(boot: &mut Boot, i: usize, sub: Option<&[u8]>, dir_name: &[u8], data: &mut Path) -> Result<(), Verdict> {
    let dev = &boot.devices.list[i];
    let fstype = match &dev.sb {
        Some(sb) if !matches!(sb.fstype, FsType::Squashfs | FsType::Erofs) => sb.fstype,
        _ => return Err(Verdict::NoFilesystem),
    };
    // Read-only while searching: a device that is not ours is never written.
    mount_device(&mut boot.devices, i, fstype, c"data", MS_RDONLY).map_err(Verdict::MountFailed)?;
    let modules = &mut boot.devices.modules;
    let sub = sub.map(|s| s.strip_prefix(b"/").unwrap_or(s));
    let found = match set_path(data, &[b"data/", sub.unwrap_or(dir_name)]) {
        Err(_) => Err(Verdict::NoDataDir),
        Ok(()) if sub.is_some() && fs::stat(data.as_cstr()).is_ok_and(|st| fs::file_type(&st) == FileType::File) => mount_iso(data, dir_name, modules),
        Ok(()) => data_dir(data),
    };
    if found.is_err() {
        let _ = mount::umount(c"data", MNT_DETACH);
    }
    found
}

/// Whether the directory `dir` holds bundles, else why not.
fn data_dir(dir: &mut Path) -> Result<(), Verdict> {
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
fn has_bundle_files(dir: &CStr) -> bool {
    let Ok(mut d) = Dir::open(dir) else { return false };
    while let Ok(Some(e)) = d.next_entry() {
        if e.name().ends_with(b".sb") {
            return true;
        }
    }
    false
}

/// Loop-mounts the ISO file named by `path` at `iso`, and replaces `path` with the data dir
/// inside it.
fn mount_iso(path: &mut Path, dir_name: &[u8], modules: &mut Modules) -> Result<(), Verdict> {
    mount_image(Fd::CWD, path.as_cstr(), c"iso", Image::Iso, modules).map_err(|e| match e {
        ImageError::Open(e) | ImageError::Mkdir(e) | ImageError::Mount(e) => Verdict::MountFailed(e),
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

/// A filesystem image file to loop-mount.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Image {
    Bundle,
    Iso,
    Changes,
}

/// Why an image file could not be loop-mounted.
enum ImageError {
    Open(Errno),
    NotImage,
    Mkdir(Errno),
    Mount(Errno),
}

/// Loop-mounts the image `file` (relative to `dir`) at `target` (made if missing): read-write only for changes;
/// a bundle must be squashfs or EROFS.
fn mount_image(dir: Fd, file: &CStr, target: &CStr, kind: Image, modules: &mut Modules) -> Result<(), ImageError> {
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
    let n = fs::read_full(fd.fd(), &mut head[..len]).unwrap_or(0);
    let fstype = superblock::probe(&head[..n])
        .map(|sb| sb.fstype)
        .filter(|t| kind != Image::Bundle || matches!(t, FsType::Squashfs | FsType::Erofs))
        .ok_or(ImageError::NotImage)?;
    fs::mkdir(target, 0o755).map_err(ImageError::Mkdir)?;
    let fstype = fs_driver(modules, fstype);
    mount_loop(fd.fd(), target, fstype.as_cstr(), writable).map_err(|e| {
        if kind == Image::Bundle {
            let _ = fs::unlinkat(Fd::CWD, target, fs::AT_REMOVEDIR);
        }
        ImageError::Mount(e)
    })
}

/// Attaches `backing` to a free loop device and mounts it at `target`. The backing fd stays
/// open until mount(2) returns: with AUTOCLEAR the device would detach without it.
fn mount_loop(backing: Fd, target: &CStr, fstype: &CStr, writable: bool) -> Result<(), Errno> {
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

/// Mounts each bundle at bundles/NAME with a numbered link l/N to it; returns how many are
/// mounted (failures are skipped and named; past overlayfs's limit, refused and named).
fn mount_bundles(source: Fd, bundles: &Bundles, modules: &mut Modules) -> usize {
    let mut mounted = 0;
    let (mut file, mut target) = (Path::new(), Path::new());
    for c in &bundles.items[..bundles.count] {
        let name = bundles.name(c);
        if mounted == MAX_BUNDLES {
            error!("bundle %s refused: overlayfs takes at most %n layers", name; MAX_BUNDLES);
            continue;
        }
        match mount_bundle(&mut file, &mut target, source, bundles, c, modules) {
            Ok(()) => {
                // l/N → ../bundles/NAME, in the two buffers.
                let mut digits = [0u8; 20];
                if set_path(&mut file, &[b"../", target.as_bytes()]).and(set_path(&mut target, &[b"l/", out::format_u64(mounted as u64, &mut digits)])).is_ok() {
                    let _ = fs::symlinkat(file.as_cstr(), Fd::CWD, target.as_cstr());
                }
                mounted += 1;
            }
            Err((why, None)) => error!("skipping bundle %s: %s", name, why),
            Err((why, Some(e))) => error!("skipping bundle %s: %s%e (corrupt or truncated?)", name, why; e),
        }
    }
    if bundles.dropped > 0 {
        const _: () = assert!(MAX_CANDIDATES == 1024, "the message below names the limit");
        error!("%n more bundle files ignored (over 1024 candidates)"; bundles.dropped);
    }
    mounted
}

/// Loop-mounts bundle `c` of the directory `source` at `target` (bundles/NAME), `file`
/// holding its path; on failure, the reason and the error behind it.
fn mount_bundle(file: &mut Path, target: &mut Path, source: Fd, bundles: &Bundles, c: &Candidate, modules: &mut Modules) -> Result<(), (&'static [u8], Option<Errno>)> {
    if bundles.rel_path(c, file).and(set_path(target, &[b"bundles/", bundles.name(c)])).is_err() {
        return Err((b"name too long", None));
    }
    mount_image(source, file.as_cstr(), target.as_cstr(), Image::Bundle, modules).map_err(|e| match e {
        ImageError::Open(e) => (&b"open: "[..], Some(e)),
        ImageError::NotImage => (&b"not a squashfs or erofs image"[..], None),
        ImageError::Mkdir(e) => (&b"mkdir: "[..], Some(e)),
        ImageError::Mount(e) => (&b"mount: "[..], Some(e)),
    })
}

/// Sets up the changes layer at `changes` (holding `changes/` and `workdir/`). Anything that
/// fails falls back to RAM with a warning: it never fails the boot.
fn setup_changes(boot: &mut Boot, data: &[u8]) {
    let wanted: Option<&[u8]> = match (boot.cfg.changes, boot.cfg.perch) {
        (Some(c), _) => Some(c),
        // Slax's perch: changes kept in the data dir itself.
        (None, true) => Some(b"changes"),
        (None, false) => None,
    };
    if let Some(spec) = wanted {
        // A full changes device may still take the mount, but not the layer's dirs.
        let persistent = persistent_changes(boot, data, spec).and_then(|()| {
            make_layer_dirs().map_err(|e| {
                let _ = mount::umount(c"changes", MNT_DETACH);
                cannot_create(e)
            })
        });
        match persistent {
            Ok(()) => {
                info!("changes persist in %s", spec);
                return;
            }
            Err(why) => warning!("changes=%s: %s; keeping changes in RAM", spec, why),
        }
    }
    // In RAM, on the tmpfs: cannot fail for space.
    let _ = make_layer_dirs();
}

/// Mounts the persistent changes at `changes`, or says why not.
// Out of line: the init is smaller so (measured).
#[inline(never)]
fn persistent_changes(boot: &mut Boot, data: &[u8], spec: &[u8]) -> Result<(), &'static [u8]> {
    let located = if spec.starts_with(b"/") || spec.contains(&b'=') {
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
            mount_device(&mut boot.devices, i, sb.fstype, c"persist", 0).map_err(|_| &b"cannot mount the device read-write"[..])?;
            b"persist"
        }
    };
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
            ImageError::NotImage => b"the image holds no known filesystem",
            ImageError::Mkdir(_) | ImageError::Mount(_) => b"cannot mount the image",
        });
    }
    if non_posix {
        return Err(b"the filesystem cannot hold a changes dir (FAT/NTFS/exFAT); use changes=/path/file.img");
    }
    fs::mkdir(place.as_cstr(), 0o755).map_err(cannot_create)?;
    mount::mount(place.as_cstr(), c"changes", None, MS_BIND, None).map_err(|_| &b"cannot bind-mount the directory"[..])
}

/// Why a directory for the changes could not be made, in the user's terms.
fn cannot_create(e: Errno) -> &'static [u8] {
    match e {
        Errno::ROFS => b"read-only filesystem",
        Errno::NOSPC | Errno::DQUOT => b"no space left on device",
        _ => b"cannot create the directory",
    }
}

/// Makes overlayfs's upper and work dirs in the changes layer mounted at `changes`.
fn make_layer_dirs() -> Result<(), Errno> {
    fs::mkdir(c"changes/changes", 0o755)?;
    fs::mkdir(c"changes/workdir", 0o755)
}

/// vfat/msdos, exfat, ntfs3 and ntfs (fuse is not in an initramfs): no owners, modes or
/// whiteouts for overlayfs's upper layer.
const NON_POSIX_MAGICS: [u64; 4] = [0x4d44, 0x2011_BAB0, 0x7366_746e, 0x5346_544e];

/// Mounts overlayfs at `union`: bundles bottom to top (the last sorted is on top).
fn mount_union(mounted: usize) -> Result<(), Reported> {
    // Layers by the short numbered links (l/N → ../bundles/NAME): 500 layers then fit in
    // mount(2)'s one page of options, which old kernels without `lowerdir+` need.
    enter(c"l")?;
    let mut opts = PathBuf::<4096>::new();
    let mut digits = [0u8; 20];
    let mut ok = opts.push(b"lowerdir=").is_ok();
    for k in (0..mounted).rev() {
        ok &= opts.push(out::format_u64(k as u64, &mut digits)).is_ok();
        ok &= opts.push(if k > 0 { b":" } else { b",upperdir=/live/memory/changes/changes,workdir=/live/memory/changes/workdir" }).is_ok();
    }
    let result = if ok { mount::mount(c"overlay", c"../union", Some(c"overlay"), 0, Some(opts.as_cstr())) } else { Err(Errno::TOOBIG) };
    let _ = fs::chdir(c"..");
    result.map_err(|e| {
        let hint: &[u8] = if e == Errno::NODEV { b" (overlay module missing from the image?)" } else { b"" };
        error!("mount overlay on /live/memory/union: %e%s", hint; e);
        Reported
    })
}

/// Copies the data dir's `rootcopy/` over the directory `dst`: files, dirs, links, modes,
/// owners, times. How many entries could not be copied; None without a rootcopy.
fn copy_rootcopy(data: Fd, dst: &CStr) -> Option<u32> {
    let src_fd = fs::openat(data, c"rootcopy", O_RDONLY | O_DIRECTORY, 0).ok()?;
    let dst_fd = fs::open(dst, O_RDONLY | O_DIRECTORY).ok()?;
    let mut errors = 0u32;
    copy_tree(src_fd.fd(), dst_fd.fd(), 0, &mut errors);
    Some(errors)
}

/// Copies the tree under `src` into `dst`, keeping metadata, never following symlinks.
fn copy_tree(src: Fd, dst: Fd, depth: u32, errors: &mut u32) {
    let Ok(mut dir) = Dir::open_at(src, c".") else {
        *errors += 1;
        return;
    };
    while let Ok(Some(e)) = dir.next_entry() {
        let name = e.cname();
        let Ok(st) = fs::statat(src, name, fs::AT_SYMLINK_NOFOLLOW) else {
            *errors += 1;
            continue;
        };
        let ok = match fs::file_type(&st) {
            FileType::Dir if depth < 64 => (|| {
                fs::mkdirat(dst, name, st.st_mode & 0o7777)?;
                let s = fs::openat(src, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW, 0)?;
                let d = fs::openat(dst, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW, 0)?;
                copy_tree(s.fd(), d.fd(), depth + 1, errors);
                fs::fchmod(d.fd(), st.st_mode & 0o7777)
            })(),
            // copy_file gives it the source's mode.
            FileType::File => copy_file(src, name, dst, name).map(|_| ()),
            FileType::Symlink => (|| {
                // The last byte stays 0: it ends the target (a link target holds no NUL).
                let mut buf = [0u8; 1024];
                fs::readlinkat(src, name, &mut buf[..1023])?;
                let _ = fs::unlinkat(dst, name, 0);
                fs::symlinkat(until_nul(&buf), dst, name)
            })(),
            _ => Err(Errno::NOTSUP),
        };
        let meta = ok.and_then(|_| {
            fs::lchownat(dst, name, st.st_uid, st.st_gid)?;
            // A chown clears a file's setuid/setgid bits: its mode goes back on after it.
            if fs::file_type(&st) == FileType::File {
                fs::chmodat(dst, name, st.st_mode & 0o7777)?;
            }
            fs::lutimensat(dst, name, (st.st_atime as i64, st.st_atime_nsec as i64), (st.st_mtime as i64, st.st_mtime_nsec as i64))
        });
        if let Err(err) = meta {
            *errors += 1;
            warning!("rootcopy %s: %e", e.name(); err);
        }
    }
}

/// Copies one regular file's bytes (created or truncated) inside the kernel.
fn copy_file(src_dir: Fd, src: &CStr, dst_dir: Fd, dst: &CStr) -> Result<u64, Errno> {
    let from = fs::openat(src_dir, src, O_RDONLY, 0)?;
    let st = fs::fstat(from.fd())?;
    let size = st.st_size as u64;
    let _ = fs::unlinkat(dst_dir, dst, 0);
    let to = fs::openat(dst_dir, dst, fs::O_WRONLY | fs::O_CREAT | fs::O_TRUNC | fs::O_NOFOLLOW, 0o600)?;
    let mut done = 0u64;
    while done < size {
        let n = fs::sendfile(to.fd(), from.fd(), (size - done).min(1 << 30) as usize)?;
        if n == 0 {
            break;
        }
        done += n as u64;
    }
    fs::fchmod(to.fd(), st.st_mode & 0o7777)?;
    Ok(done)
}

/// toram: copies the bundles and rootcopy into `toram` when they fit in RAM; whether it did.
fn copy_to_ram(data: Fd, bundles: &Bundles) -> bool {
    let chosen = &bundles.items[..bundles.count.min(MAX_BUNDLES)];
    let mut file = Path::new();
    let mut total = 0u64;
    for c in chosen {
        if bundles.rel_path(c, &mut file).is_ok() {
            total += fs::statat(data, file.as_cstr(), 0).map_or(0, |st| st.st_size as u64);
        }
    }
    let free = process::memory().map_or(0, |(free, _)| free);
    if total + TORAM_RESERVE > free {
        let mut digits = [0u8; 20];
        warning!("toram: bundles need %n MiB, only %s MiB free; running from the boot media", out::format_u64(free >> 20, &mut digits); total >> 20);
        return false;
    }
    let _ = mkdirs(&[c"toram/modules", c"toram/optional", c"toram/rootcopy"]);
    let toram = match fs::open(c"toram", O_RDONLY | O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => {
            report(b"open", b"toram", e);
            return false;
        }
    };
    for c in chosen {
        if bundles.rel_path(c, &mut file).is_ok() {
            if let Err(e) = copy_file(data, file.as_cstr(), toram.fd(), file.as_cstr()) {
                report(b"toram: copy", bundles.name(c), e);
                return false;
            }
        }
    }
    // rootcopy comes along so the media can go.
    copy_rootcopy(data, c"toram/rootcopy");
    info!("toram: copied %n KiB of bundles to RAM"; total.div_ceil(1024));
    true
}

/// /live becomes `/` (move + chroot), then `pivot_root` puts the union at `/` and /live at
/// /run/initramfs; the initramfs is emptied through a saved fd; then init is exec'd.
fn switch_live(boot: &mut Boot, init: &CStr) -> Result<Reported, Reported> {
    let (old_root, old_dev) = switch::open_old_root()?;
    out::stage(b"live: switching root");
    root::report_peak_memory();
    for &d in &[c"union/dev", c"union/proc", c"union/sys", c"union/run"] {
        let _ = fs::mkdir(d, 0o755);
    }
    crate::sys::mount::make_private();
    switch::move_api_mounts(b"/live/memory/union");
    switch::enter_root(c"/live")?;
    // Now /live is `/`; the union sits at /memory/union and /run inside it.
    let _ = fs::mkdir(c"/memory/union/run/initramfs", 0o755);
    enter(c"/memory/union")?;
    mount::pivot_root(c".", c"run/initramfs").map_err(|e| report(b"pivot_root into", b"/memory/union", e))?;
    enter(c"/")?;
    switch::delete_tree(old_root.fd(), old_dev, 0);
    drop(old_root);
    crate::out::open_console();
    Ok(root::exec_init(boot, init))
}
