//! The Slax-style live boot: find the data directory, loop-mount its bundles, stack them
//! with overlayfs over a changes layer, apply rootcopy, and pivot into the union with the
//! initramfs kept at /run/initramfs (where Slax's tools and the shutdown role expect it).
//!
//! Everything is mounted under LIVE, a tmpfs on the initramfs. At the end LIVE becomes the
//! root (MS_MOVE + chroot: pivot_root refuses the initial rootfs before Linux 7.0), and then
//! `pivot_root` puts the union at `/` and LIVE at /run/initramfs.
use super::{devices::DEFAULT_WAIT_S, root, switch, Boot};
use crate::out::{self, Line};
use crate::parse::cmdline::{located_path, DeviceSpec, Located, Wait};
use crate::parse::options::OptionString;
use crate::parse::pattern::{matches_any, natural_cmp};
use crate::parse::superblock::{self, FsType};
use crate::sys::fs::{self, Dir, Fd, FileType, O_DIRECTORY, O_RDONLY, O_RDWR};
use crate::sys::mount::{self, MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, MS_SILENT};
use crate::sys::{loopdev, process, Errno, PathBuf};
use crate::{report, Reported};
use core::ffi::CStr;

/// The tmpfs that becomes /run/initramfs.
const LIVE: &[u8] = b"/live";
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

type Path = PathBuf<512>;

fn path(parts: &[&[u8]]) -> Result<Path, Reported> {
    Path::from_parts(parts).map_err(|e| report(b"path", parts.last().copied().unwrap_or(b""), e))
}

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
    if bundles.count == 0 {
        Line::err().s(b"no bundles (*.sb) in ").s(data.as_bytes()).emit();
        return Err(Reported);
    }
    let mut source = data;
    if cfg.toram.is_some() {
        if let Ok(copied) = copy_to_ram(&source, &bundles) {
            source = copied;
        }
    }
    let mounted = mount_bundles(&source, &bundles);
    out::stage(b"live: bundles mounted");
    if mounted == 0 {
        Line::err().s(b"no bundle could be mounted").emit();
        return Err(Reported);
    }
    let changes = setup_changes(boot, &source);
    mount_union(&bundles, mounted, changes.as_bytes())?;
    out::stage(b"live: union mounted");
    copy_rootcopy(&source);
    if cfg.toram.is_some() && source.as_bytes().starts_with(b"/live/memory/toram") {
        release_boot_media();
    }
    let union = path(&[LIVE, b"/memory/union"])?;
    let init = find_init(boot, &union)?;
    switch_live(boot, init.as_cstr())
}

/// Mounts the tmpfs that will become /run/initramfs, with Slax's `memory/` layout, and puts
/// the init there so it can serve as /run/initramfs/shutdown.
fn setup_live_root() -> Result<(), Reported> {
    let live = path(&[LIVE])?;
    let _ = fs::mkdir(live.as_cstr(), 0o755);
    mount::mount(c"tmpfs", live.as_cstr(), Some(c"tmpfs"), 0, Some(c"mode=0755")).map_err(|e| report(b"mount tmpfs on", LIVE, e))?;
    for sub in [&b"/memory"[..], b"/memory/data", b"/memory/iso", b"/memory/toram", b"/memory/bundles", b"/memory/changes", b"/memory/union", b"/memory/l", b"/bin", b"/dev", b"/proc", b"/sys", b"/run", b"/oldroot"] {
        let p = path(&[LIVE, sub])?;
        fs::mkdir(p.as_cstr(), 0o755).map_err(|e| report(b"mkdir", p.as_bytes(), e))?;
    }
    // The init itself, and the name systemd execs at shutdown.
    let init = path(&[LIVE, b"/init"])?;
    copy_file(Fd::CWD, c"/init", Fd::CWD, init.as_cstr()).map_err(|e| report(b"copy /init to", init.as_bytes(), e))?;
    let shutdown = path(&[LIVE, b"/shutdown"])?;
    let _ = fs::symlinkat(c"init", Fd::CWD, shutdown.as_cstr());
    // A rescue shell at shutdown too, when the image has one.
    for bin in [c"/bin/busybox", c"/bin/sh"] {
        if let Ok(dst) = path(&[LIVE, bin.to_bytes()]) {
            let _ = copy_file(Fd::CWD, bin, Fd::CWD, dst.as_cstr());
        }
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
    let limit_ms = match boot.cfg.rootwait {
        Wait::Seconds(s) => s as u64 * 1000,
        Wait::Forever => u64::MAX,
        Wait::Default => DEFAULT_WAIT_S as u64 * 1000,
    };
    if let Some(delay) = boot.cfg.rootdelay {
        process::sleep_ms(delay as u64 * 1000);
    }
    let start = process::boottime_ms();
    let mut verdicts = [Verdict::Untried; super::devices::MAX_DEVICES];
    let mut announced = false;
    boot.devices.scan();
    loop {
        for (i, verdict) in verdicts.iter_mut().enumerate().take(boot.devices.list.len()) {
            if *verdict != Verdict::Untried {
                continue;
            }
            if let Some(s) = &spec {
                if !boot.devices.is_match(i, s) {
                    continue;
                }
            }
            boot.devices.probe(i);
            match try_device(boot, i, sub, dir_name) {
                Ok(data) => {
                    let dev = &boot.devices.list[i];
                    // `slax` on the device itself, `iso/slax` inside an ISO file on it.
                    let d = data.as_bytes();
                    let shown = d.strip_prefix(b"/live/memory/data/").or_else(|| d.strip_prefix(b"/live/memory/")).unwrap_or(d);
                    Line::info().s(b"data ").s(shown).s(b" on ").s(dev.name.as_bytes()).emit();
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
            Line::info().s(b"waiting for a device with ").s(sub.unwrap_or(dir_name)).emit();
        }
        boot.devices.wait_events((limit_ms - waited).min(1000) as u32);
    }
    let mut line = Line::err();
    line.s(b"could not locate the data directory ").s(sub.unwrap_or(dir_name));
    if let Some(f) = boot.cfg.from {
        line.s(b" (from=").s(f).s(b")");
    }
    line.s(b" after ").n(limit_ms.min(u32::MAX as u64) / 1000).s(b" s").emit();
    for (i, dev) in boot.devices.list.iter().enumerate() {
        let name = dev.name.as_bytes();
        if name.starts_with(b"loop") || name.starts_with(b"ram") {
            continue;
        }
        let mut line = Line::err();
        line.s(b"seen ").s(name).s(b" ");
        if let Some(sb) = &dev.sb {
            line.s(sb.fstype.name()).s(b" label=").s(sb.label.as_bytes()).s(b": ");
        }
        match verdicts[i] {
            Verdict::Untried => line.s(b"not tried (does not match from=)"),
            Verdict::NoFilesystem => line.s(b"no known filesystem"),
            Verdict::MountFailed(e) => line.s(b"mount failed: ").errno(e),
            Verdict::NoDataDir => line.s(b"no ").s(sub.unwrap_or(dir_name)),
            Verdict::NoBundles => line.s(sub.unwrap_or(dir_name)).s(b" holds no bundles (*.sb)"),
        };
        line.emit();
    }
    Err(Reported)
}

/// Mounts device `i` read-only and looks for the data dir (or the ISO file) on it.
fn try_device(boot: &mut Boot, i: usize, sub: Option<&[u8]>, dir_name: &[u8]) -> Result<Path, Verdict> {
    let dev = &boot.devices.list[i];
    let Some(sb) = &dev.sb else { return Err(Verdict::NoFilesystem) };
    if matches!(sb.fstype, FsType::Squashfs | FsType::Erofs) {
        return Err(Verdict::NoFilesystem);
    }
    let fstype = Path::from_parts(&[sb.fstype.mount_type().unwrap_or(b"none")]).map_err(Verdict::MountFailed)?;
    let dev_path = dev.path();
    let data_mnt = path(&[LIVE, b"/memory/data"]).map_err(|_| Verdict::NoFilesystem)?;
    // Read-only while searching: a device that is not ours is never written.
    mount::mount(dev_path.as_cstr(), data_mnt.as_cstr(), Some(fstype.as_cstr()), MS_RDONLY | MS_SILENT, None).map_err(Verdict::MountFailed)?;
    let found = look_for_data(data_mnt.as_bytes(), sub, dir_name);
    if found.is_err() {
        let _ = mount::umount(data_mnt.as_cstr(), MNT_DETACH);
    }
    found
}

/// The data dir under `mnt`: `sub` itself (a dir, or an ISO file holding `dir_name`), or
/// `dir_name`.
fn look_for_data(mnt: &[u8], sub: Option<&[u8]>, dir_name: &[u8]) -> Result<Path, Verdict> {
    let sub = sub.map(|s| s.strip_prefix(b"/").unwrap_or(s));
    if let Some(s) = sub {
        let candidate = Path::from_parts(&[mnt, b"/", s]).map_err(|_| Verdict::NoDataDir)?;
        let st = fs::stat(candidate.as_cstr()).map_err(|_| Verdict::NoDataDir)?;
        if fs::file_type(&st) == FileType::File {
            return mount_iso(candidate.as_cstr(), dir_name);
        }
        return data_dir(candidate);
    }
    data_dir(Path::from_parts(&[mnt, b"/", dir_name]).map_err(|_| Verdict::NoDataDir)?)
}

/// `dir` if it holds bundles, else why not.
fn data_dir(dir: Path) -> Result<Path, Verdict> {
    if has_bundles(dir.as_bytes()) {
        Ok(dir)
    } else if fs::stat(dir.as_cstr()).is_ok() {
        Err(Verdict::NoBundles)
    } else {
        Err(Verdict::NoDataDir)
    }
}

/// Loop-mounts an ISO file at memory/iso and returns the data dir inside it.
fn mount_iso(file: &CStr, dir_name: &[u8]) -> Result<Path, Verdict> {
    let iso = Path::from_parts(&[LIVE, b"/memory/iso"]).map_err(|_| Verdict::NoDataDir)?;
    let fd = fs::open(file, O_RDONLY).map_err(Verdict::MountFailed)?;
    let mut head = [0u8; 36864];
    let n = fs::read_full(fd.fd(), &mut head).unwrap_or(0);
    let Some(sb) = superblock::probe(&head[..n]) else {
        Line::warn().c(file).s(b": not a filesystem image").emit();
        return Err(Verdict::NoDataDir);
    };
    let fstype = Path::from_parts(&[sb.fstype.mount_type().unwrap_or(b"none")]).map_err(Verdict::MountFailed)?;
    mount_loop(fd.fd(), iso.as_cstr(), fstype.as_cstr(), true).map_err(Verdict::MountFailed)?;
    let found = Path::from_parts(&[iso.as_bytes(), b"/", dir_name]).map_err(|_| Verdict::NoDataDir).and_then(data_dir);
    if found.is_err() {
        let _ = mount::umount(iso.as_cstr(), MNT_DETACH);
    }
    found
}

/// Does `dir` (or its modules/) hold at least one `*.sb`?
fn has_bundles(dir: &[u8]) -> bool {
    [&b""[..], b"/modules"].iter().any(|sub| {
        let Ok(p) = Path::from_parts(&[dir, sub]) else { return false };
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

/// Mounts each bundle under memory/bundles/NAME; returns how many are mounted (the first
/// `n` of the sorted list that succeeded keep their order; failures are skipped and named).
fn mount_bundles(source: &Path, bundles: &Bundles) -> usize {
    let mut mounted = 0;
    for c in &bundles.items[..bundles.count] {
        let name = bundles.name(c);
        if mounted == MAX_BUNDLES {
            Line::err().s(b"bundle ").s(name).s(b" refused: overlayfs takes at most ").n(MAX_BUNDLES as u64).s(b" layers").emit();
            continue;
        }
        if mount_bundle(source, c.place, name).is_ok() {
            // Record the layer for the union under its stack position.
            if let Ok(mut link) = Path::from_parts(&[LIVE, b"/memory/l/"]) {
                let mut digits = [0u8; 20];
                let _ = link.push(out::format_u64(mounted as u64, &mut digits));
                if let Ok(target) = Path::from_parts(&[b"../bundles/", name]) {
                    let _ = fs::symlinkat(target.as_cstr(), Fd::CWD, link.as_cstr());
                }
            }
            mounted += 1;
        }
    }
    if bundles.dropped > 0 {
        Line::err().n(bundles.dropped as u64).s(b" more bundle files ignored (over ").n(MAX_CANDIDATES as u64).s(b" candidates)").emit();
    }
    mounted
}

fn mount_bundle(source: &Path, place: Place, name: &[u8]) -> Result<(), ()> {
    let file = Path::from_parts(&[source.as_bytes(), b"/", place.subdir(), name]).map_err(|e| {
        report(b"bundle", name, e);
    })?;
    let target = Path::from_parts(&[LIVE, b"/memory/bundles/", name]).map_err(|e| {
        report(b"bundle", name, e);
    })?;
    let fd = fs::open(file.as_cstr(), O_RDONLY).map_err(|e| {
        report(b"open bundle", name, e);
    })?;
    // Squashfs needs 96 bytes, EROFS up to its volume name at 1088..1104.
    let mut head = [0u8; 1104];
    let n = fs::read_full(fd.fd(), &mut head).unwrap_or(0);
    let Some(kind) = superblock::is_bundle_image(&head[..n]) else {
        Line::err().s(b"skipping bundle ").s(name).s(b": not a squashfs or erofs image").emit();
        return Err(());
    };
    fs::mkdir(target.as_cstr(), 0o755).map_err(|e| {
        report(b"mkdir", target.as_bytes(), e);
    })?;
    let fstype: &CStr = if kind == FsType::Erofs { c"erofs" } else { c"squashfs" };
    mount_loop(fd.fd(), target.as_cstr(), fstype, true).map_err(|e| {
        Line::err().s(b"skipping bundle ").s(name).s(b": mount: ").errno(e).s(b" (corrupt or truncated?)").emit();
        let _ = fs::unlinkat(Fd::CWD, target.as_cstr(), fs::AT_REMOVEDIR);
    })
}

/// Sets up the changes layer; returns the directory holding `changes/` and `workdir/`.
/// Anything that fails falls back to RAM with a warning: never fails the boot.
fn setup_changes(boot: &mut Boot, data: &Path) -> Path {
    let tmpfs = Path::from_parts(&[LIVE, b"/memory/changes"]).unwrap_or_default();
    let wanted: Option<&[u8]> = match (boot.cfg.changes, boot.cfg.perch) {
        (Some(c), _) => Some(c),
        // Slax's perch: changes kept in the data dir itself.
        (None, true) => Some(b"changes"),
        (None, false) => None,
    };
    if let Some(spec) = wanted {
        match persistent_changes(boot, data, spec, &tmpfs) {
            Ok(()) => {
                Line::info().s(b"changes persist in ").s(spec).emit();
            }
            Err(why) => {
                Line::warn().s(b"changes=").s(spec).s(b": ").s(why).s(b"; keeping changes in RAM").emit();
            }
        }
    }
    for sub in [&b"/changes"[..], b"/workdir"] {
        if let Ok(p) = Path::from_parts(&[tmpfs.as_bytes(), sub]) {
            let _ = fs::mkdir(p.as_cstr(), 0o755);
        }
    }
    tmpfs
}

/// Mounts the persistent changes at `target`, or says why not.
fn persistent_changes(boot: &mut Boot, data: &Path, spec: &[u8], target: &Path) -> Result<(), &'static [u8]> {
    let located = if spec.starts_with(b"/") || spec.contains(&b'=') {
        located_path(spec).ok_or(&b"not a device or path"[..])?
    } else {
        // A bare name is relative to the data dir (Slax's `changes=NAME`).
        Located { device: None, path: spec }
    };
    let base: Path = match located.device {
        None => {
            // On the data device: make it writable first.
            let mnt = Path::from_parts(&[LIVE, b"/memory/data"]).map_err(|_| &b"path too long"[..])?;
            if data.as_bytes().starts_with(b"/live/memory/iso") {
                return Err(b"the data is inside an ISO image (read-only)");
            }
            mount::mount(c"none", mnt.as_cstr(), None, MS_REMOUNT | MS_SILENT, None)
                .map_err(|e| if e == Errno::ROFS || e == Errno::ACCES { &b"the data device is read-only"[..] } else { &b"cannot remount the data device read-write"[..] })?;
            if spec.starts_with(b"/") {
                mnt
            } else {
                data.clone()
            }
        }
        Some(dev_spec) => {
            let i = boot.devices.wait_for(&dev_spec, Wait::Seconds(DEFAULT_WAIT_S)).ok_or(&b"device not found"[..])?;
            boot.devices.probe(i);
            let dev = &boot.devices.list[i];
            let sb = dev.sb.as_ref().ok_or(&b"no known filesystem on the device"[..])?;
            let fstype = Path::from_parts(&[sb.fstype.mount_type().unwrap_or(b"none")]).map_err(|_| &b"bad type"[..])?;
            let mnt = Path::from_parts(&[LIVE, b"/memory/persist"]).map_err(|_| &b"path too long"[..])?;
            let _ = fs::mkdir(mnt.as_cstr(), 0o755);
            mount::mount(dev.path().as_cstr(), mnt.as_cstr(), Some(fstype.as_cstr()), MS_SILENT, None).map_err(|_| &b"cannot mount the device read-write"[..])?;
            mnt
        }
    };
    let rel = located.path.strip_prefix(b"/").unwrap_or(located.path);
    let place = Path::from_parts(&[base.as_bytes(), if rel.is_empty() { b"" } else { b"/" }, rel]).map_err(|_| &b"path too long"[..])?;
    let st = fs::stat(place.as_cstr());
    if let Ok(st) = &st {
        if fs::file_type(st) == FileType::File {
            // An image file (ext4 on FAT/exFAT/NTFS media).
            let fd = fs::open(place.as_cstr(), O_RDWR).map_err(|_| &b"cannot open the image read-write"[..])?;
            let mut head = [0u8; 2048];
            let n = fs::read_full(fd.fd(), &mut head).unwrap_or(0);
            let sb = superblock::probe(&head[..n]).ok_or(&b"the image holds no known filesystem"[..])?;
            let fstype = Path::from_parts(&[sb.fstype.mount_type().unwrap_or(b"none")]).map_err(|_| &b"bad type"[..])?;
            return mount_loop(fd.fd(), target.as_cstr(), fstype.as_cstr(), false).map_err(|_| &b"cannot mount the image"[..]);
        }
    }
    // A directory: it must live on a filesystem that can hold overlayfs's upper layer.
    if fs::statfs_magic_path(base.as_cstr()).is_ok_and(|m| NON_POSIX_MAGICS.contains(&m)) {
        return Err(b"the filesystem cannot hold a changes dir (FAT/NTFS/exFAT); use changes=/path/file.img");
    }
    fs::mkdir(place.as_cstr(), 0o755).map_err(|e| if e == Errno::ROFS { &b"read-only filesystem"[..] } else { &b"cannot create the directory"[..] })?;
    mount::mount(place.as_cstr(), target.as_cstr(), None, MS_BIND, None).map_err(|_| &b"cannot bind-mount the directory"[..])
}

/// vfat/msdos, exfat, ntfs3 and ntfs (fuse is not in an initramfs): no owners, modes or
/// whiteouts for overlayfs's upper layer.
const NON_POSIX_MAGICS: [u64; 4] = [0x4d44, 0x2011_BAB0, 0x7366_746e, 0x5346_544e];

/// Mounts overlayfs at memory/union: bundles bottom to top (the last sorted is on top).
fn mount_union(_bundles: &Bundles, mounted: usize, changes: &[u8]) -> Result<(), Reported> {
    let union = path(&[LIVE, b"/memory/union"])?;
    let upper = path(&[changes, b"/changes"])?;
    let work = path(&[changes, b"/workdir"])?;
    // Layers by short numbered links (memory/l/N → ../bundles/NAME): 500 layers then fit in
    // mount(2)'s one page of options, which old kernels without `lowerdir+` need.
    let links = path(&[LIVE, b"/memory/l"])?;
    fs::chdir(links.as_cstr()).map_err(|e| report(b"chdir", links.as_bytes(), e))?;
    let mut buf = [0u8; 4096];
    let mut opts = OptionString::new(&mut buf);
    let mut digits = [0u8; 20];
    let full = || {
        Line::err().s(b"overlay options exceed one page").emit();
        Reported
    };
    opts.list(b"lowerdir").map_err(|_| full())?;
    for k in (0..mounted).rev() {
        opts.list_item(out::format_u64(k as u64, &mut digits)).map_err(|_| full())?;
    }
    opts.pair_escaped(b"upperdir", upper.as_bytes()).map_err(|_| full())?;
    opts.pair_escaped(b"workdir", work.as_bytes()).map_err(|_| full())?;
    let data = CStr::from_bytes_with_nul(opts.as_bytes_with_nul()).map_err(|_| full())?;
    let result = mount::mount(c"overlay", union.as_cstr(), Some(c"overlay"), 0, Some(data));
    let _ = fs::chdir(c"/");
    result.map_err(|e| {
        let mut line = Line::err();
        line.s(b"mount overlay on ").s(union.as_bytes()).s(b": ").errno(e);
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
    let Ok(union) = Path::from_parts(&[LIVE, b"/memory/union"]) else { return };
    let Ok(dst_fd) = fs::open(union.as_cstr(), O_RDONLY | O_DIRECTORY) else { return };
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

/// toram: copies the bundles and rootcopy into RAM when they fit; returns the new source.
fn copy_to_ram(data: &Path, bundles: &Bundles) -> Result<Path, ()> {
    let mut total = 0u64;
    for c in &bundles.items[..bundles.count.min(MAX_BUNDLES)] {
        if let Ok(p) = Path::from_parts(&[data.as_bytes(), b"/", c.place.subdir(), bundles.name(c)]) {
            total += fs::stat(p.as_cstr()).map_or(0, |st| st.st_size as u64);
        }
    }
    let free = process::memory().map_or(0, |(free, _)| free);
    if total + TORAM_RESERVE > free {
        Line::warn().s(b"toram: bundles need ").n(total >> 20).s(b" MiB, only ").n(free >> 20).s(b" MiB free; running from the boot media").emit();
        return Err(());
    }
    let toram = Path::from_parts(&[LIVE, b"/memory/toram"]).map_err(|_| ())?;
    for sub in [&b"/modules"[..], b"/optional"] {
        if let Ok(p) = Path::from_parts(&[toram.as_bytes(), sub]) {
            let _ = fs::mkdir(p.as_cstr(), 0o755);
        }
    }
    for c in &bundles.items[..bundles.count.min(MAX_BUNDLES)] {
        let name = bundles.name(c);
        let (Ok(from), Ok(to)) = (
            Path::from_parts(&[data.as_bytes(), b"/", c.place.subdir(), name]),
            Path::from_parts(&[toram.as_bytes(), b"/", c.place.subdir(), name]),
        ) else {
            continue;
        };
        if let Err(e) = copy_file(Fd::CWD, from.as_cstr(), Fd::CWD, to.as_cstr()) {
            report(b"toram: copy", name, e);
            return Err(());
        }
    }
    // rootcopy comes along so the media can go.
    if let (Ok(src), Ok(dst)) = (Path::from_parts(&[data.as_bytes(), b"/rootcopy"]), Path::from_parts(&[toram.as_bytes(), b"/rootcopy"])) {
        if let Ok(s) = fs::open(src.as_cstr(), O_RDONLY | O_DIRECTORY) {
            let _ = fs::mkdir(dst.as_cstr(), 0o755);
            if let Ok(d) = fs::open(dst.as_cstr(), O_RDONLY | O_DIRECTORY) {
                let mut errors = 0;
                copy_tree(s.fd(), d.fd(), 0, &mut errors);
            }
        }
    }
    Line::info().s(b"toram: copied ").n(total.div_ceil(1024)).s(b" KiB of bundles to RAM").emit();
    Ok(toram)
}

/// After toram: unmounts the ISO and the data device, so the media can be removed.
fn release_boot_media() {
    for m in [&b"/memory/iso"[..], b"/memory/data"] {
        if let Ok(p) = Path::from_parts(&[LIVE, m]) {
            match mount::umount(p.as_cstr(), 0) {
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => {
                    report(b"toram: release", p.as_bytes(), e);
                }
            }
        }
    }
}

fn find_init(boot: &Boot, union: &Path) -> Result<PathBuf<256>, Reported> {
    let root = fs::open(union.as_cstr(), O_RDONLY | O_DIRECTORY).map_err(|e| report(b"open", union.as_bytes(), e))?;
    root::pick_init(root.fd(), boot.cfg.init)
}

/// LIVE becomes `/` (move + chroot), then `pivot_root` puts the union at `/` and LIVE at
/// /run/initramfs; the initramfs is emptied through a saved fd; then init is exec'd.
fn switch_live(boot: &mut Boot, init: &CStr) -> Result<Reported, Reported> {
    let (old_root, old_dev) = switch::open_old_root()?;
    if !switch::root_is_initramfs(old_root.fd()) {
        Line::err().s(b"refusing to switch: / is not the initramfs (ramfs/tmpfs)").emit();
        return Err(Reported);
    }
    out::stage(b"live: switching root");
    let union = path(&[LIVE, b"/memory/union"])?;
    for d in [&b"/dev"[..], b"/proc", b"/sys", b"/run"] {
        let p = path(&[union.as_bytes(), d])?;
        let _ = fs::mkdir(p.as_cstr(), 0o755);
    }
    switch::make_private();
    switch::move_api_mounts(union.as_bytes());
    let live = path(&[LIVE])?;
    switch::enter_root(live.as_cstr())?;
    // Now LIVE is `/`; the union sits at /memory/union and /run inside it.
    let _ = fs::mkdir(c"/memory/union/run/initramfs", 0o755);
    fs::chdir(c"/memory/union").map_err(|e| report(b"chdir", b"/memory/union", e))?;
    mount::pivot_root(c".", c"run/initramfs").map_err(|e| report(b"pivot_root into", b"/memory/union", e))?;
    fs::chdir(c"/").map_err(|e| report(b"chdir", b"/", e))?;
    switch::delete_tree(old_root.fd(), old_dev, 0);
    drop(old_root);
    switch::reopen_console();
    Ok(root::exec_init(boot, init))
}

