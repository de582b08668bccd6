//! The QEMU runner: one machine, TCG only, serial console captured line by line.
//!
//! A boot always ends: by the guest (power-off, or reboot under `-no-reboot`), at a stop
//! marker, or at the wall-clock timeout, when QEMU is killed. At most
//! [`max_parallel_qemus`] machines run at once on the host, across processes (file locks in
//! `target/boot-images/slots/`).

use crate::arch::{Arch, Board};
use crate::kernel::kernel;
use crate::util::{describe, images_dir, tool};
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The command line every boot starts with; [`Qemu::append`] adds to it.
pub const BASE_CMDLINE: &str = "console=ttyS0 panic=-1 printk.time=1";

/// Wall-clock limit of one boot unless [`Qemu::timeout`] says otherwise: a boot to /init
/// takes ~5 s wall under TCG, the scenarios ~10–20 s; this leaves room for a loaded host.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// How long after its trigger a [`Qemu::send_on`] input is typed by default: long enough for
/// a shell started right after the trigger line to be reading.
pub const DEFAULT_INPUT_DELAY: Duration = Duration::from_millis(1500);

/// How many QEMUs may run at once: `RDINIT_QEMU_JOBS`, default 2 (the machine has 2 cores).
pub fn max_parallel_qemus() -> usize {
    std::env::var("RDINIT_QEMU_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// A disk attached at start.
#[derive(Clone, Debug)]
pub enum Drive {
    /// virtio-blk (`/dev/vdX`, in order of attachment).
    Virtio(PathBuf),
    /// virtio-blk, write-protected (the guest sees a read-only disk, like a locked SD card).
    VirtioReadOnly(PathBuf),
    /// IDE CD-ROM (`/dev/sr0`; needs ata_piix, sr_mod in the guest).
    Cdrom(PathBuf),
    /// USB mass storage behind an xHCI controller (`/dev/sdX`; needs xhci_pci, usb_storage,
    /// sd_mod in the guest).
    Usb(PathBuf),
}

#[derive(Clone, Debug)]
struct HotAdd {
    after_line: Option<String>,
    delay: Duration,
    file: PathBuf,
    /// A monitor command to run instead of the hot-add.
    command: Option<String>,
    /// Kill QEMU instead (a power cut).
    kill: bool,
}

#[derive(Clone, Debug)]
struct Input {
    trigger: String,
    text: String,
    delay: Duration,
}

/// One machine to boot. Build it, then [`Qemu::run`].
#[derive(Clone, Debug)]
pub struct Qemu {
    name: String,
    arch: Arch,
    kernel: PathBuf,
    /// `None`: no `-initrd` (a kernel with its initramfs built in).
    initrd: Option<PathBuf>,
    cmdline: String,
    memory_mib: u32,
    drives: Vec<Drive>,
    persist: bool,
    icount: bool,
    timeout: Duration,
    hot_adds: Vec<HotAdd>,
    inputs: Vec<Input>,
    stop_at: Option<String>,
    live: bool,
    terminal: bool,
    extra: Vec<OsString>,
}

impl Qemu {
    /// A machine named `name` (for logs: `target/boot-images/logs/<name>.log`) booting
    /// [`kernel`] with `initrd`, 512 MiB, no disks, command line [`BASE_CMDLINE`].
    pub fn new(name: &str, initrd: impl Into<PathBuf>) -> Qemu {
        Qemu {
            name: name.to_owned(),
            arch: Arch::X86_64,
            kernel: kernel().vmlinuz.clone(),
            initrd: Some(initrd.into()),
            cmdline: BASE_CMDLINE.to_owned(),
            memory_mib: 512,
            drives: Vec::new(),
            persist: false,
            icount: false,
            timeout: DEFAULT_TIMEOUT,
            hot_adds: Vec::new(),
            inputs: Vec::new(),
            stop_at: None,
            live: false,
            terminal: false,
            extra: Vec::new(),
        }
    }

    /// Boots `board`'s kernel on its architecture's machine, console on its serial port.
    pub fn board(self, board: &Board) -> Qemu {
        self.arch(board.arch).kernel(&board.kernel.vmlinuz)
    }
    /// Boots on `arch`'s machine, console on its serial port (the kernel: [`Qemu::kernel`]).
    pub fn arch(mut self, arch: Arch) -> Qemu {
        self.cmdline = self.cmdline.replace(&format!("console={}", self.arch.console()), &format!("console={}", arch.console()));
        self.arch = arch;
        self
    }
    /// No `-initrd`: the kernel boots the initramfs built into it.
    pub fn without_initrd(mut self) -> Qemu {
        self.initrd = None;
        self
    }
    /// Another kernel image.
    pub fn kernel(mut self, vmlinuz: impl Into<PathBuf>) -> Qemu {
        self.kernel = vmlinuz.into();
        self
    }
    /// Appends to the kernel command line (after [`BASE_CMDLINE`]; the kernel and rdinit
    /// take the last of repeated parameters, so this also overrides `panic=`).
    pub fn append(mut self, params: &str) -> Qemu {
        if !params.trim().is_empty() {
            self.cmdline.push(' ');
            self.cmdline.push_str(params.trim());
        }
        self
    }
    /// Replaces the whole kernel command line.
    pub fn cmdline(mut self, cmdline: &str) -> Qemu {
        self.cmdline = cmdline.to_owned();
        self
    }
    /// Guest memory in MiB (default 512).
    pub fn memory(mut self, mib: u32) -> Qemu {
        self.memory_mib = mib;
        self
    }
    /// A virtio disk (raw image). Guest writes go to a throw-away overlay
    /// (`snapshot=on`) unless [`Qemu::persist_writes`], so scenarios can share images and
    /// run in parallel.
    pub fn disk(mut self, image: impl Into<PathBuf>) -> Qemu {
        self.drives.push(Drive::Virtio(image.into()));
        self
    }
    /// A CD-ROM (ISO image).
    pub fn cdrom(mut self, image: impl Into<PathBuf>) -> Qemu {
        self.drives.push(Drive::Cdrom(image.into()));
        self
    }
    /// A USB stick (raw image) on an xHCI controller.
    pub fn usb(mut self, image: impl Into<PathBuf>) -> Qemu {
        self.drives.push(Drive::Usb(image.into()));
        self
    }
    /// Any [`Drive`].
    pub fn drive(mut self, d: Drive) -> Qemu {
        self.drives.push(d);
        self
    }
    /// Let guest writes reach the image files (no `snapshot=on`). Do not share such images
    /// between parallel boots.
    pub fn persist_writes(mut self, on: bool) -> Qemu {
        self.persist = on;
        self
    }
    /// `-icount shift=0,sleep=on`: guest time counts instructions (repeatable timings).
    pub fn icount(mut self, on: bool) -> Qemu {
        self.icount = on;
        self
    }
    /// Wall-clock limit, after which QEMU is killed (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, t: Duration) -> Qemu {
        self.timeout = t;
        self
    }
    /// Hot-adds a virtio disk through the monitor `delay` after QEMU started.
    pub fn hot_add_disk(mut self, image: impl Into<PathBuf>, delay: Duration) -> Qemu {
        self.hot_adds.push(HotAdd { after_line: None, delay, file: image.into(), command: None, kill: false });
        self
    }
    /// Hot-adds a virtio disk `delay` after the console first shows `line` (a substring).
    pub fn hot_add_disk_after(mut self, line: &str, delay: Duration, image: impl Into<PathBuf>) -> Qemu {
        self.hot_adds.push(HotAdd { after_line: Some(line.to_owned()), delay, file: image.into(), command: None, kill: false });
        self
    }
    /// Runs the monitor (HMP) `command` `delay` after the console first shows `line`, e.g.
    /// `block_set_io_throttle virtio1 0 0 1 0 0 0` to make a disk all but stop writing.
    pub fn monitor_after(mut self, line: &str, delay: Duration, command: &str) -> Qemu {
        let after_line = Some(line.to_owned());
        self.hot_adds.push(HotAdd { after_line, delay, file: PathBuf::new(), command: Some(command.to_owned()), kill: false });
        self
    }
    /// Kills QEMU (SIGKILL: a power cut; what the guest had not handed to the disk is lost)
    /// `delay` after the console first shows `line`; outcome [`Outcome::Stopped`].
    pub fn kill_after(mut self, line: &str, delay: Duration) -> Qemu {
        let after_line = Some(line.to_owned());
        self.hot_adds.push(HotAdd { after_line, delay, file: PathBuf::new(), command: None, kill: true });
        self
    }
    /// Types `text` on the serial console [`DEFAULT_INPUT_DELAY`] after `trigger` appears
    /// (a substring of the console, a complete line or not, e.g. a prompt). Inputs are
    /// sent in order: each trigger is looked for after the previous one matched.
    /// Add the `\n` yourself.
    pub fn send_on(self, trigger: &str, text: &str) -> Qemu {
        self.send_on_after(trigger, DEFAULT_INPUT_DELAY, text)
    }
    /// [`Qemu::send_on`] with its own delay.
    pub fn send_on_after(mut self, trigger: &str, delay: Duration, text: &str) -> Qemu {
        self.inputs.push(Input { trigger: trigger.to_owned(), text: text.to_owned(), delay });
        self
    }
    /// Kills QEMU as soon as the console shows `marker` (outcome [`Outcome::Stopped`]).
    pub fn stop_at(mut self, marker: &str) -> Qemu {
        self.stop_at = Some(marker.to_owned());
        self
    }
    /// Copies the console to our stdout as it arrives.
    pub fn live(mut self, on: bool) -> Qemu {
        self.live = on;
        self
    }
    /// An extra QEMU argument.
    pub fn qemu_arg(mut self, a: impl Into<OsString>) -> Qemu {
        self.extra.push(a.into());
        self
    }

    /// The QEMU arguments, with the monitor on `monitor`.
    pub fn args(&self, monitor: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        push("-accel");
        push("tcg");
        for s in self.arch.machine() {
            push(s);
        }
        // -nographic also makes SeaBIOS write to the serial line, resetting the terminal
        // (`ESC c`): a person's terminal keeps what was on it with no display instead.
        push(if self.terminal { "-display" } else { "-nographic" });
        if self.terminal {
            push("none");
        }
        for s in ["-no-reboot", "-net", "none"] {
            push(s);
        }
        push("-m");
        push(&self.memory_mib.to_string());
        push("-serial");
        // On a terminal, the serial line shares stdio with a monitor: Ctrl-A X quits QEMU.
        push(if self.terminal { "mon:stdio" } else { "stdio" });
        push("-monitor");
        push(&format!("unix:{},server=on,wait=off", opt_path(monitor)));
        if self.icount {
            push("-icount");
            push("shift=0,sleep=on");
        }
        push("-kernel");
        push(&opt_path(&self.kernel));
        if let Some(initrd) = &self.initrd {
            push("-initrd");
            push(&opt_path(initrd));
        }
        push("-append");
        push(&self.cmdline);
        let snap = if self.persist { "" } else { ",snapshot=on" };
        let mut usb = 0;
        for (i, d) in self.drives.iter().enumerate() {
            match d {
                Drive::Virtio(p) if self.arch.virtio_mmio() => {
                    push("-drive");
                    push(&format!("file={},format=raw,if=none,id=vd{i}{snap}", opt_path(p)));
                    push("-device");
                    push(&format!("virtio-blk-device,drive=vd{i}"));
                }
                Drive::Virtio(p) => {
                    push("-drive");
                    push(&format!("file={},format=raw,if=virtio{snap}", opt_path(p)));
                }
                Drive::VirtioReadOnly(p) => {
                    push("-drive");
                    push(&format!("file={},format=raw,if=virtio,readonly=on", opt_path(p)));
                }
                Drive::Cdrom(p) => {
                    push("-drive");
                    push(&format!("file={},format=raw,if=ide,media=cdrom,readonly=on", opt_path(p)));
                }
                Drive::Usb(p) => {
                    if usb == 0 {
                        push("-device");
                        push("qemu-xhci,id=xhci");
                    }
                    push("-drive");
                    push(&format!("if=none,id=usb{usb},file={},format=raw{snap}", opt_path(p)));
                    push("-device");
                    push(&format!("usb-storage,bus=xhci.0,drive=usb{usb}"));
                    usb += 1;
                }
            }
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// Boots and returns the log. Never hangs: see [`Outcome`]. Harness trouble (QEMU would
    /// not start, a monitor command failed) is in [`BootLog::harness_errors`] and makes
    /// every assertion on the log fail.
    pub fn run(self) -> BootLog {
        let slot = Slot::acquire();
        let log = self.run_in_slot();
        drop(slot);
        log.save();
        log
    }

    /// Boots with the serial console on this process's terminal, for a person at the
    /// keyboard (`cargo xtask demo`): `-serial mon:stdio`, so Ctrl-A X quits QEMU and Ctrl-C
    /// reaches the guest. No timeout, no inputs, nothing captured; returns QEMU's exit status.
    pub fn run_on_terminal(mut self) -> anyhow::Result<std::process::ExitStatus> {
        use anyhow::Context;
        self.terminal = true;
        let _slot = Slot::acquire();
        let dir = tempfile::Builder::new().prefix("rdinit-qemu-").tempdir().context("making a temporary directory")?;
        let mut cmd = Command::new(tool(self.arch.qemu())?);
        cmd.args(self.args(&dir.path().join("monitor.sock")));
        cmd.status().with_context(|| format!("running {}", describe(&cmd)))
    }

    fn run_in_slot(self) -> BootLog {
        let mut log = BootLog {
            name: self.name.clone(),
            command: String::new(),
            console: String::new(),
            stderr: String::new(),
            monitor: String::new(),
            harness_errors: Vec::new(),
            outcome: Outcome::TimedOut(self.timeout),
            wall: Duration::ZERO,
        };
        let dir = match tempfile::Builder::new().prefix("rdinit-qemu-").tempdir() {
            Ok(d) => d,
            Err(e) => {
                log.harness_errors.push(format!("tempdir: {e}"));
                return log;
            }
        };
        let monitor_path = dir.path().join("monitor.sock");
        let qemu = match tool(self.arch.qemu()) {
            Ok(q) => q,
            Err(e) => {
                log.harness_errors.push(format!("{e:#}"));
                return log;
            }
        };
        let mut cmd = Command::new(qemu);
        cmd.args(self.args(&monitor_path))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        log.command = describe(&cmd);
        let start = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                log.harness_errors.push(format!("cannot start QEMU: {e}"));
                return log;
            }
        };
        let mut stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel::<Option<Vec<u8>>>();
        let mut stdout = child.stdout.take().unwrap();
        let out_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Some(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = tx.send(None);
        });
        let mut stderr = child.stderr.take().unwrap();
        let err_thread = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });

        let deadline = start + self.timeout;
        let mut monitor: Option<Monitor> = None;
        // Pending actions: hot-adds and inputs, each armed once its trigger was seen.
        let mut hot: Vec<(HotAdd, Option<Instant>, bool)> = self
            .hot_adds
            .iter()
            .map(|h| (h.clone(), h.after_line.is_none().then(|| start + h.delay), false))
            .collect();
        let mut next_input = 0usize;
        let mut input_due: Option<Instant> = None;
        let mut input_from = 0usize; // console offset where the next trigger is looked for
        let mut console_raw = String::new();
        let mut outcome: Option<Outcome> = None;
        let mut echo_filter = EchoFilter::default();

        while outcome.is_none() {
            let now = Instant::now();
            // Timed actions first.
            for (i, (h, due, done)) in hot.iter_mut().enumerate() {
                if !*done && due.is_some_and(|d| d <= now) {
                    *done = true;
                    if h.kill {
                        outcome = Some(Outcome::Stopped(format!("killed {:?} after {:?}", h.delay, h.after_line)));
                        break;
                    }
                    let m = monitor.get_or_insert_with(|| Monitor::connect(&monitor_path, &mut log.monitor));
                    let done = match &h.command {
                        Some(c) => m.command(c, &mut log.monitor).map(drop).map_err(|e| format!("monitor command {c:?}: {e}")),
                        None => m.hot_add(i, &h.file, self.persist, &mut log.monitor).map_err(|e| format!("hot-add of {}: {e}", h.file.display())),
                    };
                    if let Err(e) = done {
                        log.harness_errors.push(e);
                    }
                }
            }
            if outcome.is_some() {
                break;
            }
            if input_due.is_some_and(|d| d <= now) {
                input_due = None;
                let text = &self.inputs[next_input].text;
                next_input += 1;
                let r = stdin.as_mut().map(|s| s.write_all(text.as_bytes()).and_then(|_| s.flush()));
                if let Some(Err(e)) = r {
                    log.harness_errors.push(format!("typing {text:?}: {e}"));
                }
            }
            let mut wake = deadline;
            for (_, due, done) in &hot {
                if let (Some(d), false) = (due, done) {
                    wake = wake.min(*d);
                }
            }
            if let Some(d) = input_due {
                wake = wake.min(d);
            }
            let now = Instant::now();
            if now >= deadline {
                outcome = Some(Outcome::TimedOut(self.timeout));
                break;
            }
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) | Ok(None) => {
                    outcome = Some(Outcome::Exited(wait_exit(&mut child, deadline)));
                }
                Ok(Some(bytes)) => {
                    if self.live {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(&echo_filter.filter(&bytes));
                        let _ = o.flush();
                    }
                    let old_len = console_raw.len();
                    console_raw.push_str(&String::from_utf8_lossy(&bytes).replace('\r', ""));
                    let now = Instant::now();
                    // Look for each trigger in the new text (plus an overlap for a trigger
                    // split across two reads).
                    let from = |pat: &str, min: usize| {
                        let mut f = old_len.saturating_sub(pat.len()).max(min);
                        while !console_raw.is_char_boundary(f) {
                            f -= 1;
                        }
                        f
                    };
                    for (h, due, _) in hot.iter_mut() {
                        if let (None, Some(line)) = (&due, &h.after_line) {
                            if console_raw[from(line, 0)..].contains(line.as_str()) {
                                *due = Some(now + h.delay);
                            }
                        }
                    }
                    if input_due.is_none() && next_input < self.inputs.len() {
                        let inp = &self.inputs[next_input];
                        let f = from(&inp.trigger, input_from);
                        if let Some(pos) = console_raw[f..].find(inp.trigger.as_str()) {
                            input_from = f + pos + inp.trigger.len();
                            input_due = Some(now + inp.delay);
                        }
                    }
                    if let Some(m) = &self.stop_at {
                        if console_raw[from(m, 0)..].contains(m.as_str()) {
                            outcome = Some(Outcome::Stopped(m.clone()));
                        }
                    }
                }
            }
        }

        let _ = child.kill();
        let _ = child.wait();
        drop(stdin);
        let _ = out_thread.join();
        // Lines that arrived after the decision still belong to the log.
        while let Ok(Some(bytes)) = rx.try_recv() {
            console_raw.push_str(&String::from_utf8_lossy(&bytes).replace('\r', ""));
        }
        log.stderr = err_thread.join().unwrap_or_default();
        log.console = console_raw;
        log.wall = start.elapsed();
        log.outcome = outcome.unwrap_or(Outcome::TimedOut(self.timeout));
        log
    }
}

/// Drops terminal control sequences from the console echoed to our stdout, across reads:
/// SeaBIOS resets the terminal and turns its line wrap off (`ESC c`, `ESC [ ? 7 l`), and
/// busybox's line editor asks for the cursor position (`ESC [ 6 n`) before each prompt, which
/// a terminal answers by typing into whatever reads it next (the user's shell, once the boot
/// is over), as the harness does not pass the answer on.
#[derive(Default)]
struct EchoFilter {
    state: Escape,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ …`, up to its final byte (0x40..=0x7e).
    Csi,
}

impl EchoFilter {
    fn filter(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.state = match (self.state, b) {
                (Escape::None, 0x1b) => Escape::Start,
                (Escape::None, _) => {
                    out.push(b);
                    Escape::None
                }
                (Escape::Start, b'[') => Escape::Csi,
                // A terminal reset starts a new screen: a new line here.
                (Escape::Start, b'c') => {
                    out.push(b'\n');
                    Escape::None
                }
                // Another two-byte sequence.
                (Escape::Start, _) => Escape::None,
                (Escape::Csi, 0x40..=0x7e) => Escape::None,
                (Escape::Csi, _) => Escape::Csi,
            };
        }
        out
    }
}

/// Waits for QEMU to exit after its stdout closed, killing it at the deadline.
fn wait_exit(child: &mut Child, deadline: Instant) -> Option<i32> {
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                return child.wait().ok().and_then(|s| s.code());
            }
        }
    }
}

/// A path as a QEMU option value: commas doubled.
fn opt_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// The human monitor (HMP) on a unix socket.
struct Monitor {
    stream: Option<UnixStream>,
}

impl Monitor {
    fn connect(path: &Path, transcript: &mut String) -> Monitor {
        let t0 = Instant::now();
        loop {
            match UnixStream::connect(path) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                    let mut m = Monitor { stream: Some(s) };
                    match m.read_prompt() {
                        Ok(banner) => transcript.push_str(banner.trim_start()),
                        Err(e) => transcript.push_str(&format!("[harness: no monitor prompt: {e}]\n")),
                    }
                    return m;
                }
                Err(e) if t0.elapsed() > Duration::from_secs(10) => {
                    transcript.push_str(&format!("[harness: cannot connect to the monitor: {e}]\n"));
                    return Monitor { stream: None };
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Reads up to the next `(qemu) ` prompt; returns what came before it.
    fn read_prompt(&mut self) -> Result<String, String> {
        let s = self.stream.as_mut().ok_or("no monitor connection")?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"(qemu) ") {
            match s.read(&mut buf) {
                Ok(0) => return Err("monitor closed".into()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("monitor read: {e}")),
            }
        }
        got.truncate(got.len() - b"(qemu) ".len());
        Ok(String::from_utf8_lossy(&got).replace('\r', ""))
    }

    /// Sends one command; the transcript gets the command and QEMU's reply, without the
    /// line editor's echo. A reply that reports an error is an `Err`.
    fn command(&mut self, line: &str, transcript: &mut String) -> Result<String, String> {
        let s = self.stream.as_mut().ok_or("no monitor connection")?;
        s.write_all(format!("{line}\n").as_bytes()).map_err(|e| format!("monitor write: {e}"))?;
        let reply = self.read_prompt()?;
        // The line editor redraws the command as it is typed, then a newline, then the reply.
        let body = reply.split_once('\n').map(|(_, b)| b).unwrap_or("").trim_end().to_owned();
        transcript.push_str(&format!("(qemu) {line}\n"));
        if !body.is_empty() {
            transcript.push_str(&body);
            transcript.push('\n');
        }
        let lower = body.to_lowercase();
        if lower.contains("error") || lower.contains("could not") || lower.contains("failed") {
            return Err(format!("`{line}`: {body}"));
        }
        Ok(body)
    }

    fn hot_add(&mut self, i: usize, file: &Path, persist: bool, transcript: &mut String) -> Result<(), String> {
        let snap = if persist { "" } else { ",snapshot=on" };
        self.command(
            &format!("drive_add 0 if=none,id=hot{i},file={},format=raw{snap}", opt_path(file)),
            transcript,
        )?;
        self.command(&format!("device_add virtio-blk-pci,drive=hot{i},id=hotdev{i}"), transcript)?;
        Ok(())
    }
}

/// A QEMU slot: an exclusive lock on `target/boot-images/slots/<n>.lock`.
struct Slot {
    _file: File,
}

impl Slot {
    fn acquire() -> Slot {
        let dir = images_dir().join("slots");
        let _ = std::fs::create_dir_all(&dir);
        loop {
            for n in 0..max_parallel_qemus() {
                let p = dir.join(format!("{n}.lock"));
                let f = match File::options().create(true).truncate(false).write(true).open(&p) {
                    Ok(f) => f,
                    Err(e) => panic!("harness: cannot open {}: {e}", p.display()),
                };
                match f.try_lock() {
                    Ok(()) => return Slot { _file: f },
                    Err(std::fs::TryLockError::WouldBlock) => {}
                    Err(std::fs::TryLockError::Error(e)) => panic!("harness: lock {}: {e}", p.display()),
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// QEMU exited by itself (guest power-off, or a reboot under `-no-reboot`); its exit code.
    Exited(Option<i32>),
    /// Killed when the console showed this stop marker.
    Stopped(String),
    /// Killed at the wall-clock limit.
    TimedOut(Duration),
}

/// Everything a boot printed, and how it ended.
#[derive(Clone, Debug)]
pub struct BootLog {
    /// The [`Qemu`] name.
    pub name: String,
    /// The QEMU command line.
    pub command: String,
    /// The serial console, `\r` removed.
    pub console: String,
    /// QEMU's own stderr.
    pub stderr: String,
    /// The monitor transcript (hot-adds).
    pub monitor: String,
    /// Harness trouble: QEMU would not start, a monitor command failed, typing failed.
    pub harness_errors: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall-clock time from QEMU's start to its end.
    pub wall: Duration,
}

impl BootLog {
    /// The console lines.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.console.lines()
    }
    /// Whether the console contains `s`.
    pub fn contains(&self, s: &str) -> bool {
        self.console.contains(s)
    }
    /// The first console line containing `s`.
    pub fn line_with(&self, s: &str) -> Option<&str> {
        self.lines().find(|l| l.contains(s))
    }
    /// The value of the first `PROBE key=value` line: `probe("root")` -> `/dev/vda ext4 ro`.
    pub fn probe(&self, key: &str) -> Option<&str> {
        let prefix = format!("PROBE {key}=");
        self.lines().find_map(|l| l.find(&prefix).map(|i| &l[i + prefix.len()..]))
    }
    /// The lines rdinit printed (`rdinit: ...`), prefix included.
    pub fn rdinit_lines(&self) -> Vec<&str> {
        self.lines().filter_map(|l| l.find("rdinit: ").map(|i| &l[i..])).collect()
    }
    /// The kernel timestamp (`[   1.234567]`, seconds) of the last printk line at or before
    /// the first line containing `s`: when userspace printed `s`, at the latest.
    pub fn printk_time_at(&self, s: &str) -> Option<f64> {
        let mut last = None;
        for l in self.lines() {
            if let Some(t) = printk_stamp(l) {
                last = Some(t);
            }
            if l.contains(s) {
                return last;
            }
        }
        None
    }

    /// Whether QEMU ended by itself.
    pub fn exited(&self) -> bool {
        matches!(self.outcome, Outcome::Exited(_))
    }

    /// Fails the test with `why` and the whole log.
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\n{self}")
    }

    fn check_harness(&self) {
        if !self.harness_errors.is_empty() {
            self.fail(&format!("boot {}: harness errors: {:?}", self.name, self.harness_errors));
        }
    }

    /// Asserts the console contains `s`.
    pub fn assert_contains(&self, s: &str) -> &Self {
        self.check_harness();
        if !self.contains(s) {
            self.fail(&format!("boot {}: console lacks {s:?}", self.name));
        }
        self
    }
    /// Asserts the console does not contain `s`.
    pub fn assert_not_contains(&self, s: &str) -> &Self {
        self.check_harness();
        if let Some(l) = self.line_with(s) {
            self.fail(&format!("boot {}: console has {s:?} in line {l:?}", self.name));
        }
        self
    }
    /// Asserts the console contains each of `parts`, each after the end of the previous one.
    pub fn assert_in_order(&self, parts: &[&str]) -> &Self {
        self.check_harness();
        let mut at = 0;
        for (i, p) in parts.iter().enumerate() {
            match self.console[at..].find(p) {
                Some(pos) => at += pos + p.len(),
                None => {
                    let why = if self.contains(p) { "only before" } else { "nowhere" };
                    self.fail(&format!(
                        "boot {}: {p:?} (item {i} of {parts:?}) is {why} after the items before it",
                        self.name
                    ));
                }
            }
        }
        self
    }
    /// Asserts `PROBE key=value` (the first such line) has exactly this value.
    pub fn assert_probe(&self, key: &str, value: &str) -> &Self {
        self.check_harness();
        match self.probe(key) {
            Some(v) if v == value => self,
            Some(v) => self.fail(&format!("boot {}: PROBE {key}={v:?}, expected {value:?}", self.name)),
            None => self.fail(&format!("boot {}: no PROBE {key}= line (expected {value:?})", self.name)),
        }
    }
    /// Asserts QEMU ended by itself, not at a stop marker or the timeout.
    pub fn assert_exited(&self) -> &Self {
        self.check_harness();
        if !self.exited() {
            self.fail(&format!("boot {}: QEMU did not exit by itself: {:?}", self.name, self.outcome));
        }
        self
    }
    /// Asserts there was no kernel panic (e.g. "Attempted to kill init").
    pub fn assert_no_panic(&self) -> &Self {
        self.assert_not_contains("Kernel panic").assert_not_contains("Attempted to kill init")
    }

    /// Asserts that the ext4 `image` this boot wrote is clean: `e2fsck -fn` finds nothing and
    /// the journal needs no replay (no `needs_recovery`).
    pub fn assert_ext4_clean(&self, image: &Path) -> &Self {
        let out = Command::new(tool("e2fsck").unwrap()).arg("-fn").arg(image).output().expect("running e2fsck");
        let dump = Command::new(tool("dumpe2fs").unwrap()).arg("-h").arg(image).output().expect("running dumpe2fs");
        let features = String::from_utf8_lossy(&dump.stdout)
            .lines()
            .find(|l| l.starts_with("Filesystem features:"))
            .unwrap_or("")
            .to_owned();
        if !out.status.success() || features.contains("needs_recovery") {
            self.fail(&format!(
                "the data disk is not clean after the shutdown: {features}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        self
    }

    /// Writes the log to `target/boot-images/logs/<name>.log`.
    fn save(&self) {
        let dir = images_dir().join("logs");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{}.log", self.name)), self.to_string());
    }
}

/// `[    1.234567] ...` -> 1.234567
fn printk_stamp(line: &str) -> Option<f64> {
    let rest = line.strip_prefix('[')?;
    let end = rest.find(']')?;
    rest[..end].trim().parse().ok()
}

impl fmt::Display for BootLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "===== boot {}: {:?} after {:.1} s wall", self.name, self.outcome, self.wall.as_secs_f64())?;
        writeln!(f, "===== command: {}", self.command)?;
        // Userspace's lines first: a CI log cut to its head and tail still shows them.
        writeln!(f, "===== userspace lines (the whole console follows):")?;
        for l in self.lines().filter(|l| !l.starts_with('[') || l.contains("rdinit: ")) {
            writeln!(f, "{l}")?;
        }
        writeln!(f, "===== console:")?;
        f.write_str(&self.console)?;
        if !self.console.ends_with('\n') {
            writeln!(f)?;
        }
        if !self.stderr.trim().is_empty() {
            writeln!(f, "===== qemu stderr:\n{}", self.stderr.trim_end())?;
        }
        if !self.monitor.is_empty() {
            writeln!(f, "===== monitor:\n{}", self.monitor.trim_end())?;
        }
        if !self.harness_errors.is_empty() {
            writeln!(f, "===== harness errors:")?;
            for e in &self.harness_errors {
                writeln!(f, "{e}")?;
            }
        }
        writeln!(f, "===== end of boot {}", self.name)
    }
}

impl BootLog {
    /// A log holding `console`, for the harness's own unit tests.
    #[cfg(test)]
    pub(crate) fn for_unit_test(console: &str) -> BootLog {
        BootLog {
            name: "unit".into(),
            command: String::new(),
            console: console.into(),
            stderr: String::new(),
            monitor: String::new(),
            harness_errors: Vec::new(),
            outcome: Outcome::Exited(Some(0)),
            wall: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(console: &str) -> BootLog {
        BootLog::for_unit_test(console)
    }

    #[test]
    fn helpers_read_the_console() {
        let l = log("[    1.500000] Run /init as init process\nrdinit: exec /sbin/init\nPROBE root=/dev/vda ext4 ro\nPROBE done\n");
        l.assert_contains("PROBE done")
            .assert_not_contains("Kernel panic")
            .assert_in_order(&["Run /init", "rdinit: exec", "PROBE done"])
            .assert_probe("root", "/dev/vda ext4 ro")
            .assert_no_panic()
            .assert_exited();
        assert_eq!(l.rdinit_lines(), ["rdinit: exec /sbin/init"]);
        assert_eq!(l.printk_time_at("PROBE done"), Some(1.5));
    }

    #[test]
    #[should_panic(expected = "is only before")]
    fn in_order_fails_on_wrong_order() {
        log("b\na\n").assert_in_order(&["a", "b"]);
    }

    #[test]
    #[should_panic(expected = "console lacks")]
    fn contains_fails_with_log() {
        log("x\n").assert_contains("y");
    }

    #[test]
    fn args_have_no_kvm_and_snapshot_disks() {
        let q = Qemu {
            name: "unit".into(),
            arch: Arch::X86_64,
            kernel: "/k".into(),
            initrd: Some("/i".into()),
            cmdline: BASE_CMDLINE.into(),
            memory_mib: 512,
            drives: vec![Drive::Virtio("/a,b.img".into()), Drive::Usb("/u.img".into())],
            persist: false,
            icount: true,
            timeout: DEFAULT_TIMEOUT,
            hot_adds: Vec::new(),
            inputs: Vec::new(),
            stop_at: None,
            live: false,
            terminal: false,
            extra: Vec::new(),
        }
        .append("root=/dev/vda");
        let a: Vec<String> = q.args(Path::new("/tmp/m.sock")).iter().map(|s| s.to_string_lossy().into_owned()).collect();
        let s = a.join(" ");
        assert!(s.contains("-accel tcg") && !s.contains("kvm"), "{s}");
        assert!(s.contains("file=/a,,b.img,format=raw,if=virtio,snapshot=on"), "{s}");
        assert!(s.contains("usb-storage,bus=xhci.0,drive=usb0"), "{s}");
        assert!(s.contains("-icount shift=0,sleep=on"), "{s}");
        assert!(s.contains("-serial stdio "), "{s}");
        assert!(a.contains(&"console=ttyS0 panic=-1 printk.time=1 root=/dev/vda".to_owned()), "{s}");
    }

    #[test]
    fn live_echo_drops_control_sequences_split_across_reads() {
        let mut f = EchoFilter::default();
        let mut out = f.filter(b"\x1b[?7lSeaBIOS\r\nBooting\x1bc\x1b[?7lrdinit\r\nroot@live:~# \x1b");
        out.extend(f.filter(b"[6"));
        out.extend(f.filter(b"nls\r\n"));
        assert_eq!(out, b"SeaBIOS\r\nBooting\nrdinit\r\nroot@live:~# ls\r\n");
    }

    /// Another architecture's board: its emulator and machine, its console, and virtio
    /// disks as virtio-mmio devices.
    #[test]
    fn board_args_pick_machine_console_and_mmio_disks() {
        let board = Board {
            arch: Arch::Aarch64,
            suite: "bookworm".into(),
            kernel: crate::kernel::Kernel { vmlinuz: "/k".into(), release: "6.1.0-1-arm64".into(), modules_dir: "/m".into() },
            busybox: "/b".into(),
            packages: Vec::new(),
        };
        let q = Qemu::new("unit", "/i").disk("/a.img").board(&board).append("root=/dev/vda");
        let a: Vec<String> = q.args(Path::new("/tmp/m.sock")).iter().map(|s| s.to_string_lossy().into_owned()).collect();
        let s = a.join(" ");
        assert!(s.starts_with("-accel tcg -M virt -cpu cortex-a57 "), "{s}");
        assert!(s.contains("-kernel /k "), "{s}");
        assert!(s.contains("-drive file=/a.img,format=raw,if=none,id=vd0,snapshot=on -device virtio-blk-device,drive=vd0"), "{s}");
        assert!(a.contains(&"console=ttyAMA0 panic=-1 printk.time=1 root=/dev/vda".to_owned()), "{s}");
        assert_eq!(q.arch.qemu(), "qemu-system-aarch64");
        assert!(s.contains("-initrd /i "), "{s}");
        let built_in = q.without_initrd();
        let s = built_in.args(Path::new("/tmp/m.sock")).iter().map(|s| s.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(!s.contains("-initrd"), "{s}");
    }
}
