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
use crate::sys::{loopdev, Errno, OwnedFd, PathBuf};
use crate::tree::{walk, Step, TreePath, Visitor};
use crate::Reported;
use core::ffi::CStr;

/// The live boot's `memory/` as the running system sees it; the role works from there.
const MEMORY: &CStr = c"/run/initramfs/memory";

/// A path below `memory/`: `bundles/NAME`, `changes/activated/NAME`.
type Path = PathBuf<512>;

pub fn run(args: StartArgs) -> ! {
    let verb = args.arg(1).map_or(&b""[..], |a| a.to_bytes());
    let done = match (verb, args.arg(2)) {
        (b"activate", Some(file)) => activate(file, &args),
        (b"deactivate", Some(name)) => deactivate(name.to_bytes(), &args),
        (b"list", None) => list(),
        _ => Err(refuse(b"usage", b"activate FILE.sb | deactivate NAME | list", None)),
    };
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

/// Bundle `name`'s paths below `memory/`, which the role enters: its mount point
/// `bundles/NAME` and its record.
struct Names {
    target: Path,
    record: Path,
}

impl Names {
    /// Checks the name (a file name: not empty, no `/`, not `.` or `..`) and enters memory/.
    fn new(name: &[u8]) -> Result<Names, Reported> {
        if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
            return Err(refuse(name, b"not a bundle file name", None));
        }
        fs::chdir(MEMORY).map_err(|e| refuse(name, b"not a live system of rdinit: /run/initramfs/memory: ", Some(e)))?;
        let (Ok(target), Ok(record)) = (Path::from_parts(&[b"bundles/", name]), Path::from_parts(&[RECORDS, name])) else {
            return Err(refuse(name, b"name too long", None));
        };
        Ok(Names { target, record })
    }

    fn mounted(&self) -> bool {
        fs::statat(Fd::CWD, self.target.as_cstr(), AT_SYMLINK_NOFOLLOW).is_ok()
    }

    fn recorded(&self) -> bool {
        fs::statat(Fd::CWD, self.record.as_cstr(), 0).is_ok()
    }
}

fn activate(file: &CStr, args: &StartArgs) -> Result<(), Reported> {
    let given = file.to_bytes();
    let name = given.rsplit(|&b| b == b'/').next().unwrap_or(given);
    // The file is opened relative to where the user is, after the role has moved.
    let here = fs::open(c".", O_PATH | O_DIRECTORY).map_err(|e| refuse(b".", b"", Some(e)))?;
    let names = Names::new(name)?;
    if names.mounted() {
        return Err(refuse(name, if names.recorded() { b"already activated" } else { b"a bundle of that name is part of the boot" }, None));
    }
    // Asked first, so that a missing loop device is named as such, not as a failed mount.
    if let Err(e) = loopdev::control().and_then(|c| loopdev::get_free(c.fd())) {
        return Err(refuse(name, b"no free loop device: ", Some(e)));
    }
    mount_image(here.fd(), file, names.target.as_cstr(), Image::Bundle, &mut Modules::new()).map_err(|e| {
        let (why, e): (&[u8], _) = match e {
            ImageError::Open(e) => (b"cannot open it: ", Some(e)),
            ImageError::Read(e) => (b"cannot read it: ", Some(e)),
            ImageError::NotImage => (b"not a squashfs or erofs image", None),
            ImageError::Mkdir(e) => (b"cannot make its mount point: ", Some(e)),
            ImageError::Mount(e) => (b"the kernel cannot mount it (corrupt or truncated?): ", Some(e)),
        };
        refuse(given, why, e)
    })?;
    // From here on, a failure takes down what this activation made.
    let root = fs::open(c"/", O_RDONLY | O_DIRECTORY).map_err(|e| refuse(b"/", b"", Some(e)))?;
    let mut act = Activation { name, record: Fd(-1), target: TreePath::new(), added: 0, full: None };
    let record = fs::mkdir(c"changes/activated", 0o755).and_then(|()| fs::openat(Fd::CWD, names.record.as_cstr(), O_WRONLY | O_CREAT | O_TRUNC, 0o644));
    let walked = record.and_then(|record: OwnedFd| {
        act.record = record.fd();
        act.write(SOURCE, file)?;
        let top = fs::open(names.target.as_cstr(), O_RDONLY | O_DIRECTORY)?;
        match walk(top.fd(), root.fd(), 0, &mut TreePath::new(), &mut act) {
            true => Ok(()),
            false => Err(act.full.unwrap_or(Errno::NOSPC)),
        }
    });
    if let Err(e) = walked {
        // Nothing is using the fresh links yet: the unmount goes through.
        let _ = withdraw(root.fd(), name, &names);
        let why: &[u8] = if matches!(e, Errno::NOSPC | Errno::DQUOT) { b"the changes layer is full; nothing added: " } else { b"cannot record what it adds; nothing added: " };
        return Err(refuse(name, why, Some(e)));
    }
    info!("bundle %s activated: %n entries added", name; act.added);
    after_change(args);
    Ok(())
}

/// The activation walk's state.
struct Activation<'a> {
    name: &'a [u8],
    /// The open record (closed by its owner in `activate`).
    record: Fd,
    target: TreePath,
    added: u32,
    /// The error that stopped the walk: the changes layer is full.
    full: Option<Errno>,
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
        let there = fs::statat(dst, name, 0);
        if let (true, Ok(there)) = (is_dir, &there) {
            // Entered, whoever made it (a link to a directory is followed).
            if fs::file_type(there) == FileType::Dir {
                return match fs::openat(dst, name, O_RDONLY | O_DIRECTORY, 0) {
                    Ok(d) => Step::Enter(d),
                    Err(e) => self.failed(path.as_bytes(), e),
                };
            }
        }
        // Anything there, even a dangling link, is kept.
        if there.is_ok() || fs::statat(dst, name, AT_SYMLINK_NOFOLLOW).is_ok() {
            warning!("bundle %s: /%s exists; kept", self.name, path.as_bytes());
            return Step::Next;
        }
        let made = self.write(if is_dir { DIR } else { LINK }, path.as_cstr()).and_then(|()| {
            if is_dir {
                fs::mkdirat(dst, name, st.st_mode & 0o7777)?;
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
                self.full = Some(e);
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

/// Unmounts bundle `name` (refused while busy: then nothing has changed), removes what its
/// record lists through `root`, then the mount point and the record; how many additions
/// were removed.
fn withdraw(root: Fd, name: &[u8], names: &Names) -> Result<u32, Errno> {
    mount::umount(names.target.as_cstr(), 0)?;
    // Made by activation, and empty now.
    let _ = fs::unlinkat(Fd::CWD, names.target.as_cstr(), AT_REMOVEDIR);
    let removed = Mapping::open(Fd::CWD, names.record.as_cstr()).map_or(0, |m| remove_added(root, name, m.bytes()));
    fs::unlinkat(Fd::CWD, names.record.as_cstr(), 0)?;
    Ok(removed)
}

fn deactivate(name: &[u8], args: &StartArgs) -> Result<(), Reported> {
    let names = Names::new(name)?;
    if !names.mounted() {
        return Err(refuse(name, b"no such bundle", None));
    }
    if !names.recorded() {
        return Err(refuse(name, b"part of the boot; only activated bundles are deactivated", None));
    }
    let dev = fs::stat(names.target.as_cstr()).map_err(|e| refuse(name, b"", Some(e)))?.st_dev as u64;
    let root = fs::open(c"/", O_RDONLY | O_DIRECTORY).map_err(|e| refuse(b"/", b"", Some(e)))?;
    let removed = match users(name, dev) {
        0 => withdraw(root.fd(), name, &names),
        _ => return Err(Reported),
    };
    match removed {
        Ok(removed) => info!("bundle %s deactivated: %n entries removed", name; removed),
        Err(Errno::BUSY) => return Err(refuse(name, b"in use; nothing changed", None)),
        Err(e) => return Err(refuse(name, b"", Some(e))),
    }
    after_change(args);
    Ok(())
}

/// Names each process that has a file of the filesystem `dev` open or mapped, or as its
/// working directory or root (as `fuser -m` does); how many there are.
fn users(name: &[u8], dev: u64) -> u32 {
    let mut n = 0;
    fs::for_each_opened(c"/proc", |p| p.first().is_some_and(u8::is_ascii_digit), b"/proc/", &mut |pid, proc_dir| {
        let on_bundle = |dir: Fd, entry: &CStr| fs::statat(dir, entry, 0).is_ok_and(|st| st.st_dev as u64 == dev);
        let mut uses = on_bundle(proc_dir, c"cwd") || on_bundle(proc_dir, c"root");
        for list in [c"fd", c"map_files"] {
            let Ok(fds) = fs::openat(proc_dir, list, O_RDONLY | O_DIRECTORY, 0) else { continue };
            let Ok(mut dir) = Dir::open_at(fds.fd(), c".") else { continue };
            while let (false, Ok(Some(e))) = (uses, dir.next_entry()) {
                uses = on_bundle(fds.fd(), e.cname());
            }
        }
        if uses {
            n += 1;
            let mut comm = [0u8; 32];
            let comm = fs::read_file(proc_dir, c"comm", &mut comm).unwrap_or(b"?\n");
            let pid = crate::parse::cmdline::parse_u32(pid).unwrap_or(0);
            error!("bundle %s: in use by process %n (%s); nothing changed", name, comm.strip_suffix(b"\n").unwrap_or(comm); pid);
        }
    });
    n
}

/// Every bundle, `boot NAME` or `activated NAME`, one a line on stdout.
fn list() -> Result<(), Reported> {
    fs::chdir(MEMORY).map_err(|e| refuse(MEMORY.to_bytes(), b"", Some(e)))?;
    let mut dir = Dir::open(c"bundles").map_err(|e| refuse(b"bundles", b"", Some(e)))?;
    while let Ok(Some(e)) = dir.next_entry() {
        let recorded = Path::from_parts(&[RECORDS, e.name()]).is_ok_and(|r| fs::statat(Fd::CWD, r.as_cstr(), 0).is_ok());
        let kind: &[u8] = if recorded { b"activated " } else { b"boot " };
        if let Ok(line) = Path::from_parts(&[kind, e.name(), b"\n"]) {
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
            let _ = fs::chdir(c"/");
            let e = process::execve(path, a.as_ptr(), args.envp());
            refuse(path.to_bytes(), b"exec: ", Some(e));
            process::exit(127);
        }
        process::wait(pid as i32)
    });
    match status {
        Ok((_, 0)) => {}
        Ok((_, st)) => warning!("%s failed (wait status %n); the change stays", path.to_bytes(); st as u32),
        Err(e) => {
            refuse(path.to_bytes(), b"fork: ", Some(e));
        }
    }
}
