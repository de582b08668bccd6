//! The `bundle` role: `/run/initramfs/bundle activate FILE.sb | deactivate NAME | list`, in
//! the running live system (the live boot links `bundle` to the init it keeps there).
//!
//! overlayfs takes no new lower layer once mounted, so activation goes through the union:
//! the bundle is loop-mounted read-only at `memory/bundles/NAME` (setuid allowed, as for a
//! boot bundle), and for each of its entries that `/` lacks, a directory is made (the
//! bundle's mode and owner) or a symlink to the entry in the mount; an existing directory is
//! entered (through a link to one, as on a merged-/usr system); anything else that exists
//! is a clash, named and kept. Every addition is recorded before it is made
//! ([`crate::activation`]). Deactivation refuses while a process uses a file of the bundle,
//! unmounts it (its loop device goes with the mount: autoclear), then removes exactly what
//! the record lists.
use crate::activation::{remove_added, Links, DIR, LINK, RECORDS, SOURCE};
use crate::image::{mount_image, Image, ImageError};
use crate::kmod::Modules;
use crate::sys::fs::{self, Fd, FileType, Mapping, Stat, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_DIRECTORY, O_PATH, O_RDONLY, O_TRUNC, O_WRONLY};
use crate::sys::mount;
use crate::sys::process;
use crate::sys::start::StartArgs;
use crate::sys::{Errno, PathBuf};
use crate::tree::{walk, Step, TreePath, Visitor, PATH_MAX};
use crate::Reported;
use core::ffi::CStr;

/// A path below `memory/`: `bundles/NAME`, `changes/activated/NAME`, a line of `list`.
type Path = PathBuf<512>;

pub fn run(args: StartArgs) -> ! {
    let verb = args.arg(1).map_or(&b""[..], |a| a.to_bytes());
    let file = args.arg(2).unwrap_or(c"");
    // A bundle is known by its file name (`deactivate /tmp/x.sb` means x.sb).
    let given = file.to_bytes();
    let name = given.rsplit(|&b| b == b'/').next().unwrap_or(given);
    // The bundle file is opened relative to where the user is, after the role has moved.
    let here = fs::open(c".", O_PATH | O_DIRECTORY).map_or(Fd::CWD, |d| d.leak());
    let mut b = Bundle { name, target: Path::new(), record: Path::new() };
    let verb = crate::parse::bytes::word_index(b"activate deactivate list", verb);
    let done = match (fs::chdir(c"/run/initramfs/memory"), verb) {
        (Err(e), _) => Err(refuse(b"/run/initramfs/memory", b"not a live system of rdinit: ", Some(e))),
        (Ok(()), Some(2)) => list(),
        // A file name (not a hidden one: nor `.` or `..`).
        (Ok(()), Some(v)) if !matches!(name.first(), None | Some(b'.')) => {
            let (mounted, recorded) = (b.path(0, b"bundles/"), b.path(1, RECORDS));
            match (v, mounted, recorded) {
                (0, false, _) => b.activate(here, file),
                (0, true, true) => Err(refuse(name, b"already activated", None)),
                (_, false, _) => Err(refuse(name, b"no such bundle", None)),
                (_, true, false) => Err(refuse(name, b"part of the boot", None)),
                (_, true, true) => b.deactivate(),
            }
        }
        _ => Err(refuse(b"usage", b"activate FILE.sb | deactivate NAME | list", None)),
    };
    if done.is_ok() && verb != Some(2) {
        after_change(&args);
    }
    process::exit(done.is_err() as i32)
}

/// Reports `bundle <name>: <why>[errno]` and gives the marker.
#[inline(never)]
fn refuse(name: &[u8], why: &[u8], e: Option<Errno>) -> Reported {
    match e {
        Some(e) => error!("bundle %s: %s%e", name, why; e),
        None => error!("bundle %s: %s", name, why),
    }
    Reported
}

/// A bundle by name, and its paths below `memory/`: its mount point `bundles/NAME` and its
/// record.
struct Bundle<'a> {
    name: &'a [u8],
    target: Path,
    record: Path,
}

impl Bundle<'_> {
    /// Sets path `which` (0 the mount point, 1 the record) to `dir` + NAME; whether it exists.
    #[inline(never)]
    fn path(&mut self, which: u8, dir: &[u8]) -> bool {
        let p = if which == 0 { &mut self.target } else { &mut self.record };
        p.truncate(0);
        p.push(dir).and_then(|p| p.push(self.name)).is_ok() && fs::statat(Fd::CWD, p.as_cstr(), AT_SYMLINK_NOFOLLOW).is_ok()
    }

    fn activate(&self, here: Fd, file: &CStr) -> Result<(), Reported> {
        let name = self.name;
        mount_image(here, file, self.target.as_cstr(), Image::Bundle, &mut Modules::new()).map_err(|e| {
            let (why, e): (&[u8], _) = match e {
                ImageError::NotImage => (b"not a squashfs or erofs image", None),
                // Before the mount, from the loop device: none to be had.
                ImageError::Mount(e @ (Errno::NOENT | Errno::NXIO | Errno::BUSY | Errno::NOMEM | Errno::NOSPC)) => (b"no free loop device: ", Some(e)),
                ImageError::Mount(e) => (b"cannot mount (corrupt or truncated?): ", Some(e)),
                ImageError::Open(e) | ImageError::Read(e) | ImageError::Mkdir(e) => (b"", Some(e)),
            };
            refuse(file.to_bytes(), why, e)
        })?;
        // From here on, a failure takes down what this activation made.
        let mut act = Activation { name, record: Fd(-1), links: Links::new(name), place: TreePath::new(), dir: [0; PATH_MAX], added: 0, full: Errno::NOSPC };
        let walked = (|| {
            fs::mkdir(c"changes/activated", 0o755)?;
            let record = fs::openat(Fd::CWD, self.record.as_cstr(), O_WRONLY | O_CREAT | O_TRUNC, 0o644)?;
            act.record = record.fd();
            act.write(SOURCE, file)?;
            let top = fs::open(self.target.as_cstr(), O_RDONLY | O_DIRECTORY)?;
            let root = fs::open(c"/", O_RDONLY | O_DIRECTORY)?;
            if walk(top.fd(), root.fd(), 0, &mut TreePath::new(), &mut act) { Ok(()) } else { Err(act.full) }
        })();
        if let Err(e) = walked {
            // Nothing uses the fresh links yet: the unmount goes through.
            let _ = self.withdraw();
            return Err(refuse(name, b"nothing added: ", Some(e)));
        }
        info!("bundle %s activated: %n entries added", name; act.added);
        Ok(())
    }

    /// Unmounts the bundle (refused while busy: then nothing has changed), removes what its
    /// record lists, then the mount point and the record; how many additions were removed.
    fn withdraw(&self) -> Result<u32, Errno> {
        mount::umount(self.target.as_cstr(), 0)?;
        // Made by activation, and empty now.
        let _ = fs::unlinkat(Fd::CWD, self.target.as_cstr(), AT_REMOVEDIR);
        let removed = fs::open(c"/", O_RDONLY | O_DIRECTORY)
            .and_then(|root| Ok((Mapping::open(Fd::CWD, self.record.as_cstr())?, root)))
            .map_or(0, |(m, root)| remove_added(root.fd(), self.name, m.bytes()));
        fs::unlinkat(Fd::CWD, self.record.as_cstr(), 0)?;
        Ok(removed)
    }

    /// The kernel refuses the unmount (EBUSY) while any process has a file of the bundle
    /// open or mapped, or works in it: the check is the kernel's own, and race-free, where a
    /// scan of /proc first would not be.
    fn deactivate(&self) -> Result<(), Reported> {
        let removed = self.withdraw().map_err(|e| {
            let why: &[u8] = if e == Errno::BUSY { b"in use (a file of it open, mapped or a working directory); nothing changed: " } else { b"nothing changed: " };
            refuse(self.name, why, Some(e))
        })?;
        info!("bundle %s deactivated: %n entries removed", self.name; removed);
        Ok(())
    }
}

/// The activation walk's state.
struct Activation<'a> {
    name: &'a [u8],
    /// The open record (closed by its owner in `activate`).
    record: Fd,
    links: Links,
    /// The path of the entry being added, and a buffer for its directory's.
    place: TreePath,
    dir: [u8; PATH_MAX],
    added: u32,
    /// The error that stopped the walk: the changes layer is full.
    full: Errno,
}

impl Activation<'_> {
    /// Sets `place` to where entry `name` of the directory `dst` really is, below `/`: the
    /// directory as the kernel resolved it (`/proc/self/fd`), so that a path through a link
    /// names the same file in overlayfs's upper directory.
    fn place(&mut self, dst: Fd, name: &CStr) -> Result<(), Errno> {
        let mut digits = [0u8; 20];
        let mut fd = PathBuf::<32>::new();
        fd.push(b"/proc/self/fd/")?.push(crate::out::format_u64(dst.0 as u64, &mut digits))?;
        let dir = fs::readlinkat(Fd::CWD, fd.as_cstr(), &mut self.dir)?;
        self.place.truncate(0);
        // `/` itself reads as `/`: its entries have no directory part.
        if dir.len() > 1 {
            self.place.push(&dir[1..])?.push(b"/")?;
        }
        self.place.push(name.to_bytes()).map(|_| ())
    }

    /// Appends one entry to the record: its kind, its path with the NUL.
    fn write(&self, kind: u8, path: &CStr) -> Result<(), Errno> {
        fs::write_all(self.record, &[kind])?;
        fs::write_all(self.record, path.to_bytes_with_nul())
    }
}

impl Visitor for Activation<'_> {
    fn visit(&mut self, _src: Fd, dst: Fd, name: &CStr, st: &Stat, path: &TreePath) -> Step {
        // A whiteout (a 0:0 character device, as in a bundle made of saved changes) would
        // hide a file of `/` as a boot layer: activation never hides one.
        if fs::file_type(st) == FileType::Char && st.st_rdev == 0 {
            return Step::Next;
        }
        let is_dir = fs::file_type(st) == FileType::Dir;
        let kind = match fs::statat(dst, name, 0) {
            // Entered, whoever made it (a link to a directory is followed).
            Ok(there) if is_dir && fs::file_type(&there) == FileType::Dir => {
                return fs::openat(dst, name, O_RDONLY | O_DIRECTORY, 0).map_or_else(|e| self.failed(path.as_bytes(), e), Step::Enter);
            }
            // Nothing there, not even a dangling link.
            Err(Errno::NOENT) if fs::statat(dst, name, AT_SYMLINK_NOFOLLOW).is_err() => {
                if is_dir { DIR } else { LINK }
            }
            _ => {
                warning!("bundle %s: /%s is there; kept", self.name, path.as_bytes());
                return Step::Next;
            }
        };
        let made = self.place(dst, name).and_then(|()| self.write(kind, self.place.as_cstr())).and_then(|()| {
            if is_dir {
                fs::mkdirat(dst, name, 0o700)?;
                fs::lchownat(dst, name, st.st_uid, st.st_gid)?;
                // After the chown, which clears setgid.
                fs::chmodat(dst, name, st.st_mode & 0o7777)?;
                fs::openat(dst, name, O_RDONLY | O_DIRECTORY, 0).map(Step::Enter)
            } else {
                fs::symlinkat(self.links.target(path.as_bytes())?, dst, name).map(|()| Step::Next)
            }
        });
        match made {
            Ok(step) => {
                self.added += 1;
                step
            }
            Err(e @ (Errno::NOSPC | Errno::DQUOT)) => {
                self.full = e;
                Step::Stop
            }
            Err(e) => self.failed(path.as_bytes(), e),
        }
    }

    fn failed(&mut self, path: &[u8], e: Errno) -> Step {
        warning!("bundle %s: /%s: %e", self.name, path; e);
        Step::Next
    }
}

/// Every bundle, `boot NAME` or `activated NAME`, one a line on stdout.
fn list() -> Result<(), Reported> {
    let records = fs::open(c"changes/activated", O_PATH | O_DIRECTORY);
    fs::for_each_opened(c"bundles", |_| true, b"bundles/", &mut |name, _| {
        let activated = records.as_ref().is_ok_and(|r| fs::statat(r.fd(), name, 0).is_ok());
        let kind: &[u8] = if activated { b"activated " } else { b"boot " };
        // A closed stdout has nobody to tell.
        let _ = fs::write_all(Fd::STDOUT, kind).and_then(|()| fs::write_all(Fd::STDOUT, name.to_bytes())).and_then(|()| fs::write_all(Fd::STDOUT, b"\n"));
    });
    Ok(())
}

/// What the system must learn after files came or went: the dynamic linker's cache
/// (`ldconfig`, when the system has it) and systemd's units (`systemctl daemon-reload`,
/// when systemd runs: sd_booted's test). A failure is named; the change stays.
fn after_change(args: &StartArgs) {
    let _ = fs::chdir(c"/");
    run_tool(b"/sbin/ldconfig\0/usr/sbin/ldconfig\0", c"", args);
    if fs::statat(Fd::CWD, c"/run/systemd/system", 0).is_ok_and(|st| fs::file_type(&st) == FileType::Dir) {
        run_tool(b"/usr/bin/systemctl\0/bin/systemctl\0", c"daemon-reload", args);
    }
}

/// Runs the first of `paths` (packed: `b"a\0b\0"`) that exists with the argument `arg` (if
/// not empty) and waits for it; exit status 127 means none exists.
fn run_tool(paths: &[u8], arg: &CStr, args: &StartArgs) {
    let status = process::fork().and_then(|pid| {
        if pid == 0 {
            for path in crate::sys::cstr::packed(paths) {
                let argv = [path.as_ptr() as *const u8, if arg.is_empty() { core::ptr::null() } else { arg.as_ptr() as *const u8 }, core::ptr::null()];
                process::execve(path, argv.as_ptr(), args.envp());
            }
            process::exit(127);
        }
        process::wait(pid as i32)
    });
    if status.map_or(true, |(_, st)| st != 0 && st != 127 << 8) {
        warning!("%s failed; the change stays", crate::sys::cstr::until_nul(paths).to_bytes());
    }
}
