//! The `root=` boot: find the device, mount it, check its init, switch, exec.
use super::{devices, switch, Boot};
use crate::out::{self, Line};
use crate::parse::cmdline::device_spec;
use crate::parse::superblock::FsType;
use crate::sys::fs::{self, O_PATH};
use crate::sys::mount::{self, MS_RDONLY, MS_SILENT};
use crate::sys::start::Argv;
use crate::sys::{process, Errno, PathBuf};
use crate::kmod::Modules;
use crate::Reported;
use core::ffi::CStr;

/// Where the real root is mounted before the switch.
pub const NEW_ROOT: &CStr = c"/root";

/// The kernel's own fallback list when `init=` is not given.
pub const DEFAULT_INITS: [&CStr; 4] = [c"/sbin/init", c"/etc/init", c"/bin/init", c"/bin/sh"];

/// Filesystems tried, in order, when neither `rootfstype=` nor the superblock says: a
/// comma list like `rootfstype=`'s, so one loop serves all three cases.
const FALLBACK_TYPES: &[u8] = b"ext4,btrfs,xfs,vfat,iso9660,squashfs,erofs";

/// Runs the root= boot; returns only after reporting why it failed.
// Out of line: inlined into `stage::boot`, it costs aarch64 224 bytes (measured).
#[inline(never)]
pub fn run(boot: &mut Boot) -> Reported {
    let Some(root) = boot.cfg.root else {
        error!("no root= on the command line");
        return Reported;
    };
    let Some(spec) = device_spec(root) else {
        return names_no_device(root);
    };
    out::stage(b"looking for the root device");
    let Some(index) = boot.devices.wait_for(&spec, boot.cfg.rootwait) else {
        let waited_s = devices::wait_limit_ms(boot.cfg.rootwait) / 1000;
        error!("root %s not found after %n s", root; waited_s);
        // /dev/mapper/…, a typo, a label of another machine: the forms that do work.
        names_no_device(root);
        boot.devices.report();
        return Reported;
    };
    boot.devices.probe(index);
    let dev = &boot.devices.list[index];
    let dev_path = dev.path();
    let dev_name = dev.name;
    let detected = dev.sb.as_ref().map(|sb| sb.fstype);
    if let Err(r) = mount_root(dev_path.as_cstr(), detected, &boot.cfg, &mut boot.devices.modules) {
        return r;
    }
    let mut line = Line::info();
    line.s(b"root ").s(root).s(b" is ").s(dev_name.as_bytes());
    if let Some(t) = detected {
        line.s(b" (").s(t.name()).s(b")");
    }
    line.emit();
    out::stage(b"root mounted");
    let mut init_buf = PathBuf::new();
    let init = match find_init(&boot.cfg, &mut init_buf) {
        Ok(init) => init,
        Err(r) => {
            // Leave the root unmounted so the rescue shell and a retry start clean.
            let _ = mount::umount(NEW_ROOT, mount::MNT_DETACH);
            return r;
        }
    };
    switch_and_exec(boot, init)
}

/// `root=` names nothing this init can find: it says which forms work. Without udev, /dev
/// holds only the kernel's names, and the /dev/disk/by-* links are read as the tags.
fn names_no_device(root: &[u8]) -> Reported {
    error!("root=%s: no such device (use /dev/NAME, UUID=, LABEL=, PARTUUID=, PARTLABEL=, MAJ:MIN or their /dev/disk/by-* link)", root);
    Reported
}

/// Mounts `dev` on NEW_ROOT with the first type that works.
fn mount_root(dev: &CStr, detected: Option<FsType>, cfg: &crate::parse::cmdline::BootConfig, modules: &mut Modules) -> Result<(), Reported> {
    let mut flags = MS_SILENT | if cfg.read_only { MS_RDONLY } else { 0 };
    let mut data_buf = PathBuf::<512>::new();
    let data = match cfg.rootflags {
        Some(f) => Some(data_buf.push(f).map_err(|e| crate::report(b"rootflags", f, e))?.as_cstr()),
        None => None,
    };
    // Already mounted from an earlier try (the rescue shell returned): start over.
    let _ = mount::umount(NEW_ROOT, mount::MNT_DETACH);
    let _ = fs::mkdir(NEW_ROOT, 0o755);
    // A detected type that cannot be mounted (swap) leaves nothing to try.
    let types = cfg.rootfstype.or(detected.map(|t| t.mount_type().unwrap_or(b""))).unwrap_or(FALLBACK_TYPES);
    let mut last = Errno::NODEV;
    let mut name = PathBuf::<256>::new();
    loop {
        for t in types.split(|&b| b == b',').filter(|t| !t.is_empty()) {
            name.truncate(0);
            if name.push(t).is_err() {
                continue;
            }
            modules.load_fs(t);
            match mount::mount(dev, NEW_ROOT, Some(name.as_cstr()), flags, data) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = e;
                    warning!("mount %s as %s: %e", dev.to_bytes(), t; e);
                }
            }
        }
        // `rw` on write-protected media: read-only, as the kernel's own root mount does.
        if flags & MS_RDONLY != 0 || !matches!(last, Errno::ACCES | Errno::ROFS) {
            break;
        }
        warning!("root %s is write-protected; mounting it read-only", dev.to_bytes());
        flags |= MS_RDONLY;
    }
    // The last error alone misleads when nothing was recognised: it is the last type's.
    let hint: &[u8] = match detected {
        Some(FsType::Swap) => b" (it is a swap partition)",
        None if cfg.rootfstype.is_none() => b" (no known filesystem on it)",
        _ if last == Errno::NODEV => b" (filesystem driver missing from the image?)",
        _ => b"",
    };
    error!("cannot mount root %s: %e%s", dev.to_bytes(), hint; last);
    Err(Reported)
}

/// The init to exec: `init=` or the first of the kernel's default list present in the root.
fn find_init<'b>(cfg: &crate::parse::cmdline::BootConfig, buf: &'b mut PathBuf<256>) -> Result<&'b CStr, Reported> {
    let root = fs::open(NEW_ROOT, fs::O_RDONLY | fs::O_DIRECTORY).map_err(|e| crate::report(b"open", NEW_ROOT.to_bytes(), e))?;
    pick_init(root.fd(), cfg.init, buf)
}

/// `init` if given and executable inside `root`, else the first default that is. The path
/// of an `init=` is made in `buf` (empty), where the C string it needs is built in place.
pub fn pick_init<'b>(root: fs::Fd, init: Option<&[u8]>, buf: &'b mut PathBuf<256>) -> Result<&'b CStr, Reported> {
    if let Some(init) = init {
        let checked = buf.push(init).and_then(|path| check_executable(root, path.as_cstr()).map(|()| path.as_cstr()));
        return checked.map_err(|e| crate::report(b"init", init, e));
    }
    for &candidate in &DEFAULT_INITS {
        if check_executable(root, candidate).is_ok() {
            return Ok(candidate);
        }
    }
    error!("no init in the new root (tried /sbin/init /etc/init /bin/init /bin/sh)");
    Err(Reported)
}

/// Is `path` (resolved inside `root`) a regular file with an execute bit?
pub fn check_executable(root: fs::Fd, path: &CStr) -> Result<(), Errno> {
    let fd = match fs::open_in_root(root, path, O_PATH) {
        // Before Linux 5.6: resolve as best we can from here (absolute links may mislead).
        Err(Errno::NOSYS) => fs::openat(root, trim_slash(path), O_PATH, 0)?,
        other => other?,
    };
    let st = fs::fstat(fd.fd())?;
    if fs::file_type(&st) != fs::FileType::File {
        return Err(Errno::ACCES);
    }
    if st.st_mode & 0o111 == 0 {
        return Err(Errno::ACCES);
    }
    Ok(())
}

fn trim_slash(path: &CStr) -> &CStr {
    let b = path.to_bytes_with_nul();
    match b.iter().position(|&c| c != b'/') {
        Some(i) => crate::sys::cstr::until_nul(&b[i..]),
        None => path,
    }
}

/// Switches to NEW_ROOT and execs `init`; returns only if that failed (already reported).
fn switch_and_exec(boot: &mut Boot, init: &CStr) -> Reported {
    let old_root = match switch::open_old_root() {
        Ok(x) => x,
        Err(r) => return r,
    };
    match mount::is_mount_point(NEW_ROOT) {
        Ok(true) => {}
        _ => {
            error!("refusing to switch: /root is not a mount point");
            return Reported;
        }
    }
    out::stage(b"switching root");
    report_syscalls();
    mount::make_private();
    switch::move_api_mounts(NEW_ROOT.to_bytes());
    if let Err(r) = switch::enter_root(NEW_ROOT) {
        return r;
    }
    old_root.clear();
    crate::out::open_console();
    exec_init(boot, init)
}

/// Execs `init` with the kernel's init arguments; on failure the rest of the default list.
pub fn exec_init(boot: &Boot, init: &CStr) -> Reported {
    // Like the kernel: a failed init= is reported, not silently replaced.
    let mut rest: &[&CStr] = match boot.cfg.init {
        Some(_) => &[],
        None => DEFAULT_INITS.iter().position(|c| *c == init).map_or(&[], |i| &DEFAULT_INITS[i + 1..]),
    };
    let mut current = init;
    loop {
        info!("exec %s", current.to_bytes());
        out::close_kmsg();
        let mut argv = Argv::new();
        argv.push(current);
        for i in 1..boot.args.len() {
            if let Some(a) = boot.args.arg(i) {
                if !argv.push(a) {
                    break;
                }
            }
        }
        let e = process::execve(current, argv.as_ptr(), boot.args.envp());
        crate::out::open_kmsg();
        crate::report(b"exec", current.to_bytes(), e);
        let Some((next, tail)) = rest.split_first() else { return Reported };
        current = next;
        rest = tail;
    }
}

/// `debug`: the system calls made up to the switch, for the benchmark. (The memory held
/// there, read from smaps_rollup, was dropped for the 64 KiB budget: issue 13's bundle role
/// took its 312 bytes on aarch64.)
pub fn report_syscalls() {
    if !out::debug_enabled() {
        return;
    }
    debug!("syscalls %n"; crate::sys::syscall_count());
}
