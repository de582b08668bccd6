//! The `/run/initramfs/shutdown` role: takes the machine down so that nothing written to
//! the persistent changes is lost, then calls reboot(2). It never exits.
//!
//! Two ways in (DESIGN.md §4):
//! - systemd: systemd-shutdown pivots into /run/initramfs (bind-mounted), the old root at
//!   `/oldroot`, /dev /proc /sys /run bound in, and execs `/shutdown VERB [--options]` as
//!   PID 1. `/oldroot` being a mount point tells us that this has happened.
//! - any other init (busybox, sysvinit): its last shutdown script runs
//!   `/run/initramfs/shutdown VERB`. We are still in the real root then: we stop the other
//!   processes and pivot back into /run/initramfs ourselves (the union at `/oldroot`, the API
//!   filesystems moved along), and take down the same way. The robust form is `exec` from
//!   the script of a shell PID 1 (or from an init that execs its final action): called as a
//!   child instead, the running init's executable keeps the union busy, so the union and the
//!   layers under it can only be remounted read-only (synced, journal flushed) and detached,
//!   not unmounted; the data still reaches the disk.
//!
//! The take-down follows systemd's `src/shutdown/umount.c`: passes over
//! /proc/self/mountinfo, deepest mount first, each writable device-backed filesystem
//! remounted read-only just before its unmount (it is flushed even if the unmount fails, or
//! succeeds while the union still uses it underneath), until a pass changes nothing. Then it
//! does what systemd cannot: a busy mount that holds its parent up is moved aside (MS_MOVE),
//! so that the parent goes and, with it, the last user of the moved mount (typically the
//! data device, busy with the loop devices of the bundles until the union is gone). What
//! still resists is named, remounted read-only and detached (MNT_DETACH). Then loop devices
//! are released (LOOP_CLR_FD), everything synced, reboot(2).
use crate::out;
use crate::parse::mountinfo::{self, MountEntry, Node};
use crate::parse::procstat;
use crate::sys::fs::{self, Fd, O_RDONLY};
use crate::sys::mount::{self, MNT_DETACH, MS_MOVE, MS_RDONLY, MS_REMOUNT};
use crate::sys::process::{self, RebootCmd};
use crate::sys::start::StartArgs;
use crate::sys::{loopdev, Errno, PathBuf};
use core::ffi::CStr;
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// The verbs systemd passes, in the order of `VERB_CMDS`.
const VERBS: &[u8] = b"poweroff reboot halt kexec exit";
/// What reboot(2) is asked for each verb. `kexec` is a plain restart when no kernel is
/// loaded (see `finish`); systemd's `exit` ends a container with --exit-code, and a machine
/// powers off.
const VERB_CMDS: [RebootCmd; 5] = [RebootCmd::PowerOff, RebootCmd::Restart, RebootCmd::Halt, RebootCmd::Kexec, RebootCmd::PowerOff];

/// The name of verb `i`.
fn verb_name(i: usize) -> &'static [u8] {
    VERBS.split(|&b| b == b' ').nth(i).unwrap_or(b"")
}

/// How the other processes are stopped: each signal (its number as text too, as a message
/// takes one number argument) and how long to wait for them to exit.
static STOP_SIGNALS: [(u32, &[u8], u32); 2] = [(process::SIGTERM, b"15", 1000), (process::SIGKILL, b"9", 500)];

/// Unmount passes before the last one: a pass that changes nothing (after moving mounts
/// aside) ends them sooner, so this only bounds pathological cases.
const MAX_PASSES: u32 = 16;
/// How long an unmount, a read-only remount or a sync may go on with the kernel writing
/// nothing back (Dirty + Writeback in /proc/meminfo not shrinking) before it is given up:
/// a dead network filesystem or a stuck device must not keep the machine from powering off.
/// systemd does the same (umount_with_timeout, remount_with_timeout and sync_with_progress
/// in src/shutdown/): the call runs in a child process, which the parent stops waiting for.
const STALL_MS: u64 = 10_000;
/// /proc/self/mountinfo of a live system with 500 bundles is about 100 KiB.
const MOUNTINFO_MAX: usize = 128 << 10;
/// Mounts planned per pass; any beyond wait for the next pass.
const MAX_MOUNTS: usize = 1024;

/// API filesystems of the old root moved into the initramfs after our own pivot (or mounted
/// afresh if that fails): mountinfo, loop devices and the console live there.
static API: [(&CStr, &CStr, &CStr); 3] = [
    (c"/oldroot/proc", c"/proc", c"proc"),
    (c"/oldroot/sys", c"/sys", c"sysfs"),
    (c"/oldroot/dev", c"/dev", c"devtmpfs"),
];

/// A mount point: the longest path the kernel's path calls take (PATH_MAX with its NUL).
type Path = PathBuf<4096>;

pub fn run(args: StartArgs) -> ! {
    let start = process::boottime_ms();
    // A child of a dying shell must not die of its SIGHUP halfway through.
    process::block_all_signals();
    // The verb is the first argument that names one: options (`--timeout=…`,
    // `--log-level …`) and their values are ignored, as the protocol allows.
    // No verb at all: power off.
    let verb = (1..args.len()).filter_map(|i| args.arg(i)).find_map(|a| crate::parse::bytes::word_index(VERBS, a.to_bytes())).unwrap_or(0);
    PANIC_VERB.store(verb as u8, Relaxed);
    // Fault injection for tests/hooks.rs only (never in a shipped build): the test's guest
    // creates this file before it hands over (looked for now: after our own pivot, /run is
    // the initramfs' one).
    #[cfg(feature = "fault-hooks")]
    PANIC_IN_TAKE_DOWN.store(fs::stat(c"/run/rdinit-test-panic").is_ok(), Relaxed);
    // Under systemd, /oldroot is the old root, mounted; anywhere else it is missing or a
    // plain directory, and we are still in the real root.
    let pivot = !mount::is_mount_point(c"/oldroot").unwrap_or(false);
    // Whatever happens next, what is written so far reaches the disks first.
    sync();
    if pivot {
        stop_processes();
        return_to_initramfs();
    }
    out::open_kmsg();
    info!("shutdown: %s%s", verb_name(verb), if pivot { b", back in /run/initramfs" } else { b"" });
    let mut buf = [0u8; MOUNTINFO_MAX];
    let done = take_down(&mut System, &mut buf);
    // Loop devices whose filesystem went with the last passes.
    System.detach_loops();
    sync();
    let ms = process::boottime_ms() - start;
    let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
    let unmounted = out::format_u64(done.unmounted.into(), &mut a);
    if done.left == 0 {
        info!("shutdown: unmounted %s, none left in %n ms", unmounted; ms);
    } else {
        info!("shutdown: unmounted %s, %s detached in %n ms", unmounted, out::format_u64(done.left.into(), &mut b); ms);
    }
    finish(verb)
}

/// The index in VERBS of what this shutdown was asked for, once it runs: a panic (a bug)
/// must not keep the machine from going down as asked.
static PANIC_VERB: AtomicU8 = AtomicU8::new(u8::MAX);

/// Called by the panic handler: when the shutdown role is running, it syncs and reboots as
/// asked (nothing is unmounted: the state of the take-down is unknown), else returns.
pub fn after_panic() {
    let verb = usize::from(PANIC_VERB.load(Relaxed));
    if verb < VERB_CMDS.len() {
        sync();
        finish(verb);
    }
}

/// Fault injection for tests/hooks.rs only: the take-down panics after its first unmount,
/// with the union and the data device still mounted.
#[cfg(feature = "fault-hooks")]
static PANIC_IN_TAKE_DOWN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// reboot(2) for the verb; never returns.
fn finish(verb: usize) -> ! {
    let mut cmd = VERB_CMDS.get(verb).copied().unwrap_or(RebootCmd::PowerOff);
    let mut buf = [0u8; 4];
    if cmd == RebootCmd::Kexec && fs::read_file(Fd::CWD, c"/sys/kernel/kexec_loaded", &mut buf).ok() != Some(b"1\n") {
        info!("shutdown: no kexec kernel loaded; rebooting");
        cmd = RebootCmd::Restart;
    }
    let e = process::reboot(cmd);
    crate::report(b"shutdown: reboot", verb_name(verb), e);
    loop {
        process::sleep_ms(1 << 30);
    }
}

/// Stops the other processes as systemd does before it hands over: SIGTERM (and SIGCONT,
/// for stopped ones), up to 1 s to exit, then SIGKILL and up to 0.5 s.
fn stop_processes() {
    for &(sig, name, wait_ms) in STOP_SIGNALS.iter() {
        let n = signal_others(sig);
        if n == 0 {
            return;
        }
        info!("shutdown: signal %s to %n processes", name; n);
        let _ = signal_others(process::SIGCONT);
        let mut waited = 0;
        while waited < wait_ms && signal_others(0) > 0 {
            process::sleep_ms(20);
            waited += 20;
        }
    }
}

/// Sends `sig` (0: none) to every user process but PID 1, us, and those whose argv[0]
/// starts with `@` (systemd's mark for root-storage daemons); returns how many there are.
/// Kernel threads and zombies are not counted (`kill(-1)` would count kernel threads, so it
/// cannot tell when everyone is gone).
fn signal_others(sig: u32) -> u32 {
    let me = process::getpid();
    let mut n = 0;
    fs::for_each_opened(c"/proc", |name| name.first().is_some_and(u8::is_ascii_digit), b"/proc/", &mut |name, proc_dir| {
        let Some(pid) = crate::parse::cmdline::parse_u32(name.to_bytes()).filter(|&pid| pid > 1 && pid != me) else { return };
        let mut stat = [0u8; 512];
        let mut first = [0u8; 1];
        let live = fs::read_file(proc_dir, c"stat", &mut stat).is_ok_and(procstat::is_live_user_process);
        // An empty cmdline (a process inside execve) is no `@`.
        if live && fs::read_file(proc_dir, c"cmdline", &mut first) != Ok(b"@") {
            n += 1;
            // ESRCH: it has just gone.
            let _ = process::kill(pid as i32, sig);
        }
    });
    n
}

/// Does for a non-systemd init what systemd-shutdown does before exec'ing us: the initramfs
/// becomes `/`, the old root `/oldroot`. A failed step is reported; the take-down then
/// runs from wherever we are, which still syncs and remounts read-only what it can.
fn return_to_initramfs() {
    // pivot_root and MS_MOVE refuse shared mounts.
    mount::make_private();
    let _ = fs::mkdir(c"/run/initramfs/oldroot", 0o755);
    let initramfs = c"/run/initramfs";
    let pivoted = fs::chdir(initramfs)
        .map_err(|e| (&b"shutdown: chdir"[..], e))
        .and_then(|()| mount::pivot_root(c".", c"oldroot").map_err(|e| (&b"shutdown: pivot_root into"[..], e)));
    let _ = fs::chdir(c"/");
    if let Err((what, e)) = pivoted {
        // The name shares the path's bytes.
        crate::report(what, initramfs.to_bytes(), e);
        return;
    }
    for &(from, to, fstype) in API.iter() {
        if mount::mount(from, to, None, MS_MOVE, None).is_err() {
            if let Err(e) = mount::mount(fstype, to, Some(fstype), 0, None) {
                crate::report(b"shutdown: mount", to.to_bytes(), e);
            }
        }
    }
    crate::out::open_console();
}

/// What the take-down does to the system: a trait so that the host tests can run the same
/// passes against a model of busy mounts.
pub trait Ops {
    /// The current /proc/self/mountinfo, read into `buf`: its newest lines if it is larger,
    /// and then `true`.
    fn mountinfo<'b>(&mut self, buf: &'b mut [u8]) -> (&'b [u8], bool);
    /// `umount2(path, flags)`.
    fn umount(&mut self, path: &CStr, flags: u32) -> Result<(), Errno>;
    /// `mount(path, MS_REMOUNT | MS_RDONLY)`: the superblock, not just this mount.
    fn remount_ro(&mut self, path: &CStr) -> Result<(), Errno>;
    /// Moves the mount at `path` to a fresh directory named after `id`, outside /oldroot.
    fn move_aside(&mut self, path: &CStr, id: u32) -> Result<(), Errno>;
    /// `LOOP_CLR_FD` on every loop device (a device still in use is only marked autoclear).
    fn detach_loops(&mut self);
}

/// How the take-down ended.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Outcome {
    pub unmounted: u32,
    /// Mounts still there at the end, detached (MNT_DETACH) after a read-only remount.
    pub left: u32,
}

/// Unmounts everything but `/` and its /proc /sys /dev, as the module doc describes.
// Out of line: smaller so on every architecture (measured: aarch64 -104 B, x86_64 -56 B).
#[inline(never)]
pub fn take_down<O: Ops>(ops: &mut O, buf: &mut [u8]) -> Outcome {
    let mut plan = [Node::default(); MAX_MOUNTS];
    let mut path = Path::new();
    let mut done = Outcome { unmounted: 0, left: 0 };
    // The last pass (after one that changed nothing, or at the pass budget) names what
    // still resists, and detaches it: it leaves the tree now, and its filesystem ends when
    // its last user does, read-only, with nothing to lose.
    let mut last = false;
    let mut pass = 1;
    loop {
        let (text, partial) = ops.mountinfo(buf);
        let (n, more) = mountinfo::takedown_plan(text, &mut plan);
        let plan = &plan[..n];
        let mut changed = false;
        // Unmounts; when none succeeds, a second round over the same plan moves aside the
        // busy mounts that hold their parent up: the parent (the union's /run, the
        // initramfs' own mount) can then go, and with the union gone, the users of the moved
        // mount (loop devices of the bundles on the data device) go too. One loop for both
        // rounds: one copy of the code that finds a mount's path.
        let mut moving = false;
        loop {
            for (i, node) in plan.iter().enumerate() {
                if moving && !mountinfo::blocks_parent(plan, i) {
                    continue;
                }
                let Some(e) = resolve(text, node, &mut path) else { continue };
                if moving {
                    changed |= ops.move_aside(path.as_cstr(), node.id).is_ok();
                    continue;
                }
                // Read-only first, as systemd does: it flushes now (ext4 writes its journal
                // out and clears needs_recovery), and it protects what outlives the unmount:
                // a layer of the union lives on inside the union until that goes, and a busy
                // mount may end up detached. Failing (files open for writing) matters only at
                // the end.
                let mut hung = false;
                if writable_device(&e) {
                    match ops.remount_ro(path.as_cstr()) {
                        Err(Errno::TIMEDOUT) => hung = true,
                        Err(err) if last => {
                            crate::report(b"shutdown: remount read-only", path.as_bytes(), err);
                        }
                        _ => {}
                    }
                }
                let unmounted = if hung { Err(Errno::TIMEDOUT) } else { ops.umount(path.as_cstr(), 0) };
                match unmounted {
                    Ok(()) => {
                        changed = true;
                        done.unmounted += 1;
                        announce(&e, &path);
                        #[cfg(feature = "fault-hooks")]
                        if PANIC_IN_TAKE_DOWN.load(Relaxed) {
                            error!("shutdown: fault hook: panic after unmounting %s", path.as_bytes());
                            panic!("fault hook: shutdown");
                        }
                    }
                    // Hung (see STALL_MS): detached now, as it would only hang again.
                    Err(err) if last || err == Errno::TIMEDOUT => {
                        changed = true;
                        done.left += 1;
                        warning!("shutdown: umount %s: %e; detaching it", path.as_bytes(); err);
                        if let Err(err) = ops.umount(path.as_cstr(), MNT_DETACH) {
                            crate::report(b"shutdown: detach", path.as_bytes(), err);
                        }
                    }
                    // Busy for now: a later pass, a move aside, or the last pass.
                    Err(_) => {}
                }
            }
            if moving || changed || last || n == 0 {
                break;
            }
            ops.detach_loops();
            moving = true;
        }
        if last || n == 0 {
            return done;
        }
        // Passes over part of the table (what did not fit the buffer or the plan) are not
        // counted: each takes some mounts away, and the rest comes into view.
        if !(partial || more) {
            pass += 1;
        }
        last = !changed || pass > MAX_PASSES;
    }
}

/// Reads a mount table through `read` (one read(2) each call, 0 at the end) into `buf`.
/// A table larger than `buf` keeps its newest lines, whole: when `buf` fills up, its older
/// half goes. The newest mounts are the ones to take down first (a mount is newer than the
/// mount it sits on), and the older ones come into view as they go. Also says whether
/// lines were dropped.
fn read_table<'b>(buf: &'b mut [u8], read: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>) -> Result<(&'b [u8], bool), Errno> {
    let (mut len, mut partial) = (0, false);
    loop {
        if len == buf.len() {
            // The first line that starts in the second half: lines are a few hundred bytes,
            // so one that fills half the buffer is garbage, dropped whole too.
            let keep = buf[len / 2..len].iter().position(|&c| c == b'\n').map_or(len, |i| len / 2 + i + 1);
            crate::parse::bytes::move_down(&mut buf[..len], keep, 0);
            len -= keep;
            partial = true;
        }
        let n = read(&mut buf[len..])?;
        if n == 0 {
            // A line cut by a drop cannot start the text: drops end at a newline.
            return Ok((&buf[..len], partial));
        }
        len += n;
    }
}

/// The mount of a plan node, its unescaped mount point put in `path` (a buffer the passes
/// share: a new one in each result would be copied out of it).
// Out of line: smaller so (measured: aarch64 -16 B, x86_64 -160 B).
#[inline(never)]
fn resolve<'t>(text: &'t [u8], node: &Node, path: &mut Path) -> Option<MountEntry<'t>> {
    let e = mountinfo::entry_at(text, node.line)?;
    let mut raw = [0u8; 4096];
    path.truncate(0);
    let Some(_) = mountinfo::unescape(e.mount_point, &mut raw).and_then(|p| path.push(p).ok()) else {
        // Deeper than any path call reaches: it goes with the mount it sits on, which is
        // detached at the end if this keeps it busy.
        warning!("shutdown: mount point too long to unmount: %s", e.mount_point);
        return None;
    };
    Some(e)
}

/// A filesystem on a device (not tmpfs, proc, overlay...), still writable: the ones whose
/// data must reach the disk.
fn writable_device(e: &MountEntry) -> bool {
    e.source.starts_with(b"/dev/") && !mountinfo::has_option(e.super_options, b"ro")
}

/// One line per device-backed filesystem unmounted (the data device, a changes image or
/// device, an ISO), so the console shows where the persistent data went; bundles are many
/// and read-only, and stay quiet.
fn announce(e: &MountEntry, path: &Path) {
    if e.source.starts_with(b"/dev/") && e.fstype != b"squashfs" && e.fstype != b"erofs" {
        info!("shutdown: unmounted %s (%s)", path.as_bytes(), e.source);
    }
}

/// sync(2), given up after STALL_MS without writeback progress (reported).
fn sync() {
    if bounded(&|| {
        fs::sync();
        Ok(())
    }) == Err(Errno::TIMEDOUT)
    {
        warning!("shutdown: sync stalled for %n s; going on"; STALL_MS / 1000);
    }
}

/// Runs `op` in a child process and waits while the child runs and the kernel writes data
/// back; after STALL_MS without progress, stops waiting and returns ETIMEDOUT. The child is
/// sent SIGKILL, which it only gets once the kernel lets go of it: a process stuck in
/// umount(2) on a dead filesystem cannot be stopped, only left behind.
fn bounded(op: &dyn Fn() -> Result<(), Errno>) -> Result<(), Errno> {
    let pid = match process::fork() {
        Ok(0) => process::exit(op().map_or_else(|e| i32::from(e.0), |()| 0)),
        Ok(pid) => pid as i32,
        // No child to spare: the call itself, unbounded, rather than none.
        Err(_) => return op(),
    };
    let mut pending = pending_writeback_kb();
    let mut waited = 0;
    loop {
        match process::try_wait(pid)? {
            Some(0) => return Ok(()),
            Some(code) => return Err(Errno(code.clamp(1, 4095) as u16)),
            None => {}
        }
        process::sleep_ms(20);
        waited += 20;
        if waited >= STALL_MS {
            let now = pending_writeback_kb();
            if now >= pending {
                // ESRCH: it ended meanwhile; its zombie goes with the machine.
                let _ = process::kill(pid, process::SIGKILL);
                return Err(Errno::TIMEDOUT);
            }
            (pending, waited) = (now, 0);
        }
    }
}

/// Data on its way to the disks: Dirty + Writeback of /proc/meminfo, in KiB.
fn pending_writeback_kb() -> u64 {
    let mut buf = [0u8; 2048];
    let text = fs::read_file(Fd::CWD, c"/proc/meminfo", &mut buf).unwrap_or(&[]);
    procstat::meminfo_kb(text, b"Dirty") + procstat::meminfo_kb(text, b"Writeback")
}

/// The real system.
struct System;

impl Ops for System {
    fn mountinfo<'b>(&mut self, buf: &'b mut [u8]) -> (&'b [u8], bool) {
        let path = c"/proc/self/mountinfo";
        let table = fs::open(path, O_RDONLY).and_then(|fd| read_table(buf, &mut |chunk| fs::read(fd.fd(), chunk)));
        table.unwrap_or_else(|e| {
            crate::report(b"shutdown: read", path.to_bytes(), e);
            (&[], false)
        })
    }

    fn umount(&mut self, path: &CStr, flags: u32) -> Result<(), Errno> {
        // MNT_DETACH returns at once; an unmount may write a whole filesystem back.
        match flags & MNT_DETACH {
            0 => bounded(&|| mount::umount(path, flags)),
            _ => mount::umount(path, flags),
        }
    }

    fn remount_ro(&mut self, path: &CStr) -> Result<(), Errno> {
        // Data the disk refused to take (EIO from a failing disk) is lost, and sync(2), the
        // remount and the unmount all succeed: only syncfs(2) tells, once per filesystem.
        match bounded(&|| fs::open(path, O_RDONLY).and_then(|fd| fs::syncfs(fd.fd()))) {
            Err(Errno::TIMEDOUT) => return Err(Errno::TIMEDOUT),
            Err(e) => {
                crate::report(b"shutdown: data lost, write-back failed on", path.to_bytes(), e);
            }
            Ok(()) => {}
        }
        bounded(&|| mount::mount(c"none", path, None, MS_REMOUNT | MS_RDONLY, None))
    }

    fn move_aside(&mut self, path: &CStr, id: u32) -> Result<(), Errno> {
        let mut digits = [0u8; 20];
        let mut target = PathBuf::<32>::new();
        target.push(b"/aside/")?.push(out::format_u64(id.into(), &mut digits))?;
        if fs::mkdir(c"/aside", 0o700) == Err(Errno::ROFS) {
            // systemd-shutdown may have remounted the initramfs read-only before the
            // hand-back; it is a tmpfs, so writing to it again risks nothing.
            let _ = mount::mount(c"none", c"/", None, MS_REMOUNT, None);
            let _ = fs::mkdir(c"/aside", 0o700);
        }
        fs::mkdir(target.as_cstr(), 0o700)?;
        mount::mount(path, target.as_cstr(), None, MS_MOVE, None)
    }

    fn detach_loops(&mut self) {
        fs::for_each_opened(c"/sys/block", |name| name.starts_with(b"loop"), b"/dev/", &mut |_, dev| {
            // ENXIO: not attached. A device still mounted is only marked autoclear (it goes
            // with its filesystem): nothing to report either way.
            let _ = loopdev::detach(dev);
        });
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    /// One mount of the model.
    #[derive(Clone)]
    struct M {
        id: u32,
        parent: u32,
        path: String,
        fstype: String,
        source: String,
        ro: bool,
    }

    /// A mount table with the kernel's rules that matter here: a mount with mounts on it is
    /// busy; `pinned` paths are busy (a process uses them); `held` mounts (by id) are busy
    /// while an overlay is mounted (the loop devices of the bundles keep files open through
    /// the data device's mount until the union is gone), and their filesystem cannot be made
    /// read-only then if `held_rw` (a loop device writes to a file on it).
    struct Model {
        mounts: Vec<M>,
        pinned: Vec<String>,
        held: Vec<u32>,
        held_rw: bool,
        /// Paths whose unmount and remount hang (a dead NFS server, a stuck disk): the
        /// bounded call gives up with ETIMEDOUT.
        hung: Vec<String>,
        log: Vec<String>,
    }

    impl Model {
        fn from_fixture(text: &str) -> Model {
            let mounts = mountinfo::entries(text.as_bytes())
                .map(|e| M {
                    id: e.id,
                    parent: e.parent_id,
                    path: unescaped(e.mount_point),
                    fstype: String::from_utf8_lossy(e.fstype).into(),
                    source: String::from_utf8_lossy(e.source).into(),
                    ro: mountinfo::has_option(e.super_options, b"ro"),
                })
                .collect();
            Model { mounts, pinned: vec![], held: vec![], held_rw: false, hung: vec![], log: vec![] }
        }

        fn top(&self, path: &str) -> Option<usize> {
            self.mounts.iter().rposition(|m| m.path == path)
        }

        fn subtree(&self, id: u32) -> Vec<u32> {
            let mut ids = vec![id];
            let mut i = 0;
            while i < ids.len() {
                let p = ids[i];
                ids.extend(self.mounts.iter().filter(|m| m.parent == p).map(|m| m.id));
                i += 1;
            }
            ids
        }

        fn busy(&self, i: usize) -> bool {
            let m = &self.mounts[i];
            self.mounts.iter().any(|c| c.parent == m.id)
                || self.pinned.contains(&m.path)
                || (self.held.contains(&m.id) && self.mounts.iter().any(|o| o.fstype == "overlay"))
        }

        fn umounts(&self) -> Vec<&str> {
            self.log.iter().filter_map(|l| l.strip_prefix("umount ")).collect()
        }

        fn position(&self, entry: &str) -> usize {
            self.log.iter().position(|l| l == entry).unwrap_or_else(|| panic!("no {entry:?} in {:#?}", self.log))
        }
    }

    fn unescaped(raw: &[u8]) -> String {
        let mut buf = [0u8; 4096];
        String::from_utf8_lossy(mountinfo::unescape(raw, &mut buf).unwrap()).into()
    }

    fn s(p: &CStr) -> String {
        p.to_str().unwrap().to_owned()
    }

    impl Ops for Model {
        /// The table as the kernel writes it, read the way `System` reads it: the kernel's
        /// seq_file hands out whole lines, at most a page per read(2).
        fn mountinfo<'b>(&mut self, buf: &'b mut [u8]) -> (&'b [u8], bool) {
            let mut text = String::new();
            for m in &self.mounts {
                let path = m.path.replace(' ', "\\040");
                let ro = if m.ro { "ro" } else { "rw" };
                text += &format!("{} {} 0:{} / {path} {ro} - {} {} {ro}\n", m.id, m.parent, m.id, m.fstype, m.source);
            }
            let mut at = 0;
            let mut read = |chunk: &mut [u8]| {
                let mut n = 0;
                for line in text[at..].split_inclusive('\n') {
                    if n + line.len() > chunk.len().min(4096) {
                        // A line longer than the whole chunk comes out in pieces.
                        if n == 0 {
                            n = chunk.len().min(line.len());
                            chunk[..n].copy_from_slice(&line.as_bytes()[..n]);
                        }
                        break;
                    }
                    chunk[n..n + line.len()].copy_from_slice(line.as_bytes());
                    n += line.len();
                }
                at += n;
                Ok(n)
            };
            read_table(buf, &mut read).unwrap_or_else(|e| panic!("read: {}", e.0))
        }

        fn umount(&mut self, path: &CStr, flags: u32) -> Result<(), Errno> {
            let i = self.top(&s(path)).ok_or(Errno::INVAL)?;
            if flags & MNT_DETACH == 0 && self.hung.contains(&s(path)) {
                self.log.push(format!("hang {}", s(path)));
                return Err(Errno::TIMEDOUT);
            }
            let ids = if flags & MNT_DETACH != 0 {
                self.log.push(format!("detach {}", s(path)));
                self.subtree(self.mounts[i].id)
            } else {
                if self.busy(i) {
                    return Err(Errno::BUSY);
                }
                self.log.push(format!("umount {}", s(path)));
                vec![self.mounts[i].id]
            };
            self.mounts.retain(|m| !ids.contains(&m.id));
            Ok(())
        }

        fn remount_ro(&mut self, path: &CStr) -> Result<(), Errno> {
            let i = self.top(&s(path)).ok_or(Errno::INVAL)?;
            if self.hung.contains(&s(path)) {
                self.log.push(format!("hang {}", s(path)));
                return Err(Errno::TIMEDOUT);
            }
            let source = self.mounts[i].source.clone();
            let held = self.mounts.iter().any(|m| m.source == source && self.held.contains(&m.id));
            if self.held_rw && held && self.mounts.iter().any(|o| o.fstype == "overlay") {
                return Err(Errno::BUSY);
            }
            self.log.push(format!("ro {}", s(path)));
            // The superblock: every mount of the same source.
            for m in self.mounts.iter_mut().filter(|m| m.source == source) {
                m.ro = true;
            }
            Ok(())
        }

        fn move_aside(&mut self, path: &CStr, id: u32) -> Result<(), Errno> {
            let i = self.top(&s(path)).ok_or(Errno::INVAL)?;
            let root = self.mounts.iter().find(|m| m.path == "/").map(|m| m.id).unwrap();
            let (from, to) = (s(path), format!("/aside/{id}"));
            self.log.push(format!("move {from} {to}"));
            for sub in self.subtree(self.mounts[i].id) {
                let m = self.mounts.iter_mut().find(|m| m.id == sub).unwrap();
                m.path = format!("{to}{}", &m.path[from.len()..]);
            }
            self.mounts[i].parent = root;
            Ok(())
        }

        fn detach_loops(&mut self) {}
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/mountinfo/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn run(model: &mut Model) -> Outcome {
        // The console lines are for machines; keep the test output readable.
        out::set_verbosity(out::Level::Err);
        let mut buf = vec![0u8; MOUNTINFO_MAX];
        take_down(model, &mut buf)
    }

    /// Children before parents, and the kept mounts untouched.
    fn assert_sane_order(model: &Model, initial: &Model) {
        let done = model.umounts();
        for (k, path) in done.iter().enumerate() {
            assert!(!mountinfo::kept_at_shutdown(path.as_bytes()), "{path} is kept but was unmounted");
            // Anything mounted below `path` at the start went before it (or was moved away).
            for m in &initial.mounts {
                if m.path.starts_with(&format!("{path}/")) {
                    let later = done[k + 1..].iter().any(|p| *p == m.path);
                    assert!(!later, "{} unmounted after its parent {path}: {:#?}", m.path, model.log);
                }
            }
        }
    }

    /// systemd's hand-back, captured: the data device is busy with the bundles' loop
    /// devices until the union goes, and the union cannot go while the initramfs' own mount
    /// (holding the data device) sits under its /run. Moving the data device aside breaks
    /// the cycle: everything is unmounted, nothing detached (22, as on the real machine).
    #[test]
    fn systemd_hand_back_unmounts_everything() {
        let text = fixture("shutdown-systemd.txt");
        let mut m = Model::from_fixture(&text);
        m.held = vec![27];
        let initial = Model::from_fixture(&text);
        assert_eq!(run(&mut m), Outcome { unmounted: 22, left: 0 }, "{:#?}", m.log);
        assert_sane_order(&m, &initial);
        let moved = m.position("move /oldroot/run/initramfs/memory/data /aside/27");
        assert!(m.position("umount /oldroot/run/initramfs/memory/changes") < moved);
        assert!(moved < m.position("umount /oldroot/run/initramfs"));
        assert!(m.position("umount /oldroot") < m.position("umount /aside/27"));
        // What is left is exactly what is kept.
        let left: Vec<&str> = m.mounts.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(left, ["/", "/sys", "/dev", "/proc"]);
        assert!(!m.log.iter().any(|l| l.starts_with("detach")));
    }

    /// rdinit pivoted back itself, called as a child of the old init, whose executable keeps
    /// the union busy (captured). The data device is made read-only before anything is
    /// detached, and the union and the data device are the only ones detached.
    #[test]
    fn child_of_the_old_init_detaches_the_union_after_read_only() {
        let text = fixture("shutdown-pivot-ext4.txt");
        let mut m = Model::from_fixture(&text);
        m.pinned = vec!["/oldroot".into()];
        m.held = vec![27];
        let initial = Model::from_fixture(&text);
        assert_eq!(run(&mut m), Outcome { unmounted: 3, left: 2 }, "{:#?}", m.log);
        assert_sane_order(&m, &initial);
        let ro = m.position("ro /memory/changes");
        assert!(ro < m.position("umount /memory/changes"));
        assert!(ro < m.position("detach /memory/data"));
        assert!(m.position("detach /memory/data") < m.position("detach /oldroot"));
        assert!(m.mounts.iter().all(|x| x.source != "/dev/vda" && x.fstype != "overlay"));
    }

    /// Exec'd by the old init, changes in an image on FAT (captured): the FAT cannot be made
    /// read-only while the changes image is open for writing through its loop device, so it
    /// is unmounted (read-only first) once the union and the image have gone.
    #[test]
    fn exec_from_the_old_init_unmounts_the_fat_after_the_union() {
        let text = fixture("shutdown-pivot-fat.txt");
        let mut m = Model::from_fixture(&text);
        m.held = vec![27];
        m.held_rw = true;
        let initial = Model::from_fixture(&text);
        assert_eq!(run(&mut m), Outcome { unmounted: 5, left: 0 }, "{:#?}", m.log);
        assert_sane_order(&m, &initial);
        assert!(m.position("ro /memory/changes") < m.position("umount /memory/changes"));
        let union = m.position("umount /oldroot");
        assert!(m.position("umount /oldroot/run") < union);
        assert!(union < m.position("ro /memory/data"));
        assert!(m.position("ro /memory/data") < m.position("umount /memory/data"));
    }

    /// Five hundred bundles and a changes device: one pass each for the layers, the union
    /// and the data; mount points with spaces survive the escaping.
    #[test]
    fn many_bundles_and_escaped_names() {
        let mut text = String::from("1 0 0:1 / / rw - tmpfs none rw\n2 1 0:2 / /proc rw - proc proc rw\n");
        text += "3 1 254:0 / /memory/data rw - ext4 /dev/vda rw\n";
        for i in 0..500 {
            text += &format!("{} 1 7:{i} / /memory/bundles/b\\040{i}.sb ro - squashfs /dev/loop{i} ro\n", 10 + i);
        }
        text += "600 1 254:16 / /memory/persist rw - ext4 /dev/vdb rw\n";
        text += "601 1 0:3 / /oldroot rw - overlay overlay rw\n";
        let mut m = Model::from_fixture(&text);
        m.held = vec![3];
        assert_eq!(run(&mut m), Outcome { unmounted: 503, left: 0 });
        assert!(m.position("umount /memory/bundles/b 499.sb") < m.position("umount /oldroot"));
        assert!(m.position("umount /oldroot") < m.position("umount /memory/data"));
        assert!(m.position("ro /memory/persist") < m.position("umount /memory/persist"));
    }

    /// A table larger than the buffer: thousands of bundles, their union, the data device
    /// they live on, and a changes device. Every mount is unmounted, none detached, and
    /// the union and the layers go before the data device.
    #[test]
    fn a_mount_table_larger_than_the_buffer_is_taken_down_whole() {
        let mut text = String::from("1 0 0:1 / / rw - tmpfs none rw\n2 1 0:2 / /proc rw - proc proc rw\n");
        text += "3 1 254:0 / /memory/data rw - ext4 /dev/vda rw\n";
        let bundles = 4000;
        for i in 0..bundles {
            text += &format!("{} 1 7:{i} / /memory/bundles/{i:04}-a-long-bundle-name.sb ro - squashfs /dev/loop{i} ro\n", 10 + i);
        }
        text += "9000 1 254:16 / /memory/changes rw - ext4 /dev/vdb rw\n";
        text += "9001 1 0:3 / /oldroot rw - overlay overlay rw\n";
        text += "9002 9001 0:4 / /oldroot/run rw - tmpfs tmpfs rw\n";
        let mut m = Model::from_fixture(&text);
        m.held = vec![3];
        out::set_verbosity(out::Level::Err);
        // 16 KiB: about 150 lines a pass (the real buffer holds about 1,300).
        let mut buf = vec![0u8; 16 << 10];
        assert!(text.len() > 8 * buf.len());
        let done = take_down(&mut m, &mut buf);
        assert_eq!(done, Outcome { unmounted: bundles + 4, left: 0 }, "{:#?}", m.log.iter().filter(|l| !l.starts_with("umount /memory/bundles")).collect::<Vec<_>>());
        assert!(m.position("umount /oldroot/run") < m.position("umount /oldroot"));
        assert!(m.position("umount /oldroot") < m.position("umount /memory/data"));
        assert!(m.position("ro /memory/changes") < m.position("umount /memory/changes"));
    }

    /// Mount points longer than a short path buffer (up to PATH_MAX) are unmounted like
    /// any other.
    #[test]
    fn long_mount_points_are_unmounted() {
        let deep = format!("/oldroot/mnt/{}", ["d".repeat(200), "e".repeat(200), "f".repeat(200)].join("/"));
        let text = format!(
            "1 0 0:1 / / rw - tmpfs none rw\n2 1 254:0 / /oldroot rw - ext4 /dev/vda rw\n3 2 254:16 / {deep} rw - ext4 /dev/vdb rw\n"
        );
        let mut m = Model::from_fixture(&text);
        assert_eq!(run(&mut m), Outcome { unmounted: 2, left: 0 }, "{:#?}", m.log);
        assert!(m.position(&format!("ro {deep}")) < m.position(&format!("umount {deep}")));
        assert!(m.position(&format!("umount {deep}")) < m.position("umount /oldroot"));
    }

    /// A dead NFS mount and a stuck disk: each hangs once (the bounded call gives up), is
    /// detached at once, and the others still go in order; nothing is tried twice.
    #[test]
    fn hung_unmounts_are_tried_once_then_detached() {
        let text = "1 0 0:1 / / rw - tmpfs none rw\n\
                    2 1 254:0 / /oldroot rw - ext4 /dev/vda rw\n\
                    3 2 0:40 / /oldroot/mnt/nfs rw - nfs4 server:/export rw\n\
                    4 2 254:16 / /oldroot/mnt/stuck rw - ext4 /dev/vdb rw\n\
                    5 2 254:32 / /oldroot/home rw - ext4 /dev/vdc rw\n";
        let mut m = Model::from_fixture(text);
        m.hung = vec!["/oldroot/mnt/nfs".into(), "/oldroot/mnt/stuck".into()];
        assert_eq!(run(&mut m), Outcome { unmounted: 2, left: 2 }, "{:#?}", m.log);
        for p in ["/oldroot/mnt/nfs", "/oldroot/mnt/stuck"] {
            assert_eq!(m.log.iter().filter(|l| **l == format!("hang {p}")).count(), 1, "{p}: {:#?}", m.log);
            assert!(m.position(&format!("hang {p}")) < m.position(&format!("detach {p}")));
            assert!(m.position(&format!("detach {p}")) < m.position("umount /oldroot"));
        }
        assert!(m.position("ro /oldroot/home") < m.position("umount /oldroot/home"));
    }

    #[test]
    fn empty_or_unreadable_mountinfo_ends_at_once() {
        let mut m = Model::from_fixture("");
        assert_eq!(run(&mut m), Outcome { unmounted: 0, left: 0 });
        let mut m = Model::from_fixture("garbage\n\n1 0 0:1 / / rw - tmpfs none rw\n");
        assert_eq!(run(&mut m), Outcome { unmounted: 0, left: 0 });
        assert!(m.log.is_empty());
    }

    #[test]
    fn verbs_table_is_complete() {
        for v in [&b"reboot"[..], b"poweroff", b"halt", b"kexec", b"exit"] {
            let i = crate::parse::bytes::word_index(VERBS, v).unwrap();
            assert_eq!(verb_name(i), v);
        }
        assert_eq!(VERBS.split(|&b| b == b' ').count(), VERB_CMDS.len());
        assert!(VERB_CMDS[crate::parse::bytes::word_index(VERBS, b"exit").unwrap()] == RebootCmd::PowerOff);
    }
}
