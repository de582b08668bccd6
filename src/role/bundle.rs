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
use crate::activation::{link_target, remove_added, DIR, LINK, RECORDS, SOURCE};
use crate::image::{mount_image, Image, ImageError};
use crate::kmod::Modules;
use crate::sys::fs::{self, Dir, Fd, FileType, Mapping, Stat, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_DIRECTORY, O_PATH, O_RDONLY, O_TRUNC, O_WRONLY};
use crate::sys::mount;
use crate::sys::process;
use crate::sys::start::{Argv, StartArgs};
use crate::sys::{loopdev, Errno, PathBuf};
use crate::tree::{walk, Step, TreePath, Visitor};
use crate::Reported;
use core::ffi::CStr;

/// The live boot's `memory/` as the running system sees it; the role works from there.
const MEMORY: &CStr = c"/run/initramfs/memory";

/// A path below `memory/`: `bundles/NAME`, `changes/activated/NAME`.
type Path = PathBuf<512>;

const PART_OF_THE_BOOT: &[u8] = b"part of the boot (only activated bundles go)";

pub fn run(args: StartArgs) -> ! {
    let verb = args.arg(1).map_or(&b""[..], |a| a.to_bytes());
    let file = args.arg(2).unwrap_or(c"");
    // A bundle is known by its file name (`deactivate /tmp/x.sb` means x.sb).
    let given = file.to_bytes();
    let name = given.rsplit(|&b| b == b'/').next().unwrap_or(given);
    // The bundle file is opened relative to where the user is, after the role has moved.
    let here = fs::open(c".", O_PATH | O_DIRECTORY).map_or(Fd::CWD, |d| d.leak());
    let mut b = Bundle { name, target: Path::new(), record: Path::new() };
    let verb = [&b"activate"[..], b"deactivate", b"list"].iter().position(|v| *v == verb);
    let done = match (fs::chdir(MEMORY), verb) {
        (Err(e), _) => Err(refuse(MEMORY.to_bytes(), b"not a live system of rdinit: ", Some(e))),
        (Ok(()), Some(2)) => list(&mut b.record),
        // A file name (not a hidden one: nor `.` or `..`).
        (Ok(()), Some(v)) if !matches!(name.first(), None | Some(b'.')) => {
            let (mounted, recorded) = (b.path(0, b"bundles/"), b.path(1, RECORDS));
            match (v, mounted, recorded) {
                (0, false, _) => b.activate(here, file),
                (0, true, true) => Err(refuse(name, b"already activated", None)),
                (_, false, _) => Err(refuse(name, b"no such bundle", None)),
                (_, true, false) => Err(refuse(name, PART_OF_THE_BOOT, None)),
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
        // Asked first, so that a missing loop device is named as such, not as a failed mount.
        if let Err(e) = loopdev::control().and_then(|c| loopdev::get_free(c.fd())) {
            return Err(refuse(name, b"no free loop device: ", Some(e)));
        }
        mount_image(here, file, self.target.as_cstr(), Image::Bundle, &mut Modules::new()).map_err(|e| {
            let (why, e): (&[u8], _) = match e {
                ImageError::Open(e) | ImageError::Read(e) | ImageError::Mkdir(e) => (b"", Some(e)),
                ImageError::NotImage => (b"not a squashfs or erofs image", None),
                ImageError::Mount(e) => (b"the kernel cannot mount it (corrupt or truncated?): ", Some(e)),
            };
            refuse(file.to_bytes(), why, e)
        })?;
        // From here on, a failure takes down what this activation made.
        let mut act = Activation { name, record: Fd(-1), target: TreePath::new(), added: 0, full: Errno::NOSPC };
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
            return Err(refuse(name, b"nothing added; the changes layer is full? ", Some(e)));
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
        let removed = Mapping::open(Fd::CWD, self.record.as_cstr()).map_or(0, |m| remove_added(self.name, m.bytes()));
        fs::unlinkat(Fd::CWD, self.record.as_cstr(), 0)?;
        Ok(removed)
    }

    fn deactivate(&self) -> Result<(), Reported> {
        let name = self.name;
        let dev = fs::stat(self.target.as_cstr()).map_or(0, |st| st.st_dev as u64);
        if users(name, dev) > 0 {
            return Err(Reported);
        }
        let removed = self.withdraw().map_err(|e| refuse(name, b"nothing changed: ", Some(e)))?;
        info!("bundle %s deactivated: %n entries removed", name; removed);
        Ok(())
    }
}

/// The activation walk's state.
struct Activation<'a> {
    name: &'a [u8],
    /// The open record (closed by its owner in `activate`).
    record: Fd,
    target: TreePath,
    added: u32,
    /// The error that stopped the walk: the changes layer is full.
    full: Errno,
}

impl Activation<'_> {
    /// Appends one entry to the record: its kind, its path with the NUL.
    fn write(&mut self, kind: u8, path: &CStr) -> Result<(), Errno> {
        fs::write_all(self.record, &[kind])?;
        fs::write_all(self.record, path.to_bytes_with_nul())
    }
}

impl Visitor for Activation<'_> {
    fn visit(&mut self, _src: Fd, dst: Fd, name: &CStr, st: &Stat, path: &TreePath) -> Step {
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
        let made = self.write(kind, path.as_cstr()).and_then(|()| {
            if is_dir {
                fs::mkdirat(dst, name, 0o700)?;
                fs::lchownat(dst, name, st.st_uid, st.st_gid)?;
                // After the chown, which clears setgid.
                fs::chmodat(dst, name, st.st_mode & 0o7777)?;
                fs::openat(dst, name, O_RDONLY | O_DIRECTORY, 0).map(Step::Enter)
            } else {
                link_target(self.name, path.as_bytes(), &mut self.target)?;
                fs::symlinkat(self.target.as_cstr(), dst, name).map(|()| Step::Next)
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

/// Names each process that has a file of the filesystem `dev` open or mapped, or as its
/// executable, working directory or root (as `fuser -m` does); how many there are.
fn users(name: &[u8], dev: u64) -> u32 {
    let mut n = 0;
    fs::for_each_opened(c"/proc", |p| p.first().is_some_and(u8::is_ascii_digit), b"/proc/", &mut |pid, proc_dir| {
        let on_bundle = |dir: Fd, entry: &CStr| fs::statat(dir, entry, 0).is_ok_and(|st| st.st_dev as u64 == dev);
        let mut uses = [c"exe", c"cwd", c"root"].iter().any(|w| on_bundle(proc_dir, w));
        for list in [c"fd", c"map_files"] {
            let Ok(mut dir) = Dir::open_at(proc_dir, list) else { continue };
            let fds = dir.fd();
            while let (false, Ok(Some(e))) = (uses, dir.next_entry()) {
                uses = on_bundle(fds, e.cname());
            }
        }
        if uses {
            n += 1;
            let mut comm = [0u8; 32];
            let comm = fs::read_file(proc_dir, c"comm", &mut comm).unwrap_or(b"");
            let pid = crate::parse::cmdline::parse_u32(pid).unwrap_or(0);
            error!("bundle %s: in use by process %n (%s); nothing changed", name, comm.strip_suffix(b"\n").unwrap_or(comm); pid);
        }
    });
    n
}

/// Every bundle, `boot NAME` or `activated NAME`, one a line on stdout; `line` a buffer.
fn list(line: &mut Path) -> Result<(), Reported> {
    let mut dir = Dir::open(c"bundles").map_err(|e| refuse(b"bundles", b"", Some(e)))?;
    while let Ok(Some(e)) = dir.next_entry() {
        line.truncate(0);
        let activated = line.push(RECORDS).and_then(|l| l.push(e.name())).is_ok_and(|l| fs::statat(Fd::CWD, l.as_cstr(), 0).is_ok());
        line.truncate(0);
        if line.push(if activated { b"activated " } else { b"boot " }).and_then(|l| l.push(e.name())).and_then(|l| l.push(b"\n")).is_ok() {
            // A closed stdout has nobody to tell.
            let _ = fs::write_all(Fd::STDOUT, line.as_bytes());
        }
    }
    Ok(())
}

/// What the system must learn after files came or went: the dynamic linker's cache
/// (`ldconfig`, when the system has it) and systemd's units (`systemctl daemon-reload`,
/// when systemd runs: sd_booted's test). A failure is named; the change stays.
fn after_change(args: &StartArgs) {
    let _ = fs::chdir(c"/");
    run_tool(&[c"/sbin/ldconfig", c"/usr/sbin/ldconfig"], &[c"ldconfig"], args);
    if fs::statat(Fd::CWD, c"/run/systemd/system", 0).is_ok_and(|st| fs::file_type(&st) == FileType::Dir) {
        run_tool(&[c"/usr/bin/systemctl", c"/bin/systemctl"], &[c"systemctl", c"daemon-reload"], args);
    }
}

/// Runs the first executable of `paths` with `argv` and waits for it.
fn run_tool(paths: &[&CStr], argv: &[&CStr], args: &StartArgs) {
    let Some(path) = paths.iter().find(|p| fs::is_executable(Fd::CWD, p).is_ok()) else { return };
    let status = process::fork().and_then(|pid| {
        if pid == 0 {
            let mut a = Argv::new();
            for s in argv {
                a.push(s);
            }
            // Exits with the errno of a failed exec.
            process::exit(process::execve(path, a.as_ptr(), args.envp()).0 as i32);
        }
        process::wait(pid as i32)
    });
    if status.map_or(true, |(_, st)| st != 0) {
        warning!("%s failed; the change stays", path.to_bytes());
    }
}
