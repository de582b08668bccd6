//! The Slax-style live boot: find the data directory, loop-mount its bundles, stack them
//! with overlayfs over a changes layer, apply rootcopy, and pivot into the union with the
//! initramfs kept at /run/initramfs (where Slax's tools and the shutdown role expect it).
//!
//! Everything is mounted under /live, a tmpfs on the initramfs, and the stage works from
//! /live/memory so its paths are short constants (`data`, `bundles/NAME`, `union`). At the
//! end /live becomes the root (MS_MOVE + chroot: pivot_root refuses the initial rootfs before
//! Linux 7.0), and then `pivot_root` puts the union at `/` and /live at /run/initramfs.
use super::{devices::DEFAULT_WAIT_S, modules::Modules, root, switch, Boot};
use crate::out::{self, Line};
use crate::parse::cmdline::{located_path, DeviceSpec, Located, Wait};
use crate::parse::pattern::{matches_any, natural_cmp};
use crate::parse::superblock::{self, FsType};
use crate::sys::fs::{self, Dir, Fd, FileType, O_DIRECTORY, O_RDONLY, O_RDWR};
use crate::sys::mount::{self, MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, MS_SILENT};
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
    fn collect(&mut self, data: &[u8], place: Place, load: Option<&[u8]>, noload: Option<&[u8]>) {
        let Ok(dir_path) = Path::from_parts(&[data, b"/", place.subdir()]) else { return };
        let Ok(mut dir) = Dir::open(dir_path.as_cstr()) else { return };
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

fn assemble(boot: &mut Boot) -> Result<Reported, Reported> {
    let cfg = boot.cfg;
    let dir_name = cfg.live.unwrap_or(DEFAULT_DIR);
    setup_live_root()?;
    out::stage(b"live: looking for data");
    let data = find_data(boot, dir_name)?;
    out::stage(b"live: data found");
    let mut bundles = Bundles { arena: [0; NAMES_ARENA], used: 0, items: [Candidate { place: Place::Top, start: 0, len: 0 }; MAX_CANDIDATES], count: 0, dropped: 0 };
    for place in [Place::Top, Place::Modules, Place::Optional] {
        bundles.collect(data.as_bytes(), place, cfg.load, cfg.noload);
    }
    bundles.sort();
    let mut source = data;
    let to_ram = cfg.toram.is_some() && copy_to_ram(&source, &bundles).is_ok();
    if to_ram {
        source = PathBuf::from_parts(&[b"toram"]).unwrap_or_default();
    }
    let mounted = mount_bundles(&source, &bundles, &mut boot.devices.modules);
    out::stage(b"live: bundles mounted");
    if mounted == 0 {
        Line::err().s(b"no bundle could be mounted").emit();
        return Err(Reported);
    }
    setup_changes(boot, &source);
    boot.devices.modules.load_fs(b"overlay");
    mount_union(mounted)?;
    out::stage(b"live: union mounted");
    copy_rootcopy(&source);
    if to_ram {
        // The media can go: nothing is read from it any more.
        for m in [c"iso", c"data"] {
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
    fs::chdir(c"/live").map_err(|e| report(b"chdir", b"/live", e))?;
    mkdirs(&[c"memory", c"bin", c"dev", c"proc", c"sys", c"run", c"oldroot"])?;
    copy_file(Fd::CWD, c"/init", Fd::CWD, c"init").map_err(|e| report(b"copy /init to", b"/live/init", e))?;
    // The name systemd execs at shutdown, and a rescue shell then when the image has one.
    let _ = fs::symlinkat(c"init", Fd::CWD, c"shutdown");
    if copy_file(Fd::CWD, c"/bin/busybox", Fd::CWD, c"bin/busybox").is_ok() {
        let _ = fs::symlinkat(c"busybox", Fd::CWD, c"bin/sh");
    }
    fs::chdir(c"memory").map_err(|e| report(b"chdir", b"/live/memory", e))?;
    mkdirs(&[c"data", c"iso", c"toram", c"bundles", c"changes", c"union", c"l"])
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

/// Finds and mounts the device holding the data dir; returns the data dir's path.
fn find_data(boot: &mut Boot, dir_name: &[u8]) -> Result<Path, Reported> {
    let from: Option<Located> = match boot.cfg.from {
        Some(f) => match located_path(f) {
            Some(l) => Some(l),
            None => {
                Line::err().s(b"from=").s(f).s(b": not a device or path").emit();
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
            if *verdict != Verdict::Untried || spec.is_some_and(|s| !boot.devices.is_match(i, &s)) {
                continue;
            }
            boot.devices.probe(i);
            match try_device(boot, i, sub, dir_name) {
                Ok(data) => {
                    // `slax` on the device itself, `iso/slax` inside an ISO file on it.
                    let d = data.as_bytes();
                    Line::info().s(b"data ").s(d.strip_prefix(b"data/").unwrap_or(d)).s(b" on ").s(boot.devices.list[i].name.as_bytes()).emit();
                    return Ok(data);
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
            Line::info().s(b"waiting for a device with ").s(wanted).emit();
        }
        boot.devices.wait_events((limit_ms - waited).min(1000) as u32);
    }
    let mut line = Line::err();
    line.s(b"could not locate the data directory ").s(wanted);
    if let Some(f) = boot.cfg.from {
        line.s(b" (from=").s(f).s(b")");
    }
    line.s(b" after ").n(limit_ms.min(u32::MAX as u64) / 1000).s(b" s").emit();
    for (dev, verdict) in boot.devices.list.iter().zip(verdicts) {
        let name = dev.name.as_bytes();
        if name.starts_with(b"loop") || name.starts_with(b"ram") {
            continue;
        }
        let mut line = Line::err();
        line.s(b"seen ").s(name).s(b" ");
        if let Some(sb) = &dev.sb {
            line.s(sb.fstype.name()).s(b" label=").s(sb.label.as_bytes()).s(b": ");
        }
        match verdict {
            Verdict::Untried => line.s(b"not tried (does not match from=)"),
            Verdict::NoFilesystem => line.s(b"no known filesystem"),
            Verdict::MountFailed(e) => line.s(b"mount failed: ").errno(e),
            Verdict::NoDataDir => line.s(b"no ").s(wanted),
            Verdict::NoBundles => line.s(wanted).s(b" holds no bundles (*.sb)"),
        };
        line.emit();
    }
    Err(Reported)
}

/// The mount(2) type name of a probed filesystem.
fn mount_type(fstype: FsType) -> PathBuf<16> {
    PathBuf::from_parts(&[fstype.mount_type().unwrap_or(b"none")]).unwrap_or_default()
}

/// Loads the drivers of `fstype` (the image's, in this process: no modprobe helper) and
/// gives its mount(2) type name.
fn fs_driver(boot: &mut Boot, fstype: FsType) -> PathBuf<16> {
    let name = mount_type(fstype);
    boot.devices.modules.load_fs(name.as_bytes());
    name
}

/// Mounts device `i` read-only at `data` and looks for the data dir (or the ISO file) on it.
fn try_device(boot: &mut Boot, i: usize, sub: Option<&[u8]>, dir_name: &[u8]) -> Result<Path, Verdict> {
    let dev = &boot.devices.list[i];
    let Some(sb) = &dev.sb else { return Err(Verdict::NoFilesystem) };
    if matches!(sb.fstype, FsType::Squashfs | FsType::Erofs) {
        return Err(Verdict::NoFilesystem);
    }
    let (dev_path, fstype) = (dev.path(), sb.fstype);
    let fstype = fs_driver(boot, fstype);
    // Read-only while searching: a device that is not ours is never written.
    mount::mount(dev_path.as_cstr(), c"data", Some(fstype.as_cstr()), MS_RDONLY | MS_SILENT, None).map_err(Verdict::MountFailed)?;
    let found = match sub.map(|s| s.strip_prefix(b"/").unwrap_or(s)) {
        Some(s) => {
            let candidate = Path::from_parts(&[b"data/", s]).map_err(|_| Verdict::NoDataDir)?;
            match fs::stat(candidate.as_cstr()) {
                Ok(st) if fs::file_type(&st) == FileType::File => mount_iso(candidate.as_cstr(), dir_name, &mut boot.devices.modules),
                _ => data_dir(&[b"data/", s]),
            }
        }
        None => data_dir(&[b"data/", dir_name]),
    };
    if found.is_err() {
        let _ = mount::umount(c"data", MNT_DETACH);
    }
    found
}

/// The directory named by `parts` if it holds bundles, else why not.
fn data_dir(parts: &[&[u8]]) -> Result<Path, Verdict> {
    let dir = Path::from_parts(parts).map_err(|_| Verdict::NoDataDir)?;
    if has_bundles(&dir) {
        Ok(dir)
    } else if fs::stat(dir.as_cstr()).is_ok() {
        Err(Verdict::NoBundles)
    } else {
        Err(Verdict::NoDataDir)
    }
}

/// Loop-mounts an ISO file at `iso` and returns the data dir inside it.
fn mount_iso(file: &CStr, dir_name: &[u8], modules: &mut Modules) -> Result<Path, Verdict> {
    let fd = fs::open(file, O_RDONLY).map_err(Verdict::MountFailed)?;
    let mut head = [0u8; 36864];
    let n = fs::read_full(fd.fd(), &mut head).unwrap_or(0);
    let Some(sb) = superblock::probe(&head[..n]) else {
        Line::warn().c(file).s(b": not a filesystem image").emit();
        return Err(Verdict::NoDataDir);
    };
    let fstype = mount_type(sb.fstype);
    modules.load_fs(fstype.as_bytes());
    mount_loop(fd.fd(), c"iso", fstype.as_cstr(), true).map_err(Verdict::MountFailed)?;
    let found = data_dir(&[b"iso/", dir_name]);
    if found.is_err() {
        let _ = mount::umount(c"iso", MNT_DETACH);
    }
    found
}

/// Does `dir` (or its modules/) hold at least one `*.sb`?
fn has_bundles(dir: &Path) -> bool {
    [&b""[..], b"/modules"].iter().any(|sub| {
        let Ok(p) = Path::from_parts(&[dir.as_bytes(), sub]) else { return false };
        let Ok(mut d) = Dir::open(p.as_cstr()) else { return false };
        while let Ok(Some(e)) = d.next_entry() {
            if e.name().ends_with(b".sb") {
                return true;
            }
        }
        false
    })
}

/// Attaches `backing` to a free loop device and mounts it at `target`. The backing fd stays
/// open until mount(2) returns: with AUTOCLEAR the device would detach without it.
fn mount_loop(backing: Fd, target: &CStr, fstype: &CStr, read_only: bool) -> Result<(), Errno> {
    let control = loopdev::control()?;
    let mut attempts = 0;
    loop {
        let n = loopdev::get_free(control.fd())?;
        let dev_path = loopdev::path(n);
        let dev = fs::open(dev_path.as_cstr(), if read_only { O_RDONLY } else { O_RDWR })?;
        let flags = loopdev::LO_FLAGS_AUTOCLEAR | if read_only { loopdev::LO_FLAGS_READ_ONLY } else { 0 };
        match loopdev::attach(dev.fd(), backing, flags) {
            // Another attach raced us to this device: ask for the next free one.
            Err(Errno::BUSY) if attempts < 8 => {
                attempts += 1;
                continue;
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let flags = MS_SILENT | if read_only { MS_RDONLY } else { 0 };
        let result = mount::mount(dev_path.as_cstr(), target, Some(fstype), flags, None);
        if result.is_err() {
            let _ = loopdev::detach(dev.fd());
        }
        return result;
    }
}

/// Mounts each bundle at bundles/NAME with a numbered link l/N to it; returns how many are
/// mounted (failures are skipped and named; past overlayfs's limit, refused and named).
fn mount_bundles(source: &Path, bundles: &Bundles, modules: &mut Modules) -> usize {
    let mut mounted = 0;
    for c in &bundles.items[..bundles.count] {
        let name = bundles.name(c);
        if mounted == MAX_BUNDLES {
            Line::err().s(b"bundle ").s(name).s(b" refused: overlayfs takes at most ").n(MAX_BUNDLES as u64).s(b" layers").emit();
            continue;
        }
        if mount_bundle(source, c.place, name, modules).is_ok() {
            let mut digits = [0u8; 20];
            let link = Path::from_parts(&[b"l/", out::format_u64(mounted as u64, &mut digits)]);
            let target = Path::from_parts(&[b"../bundles/", name]);
            if let (Ok(link), Ok(target)) = (link, target) {
                let _ = fs::symlinkat(target.as_cstr(), Fd::CWD, link.as_cstr());
            }
            mounted += 1;
        }
    }
    if bundles.dropped > 0 {
        Line::err().n(bundles.dropped as u64).s(b" more bundle files ignored (over ").n(MAX_CANDIDATES as u64).s(b" candidates)").emit();
    }
    mounted
}

fn mount_bundle(source: &Path, place: Place, name: &[u8], modules: &mut Modules) -> Result<(), ()> {
    let skip = |why: &[u8], e: Option<Errno>| {
        let mut line = Line::err();
        line.s(b"skipping bundle ").s(name).s(b": ").s(why);
        if let Some(e) = e {
            line.errno(e).s(b" (corrupt or truncated?)");
        }
        line.emit();
    };
    let (Ok(file), Ok(target)) = (Path::from_parts(&[source.as_bytes(), b"/", place.subdir(), name]), Path::from_parts(&[b"bundles/", name])) else {
        skip(b"name too long", None);
        return Err(());
    };
    let fd = fs::open(file.as_cstr(), O_RDONLY).map_err(|e| skip(b"open: ", Some(e)))?;
    // Squashfs needs 96 bytes, EROFS up to its volume name at 1088..1104.
    let mut head = [0u8; 1104];
    let n = fs::read_full(fd.fd(), &mut head).unwrap_or(0);
    let Some(kind) = superblock::is_bundle_image(&head[..n]) else {
        skip(b"not a squashfs or erofs image", None);
        return Err(());
    };
    fs::mkdir(target.as_cstr(), 0o755).map_err(|e| skip(b"mkdir: ", Some(e)))?;
    let fstype = mount_type(kind);
    modules.load_fs(fstype.as_bytes());
    mount_loop(fd.fd(), target.as_cstr(), fstype.as_cstr(), true).map_err(|e| {
        skip(b"mount: ", Some(e));
        let _ = fs::unlinkat(Fd::CWD, target.as_cstr(), fs::AT_REMOVEDIR);
    })
}

/// Sets up the changes layer at `changes` (holding `changes/` and `workdir/`). Anything that
/// fails falls back to RAM with a warning: it never fails the boot.
fn setup_changes(boot: &mut Boot, data: &Path) {
    let wanted: Option<&[u8]> = match (boot.cfg.changes, boot.cfg.perch) {
        (Some(c), _) => Some(c),
        // Slax's perch: changes kept in the data dir itself.
        (None, true) => Some(b"changes"),
        (None, false) => None,
    };
    if let Some(spec) = wanted {
        match persistent_changes(boot, data, spec) {
            Ok(()) => Line::info().s(b"changes persist in ").s(spec).emit(),
            Err(why) => Line::warn().s(b"changes=").s(spec).s(b": ").s(why).s(b"; keeping changes in RAM").emit(),
        }
    }
    let _ = mkdirs(&[c"changes/changes", c"changes/workdir"]);
}

/// Mounts the persistent changes at `changes`, or says why not.
fn persistent_changes(boot: &mut Boot, data: &Path, spec: &[u8]) -> Result<(), &'static [u8]> {
    let located = if spec.starts_with(b"/") || spec.contains(&b'=') {
        located_path(spec).ok_or(&b"not a device or path"[..])?
    } else {
        // A bare name is relative to the data dir (Slax's `changes=NAME`).
        Located { device: None, path: spec }
    };
    let base: &[u8] = match located.device {
        None => {
            // On the data device: make it writable first.
            if data.as_bytes().starts_with(b"iso") {
                return Err(b"the data is inside an ISO image (read-only)");
            }
            mount::mount(c"none", c"data", None, MS_REMOUNT | MS_SILENT, None)
                .map_err(|e| if e == Errno::ROFS || e == Errno::ACCES { &b"the data device is read-only"[..] } else { &b"cannot remount the data device read-write"[..] })?;
            if spec.starts_with(b"/") { b"data" } else { data.as_bytes() }
        }
        Some(dev_spec) => {
            let i = boot.devices.wait_for(&dev_spec, Wait::Seconds(DEFAULT_WAIT_S)).ok_or(&b"device not found"[..])?;
            boot.devices.probe(i);
            let dev = &boot.devices.list[i];
            let (dev_path, sb) = (dev.path(), dev.sb.ok_or(&b"no known filesystem on the device"[..])?);
            let fstype = fs_driver(boot, sb.fstype);
            let _ = fs::mkdir(c"persist", 0o755);
            mount::mount(dev_path.as_cstr(), c"persist", Some(fstype.as_cstr()), MS_SILENT, None).map_err(|_| &b"cannot mount the device read-write"[..])?;
            b"persist"
        }
    };
    let rel = located.path.strip_prefix(b"/").unwrap_or(located.path);
    let place = Path::from_parts(&[base, if rel.is_empty() { b"" } else { b"/" }, rel]).map_err(|_| &b"path too long"[..])?;
    if fs::stat(place.as_cstr()).is_ok_and(|st| fs::file_type(&st) == FileType::File) {
        // An image file (ext4 on FAT/exFAT/NTFS media).
        let fd = fs::open(place.as_cstr(), O_RDWR).map_err(|_| &b"cannot open the image read-write"[..])?;
        let mut head = [0u8; 2048];
        let n = fs::read_full(fd.fd(), &mut head).unwrap_or(0);
        let sb = superblock::probe(&head[..n]).ok_or(&b"the image holds no known filesystem"[..])?;
        let fstype = fs_driver(boot, sb.fstype);
        return mount_loop(fd.fd(), c"changes", fstype.as_cstr(), false).map_err(|_| &b"cannot mount the image"[..]);
    }
    // A directory: it must live on a filesystem that can hold overlayfs's upper layer.
    let base = Path::from_parts(&[base]).map_err(|_| &b"path too long"[..])?;
    if fs::statfs_magic_path(base.as_cstr()).is_ok_and(|m| NON_POSIX_MAGICS.contains(&m)) {
        return Err(b"the filesystem cannot hold a changes dir (FAT/NTFS/exFAT); use changes=/path/file.img");
    }
    fs::mkdir(place.as_cstr(), 0o755).map_err(|e| if e == Errno::ROFS { &b"read-only filesystem"[..] } else { &b"cannot create the directory"[..] })?;
    mount::mount(place.as_cstr(), c"changes", None, MS_BIND, None).map_err(|_| &b"cannot bind-mount the directory"[..])
}

/// vfat/msdos, exfat, ntfs3 and ntfs (fuse is not in an initramfs): no owners, modes or
/// whiteouts for overlayfs's upper layer.
const NON_POSIX_MAGICS: [u64; 4] = [0x4d44, 0x2011_BAB0, 0x7366_746e, 0x5346_544e];

/// Mounts overlayfs at `union`: bundles bottom to top (the last sorted is on top).
fn mount_union(mounted: usize) -> Result<(), Reported> {
    // Layers by the short numbered links (l/N → ../bundles/NAME): 500 layers then fit in
    // mount(2)'s one page of options, which old kernels without `lowerdir+` need.
    fs::chdir(c"l").map_err(|e| report(b"chdir", b"l", e))?;
    let mut opts = PathBuf::<4096>::from_parts(&[b"lowerdir="]).unwrap_or_default();
    let mut digits = [0u8; 20];
    let mut ok = true;
    for k in (0..mounted).rev() {
        ok &= opts.push(out::format_u64(k as u64, &mut digits)).is_ok();
        ok &= opts.push(if k > 0 { b":" } else { b",upperdir=/live/memory/changes/changes,workdir=/live/memory/changes/workdir" }).is_ok();
    }
    let result = if ok { mount::mount(c"overlay", c"../union", Some(c"overlay"), 0, Some(opts.as_cstr())) } else { Err(Errno::TOOBIG) };
    let _ = fs::chdir(c"..");
    result.map_err(|e| {
        let mut line = Line::err();
        line.s(b"mount overlay on /live/memory/union: ").errno(e);
        if e == Errno::NODEV {
            line.s(b" (overlay module missing from the image?)");
        }
        line.emit();
        Reported
    })
}

/// Copies the data dir's `rootcopy/` over the union: files, dirs, links, modes, owners, times.
fn copy_rootcopy(data: &Path) {
    let Ok(src) = Path::from_parts(&[data.as_bytes(), b"/rootcopy"]) else { return };
    let Ok(src_fd) = fs::open(src.as_cstr(), O_RDONLY | O_DIRECTORY) else { return };
    let Ok(dst_fd) = fs::open(c"union", O_RDONLY | O_DIRECTORY) else { return };
    let mut errors = 0u32;
    copy_tree(src_fd.fd(), dst_fd.fd(), 0, &mut errors);
    if errors > 0 {
        Line::warn().s(b"rootcopy: ").n(errors as u64).s(b" entries could not be copied").emit();
    } else {
        out::stage(b"live: rootcopy applied");
    }
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
            FileType::File => copy_file(src, name, dst, name).and_then(|_| {
                let d = fs::openat(dst, name, O_RDONLY | fs::O_NOFOLLOW, 0)?;
                fs::fchmod(d.fd(), st.st_mode & 0o7777)
            }),
            FileType::Symlink => (|| {
                let mut buf = [0u8; 1024];
                let target = fs::readlinkat(src, name, &mut buf[..1023])?;
                let target = PathBuf::<1024>::from_parts(&[target])?;
                let _ = fs::unlinkat(dst, name, 0);
                fs::symlinkat(target.as_cstr(), dst, name)
            })(),
            _ => Err(Errno::NOTSUP),
        };
        let meta = ok.and_then(|_| {
            fs::lchownat(dst, name, st.st_uid, st.st_gid)?;
            fs::lutimensat(dst, name, (st.st_atime as i64, st.st_atime_nsec as i64), (st.st_mtime as i64, st.st_mtime_nsec as i64))
        });
        if let Err(err) = meta {
            *errors += 1;
            Line::warn().s(b"rootcopy ").s(e.name()).s(b": ").errno(err).emit();
        }
    }
}

/// Copies one regular file's bytes (created or truncated) inside the kernel.
fn copy_file(src_dir: Fd, src: &CStr, dst_dir: Fd, dst: &CStr) -> Result<u64, Errno> {
    let from = fs::openat(src_dir, src, O_RDONLY, 0)?;
    let size = fs::fstat(from.fd())?.st_size as u64;
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
    let mode = fs::fstat(from.fd())?.st_mode & 0o7777;
    fs::fchmod(to.fd(), mode)?;
    Ok(done)
}

/// toram: copies the bundles and rootcopy into `toram` when they fit in RAM.
fn copy_to_ram(data: &Path, bundles: &Bundles) -> Result<(), ()> {
    let file = |root: &[u8], c: &Candidate| Path::from_parts(&[root, b"/", c.place.subdir(), bundles.name(c)]);
    let chosen = &bundles.items[..bundles.count.min(MAX_BUNDLES)];
    let mut total = 0u64;
    for c in chosen {
        if let Ok(p) = file(data.as_bytes(), c) {
            total += fs::stat(p.as_cstr()).map_or(0, |st| st.st_size as u64);
        }
    }
    let free = process::memory().map_or(0, |(free, _)| free);
    if total + TORAM_RESERVE > free {
        Line::warn().s(b"toram: bundles need ").n(total >> 20).s(b" MiB, only ").n(free >> 20).s(b" MiB free; running from the boot media").emit();
        return Err(());
    }
    let _ = mkdirs(&[c"toram/modules", c"toram/optional", c"toram/rootcopy"]);
    for c in chosen {
        if let (Ok(from), Ok(to)) = (file(data.as_bytes(), c), file(b"toram", c)) {
            if let Err(e) = copy_file(Fd::CWD, from.as_cstr(), Fd::CWD, to.as_cstr()) {
                report(b"toram: copy", bundles.name(c), e);
                return Err(());
            }
        }
    }
    // rootcopy comes along so the media can go.
    if let Ok(src) = Path::from_parts(&[data.as_bytes(), b"/rootcopy"]) {
        if let (Ok(s), Ok(d)) = (fs::open(src.as_cstr(), O_RDONLY | O_DIRECTORY), fs::open(c"toram/rootcopy", O_RDONLY | O_DIRECTORY)) {
            copy_tree(s.fd(), d.fd(), 0, &mut 0);
        }
    }
    Line::info().s(b"toram: copied ").n(total.div_ceil(1024)).s(b" KiB of bundles to RAM").emit();
    Ok(())
}

/// /live becomes `/` (move + chroot), then `pivot_root` puts the union at `/` and /live at
/// /run/initramfs; the initramfs is emptied through a saved fd; then init is exec'd.
fn switch_live(boot: &mut Boot, init: &CStr) -> Result<Reported, Reported> {
    let (old_root, old_dev) = switch::open_old_root()?;
    out::stage(b"live: switching root");
    root::report_peak_memory();
    for d in [c"union/dev", c"union/proc", c"union/sys", c"union/run"] {
        let _ = fs::mkdir(d, 0o755);
    }
    switch::make_private();
    switch::move_api_mounts(b"/live/memory/union");
    switch::enter_root(c"/live")?;
    // Now /live is `/`; the union sits at /memory/union and /run inside it.
    let _ = fs::mkdir(c"/memory/union/run/initramfs", 0o755);
    fs::chdir(c"/memory/union").map_err(|e| report(b"chdir", b"/memory/union", e))?;
    mount::pivot_root(c".", c"run/initramfs").map_err(|e| report(b"pivot_root into", b"/memory/union", e))?;
    fs::chdir(c"/").map_err(|e| report(b"chdir", b"/", e))?;
    switch::delete_tree(old_root.fd(), old_dev, 0);
    drop(old_root);
    switch::reopen_console();
    Ok(root::exec_init(boot, init))
}
