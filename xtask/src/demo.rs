//! `cargo xtask demo`: a Slax-style live system that rdinit boots in QEMU, into a shell on
//! this terminal, twice: the second boot shows that the changes of the first persisted.
//!
//! The machine (Debian's kernel, the live initramfs of the tests, [`live_fixtures::initrd`]):
//! - `vda`, attached read-only: ext4 `RDINITDEMO` holding the data dir `slax/` with
//!   `01-base.sb` (busybox-static and its applet links, `/sbin/init` = demo/init,
//!   `/etc/profile` = demo/profile, `/usr/bin/bundle` -> `/run/initramfs/bundle`) and
//!   `optional/hello.sb` (`/usr/bin/hello`, a script that prints [`HELLO_LINE`]), which the
//!   boot does not load: the user activates it;
//! - `vdb`: ext4 `DEMOCHANGES`, the persistent changes (`changes=LABEL=DEMOCHANGES/changes`),
//!   kept in `target/demo/changes.img` from one run to the next (`--fresh` starts it over).
//!
//! With a terminal on stdin the user drives both boots (QEMU's serial console multiplexed
//! with its monitor on stdio: Ctrl-A X quits QEMU). Without one (CI, `</dev/null`),
//! [`scripted`] types a fixed session into the console, echoes it, checks what a user would
//! look at, and the command exits with the result; xtask/tests/demo.rs runs it in
//! `cargo xtask test`. `--root` keeps the older demo: a root= boot of an ext4 disk into a
//! probe init that prints what it sees.

use crate::images::{ext4_image, squashfs_with, RootTree};
use crate::live_fixtures::{self as lf, DATA_DIR};
use crate::util::{tmp_sibling, workspace};
use crate::{fixtures, kernel, setup, tools, BootLog, Drive, Outcome, Qemu};
use anyhow::{Context, Result};
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

/// /sbin/init of the base bundle: the welcome, a shell on the console, the hand-back.
const INIT: &str = include_str!("demo/init");
/// /etc/profile of the base bundle: the prompt, the console size, poweroff.
const PROFILE: &str = include_str!("demo/profile");

/// Label of the media disk.
const MEDIA_LABEL: &str = "RDINITDEMO";
/// Label of the changes disk.
const CHANGES_LABEL: &str = "DEMOCHANGES";
/// Where the user's bundle lies in the booted system.
pub const HELLO_PATH: &str = "/run/initramfs/memory/data/slax/optional/hello.sb";
/// The line `hello` prints.
pub const HELLO_LINE: &str = "Hello from hello.sb: a bundle activated on the running system, without a reboot.";
/// The first line of the welcome /sbin/init prints (followed by the boot number).
pub const WELCOME: &str = "rdinit live demo: boot ";
/// Part of the shell prompt (`root@rdinit-live:~# `), which the scripted session waits for.
const PROMPT_MARK: &str = "@rdinit-live:";
/// What ends the prompt.
const PROMPT_END: &str = "# ";
/// The console size the scripted session sets (wide enough that no command wraps, which
/// would make the shell's line editor redraw the prompt).
const SCRIPT_TTY: &str = "200x50";
/// Wall-clock limit of one scripted boot: 10–15 s on an idle host (measured); this leaves
/// room for a loaded one.
const SCRIPT_BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// The file boot 1 of the scripted session writes and boot 2 reads back.
const NOTE: &str = "/root/note.txt";

// ---------------------------------------------------------------------------------------
// The media

/// The base bundle: busybox, the demo's init and profile, `bundle` on PATH.
fn base_bundle() -> PathBuf {
    let mut t = RootTree::new("demo-base")
        .busybox(true)
        .file("sbin/init", INIT, 0o755)
        .file("etc/profile", PROFILE, 0o644)
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
        .file("etc/group", "root:x:0:\n", 0o644)
        .file("etc/hostname", "rdinit-live\n", 0o644)
        // The command the live boot keeps in the initramfs, on PATH.
        .symlink("usr/bin/bundle", "/run/initramfs/bundle");
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr/local/bin"] {
        t = t.dir(d);
    }
    squashfs_with(&t.build(), &["-comp", "zstd", "-b", "128K"])
}

/// The optional bundle the user activates: `/usr/bin/hello`.
fn hello_bundle() -> PathBuf {
    let hello = format!("#!/bin/sh\n# The program of the demo's optional bundle hello.sb.\necho '{HELLO_LINE}'\n");
    let t = RootTree::new("demo-hello")
        .file("usr/bin/hello", hello, 0o755)
        .file("usr/share/doc/hello/README", "hello.sb: the demo's bundle to activate on the running system.\n", 0o644);
    squashfs_with(&t.build(), &["-comp", "zstd"])
}

/// The media: ext4 holding `slax/01-base.sb` and `slax/optional/hello.sb`.
pub fn media() -> PathBuf {
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("harness: reading {}: {e}", p.display()));
    let t = RootTree::new("demo-media")
        .file(&format!("{DATA_DIR}/01-base.sb"), read(base_bundle()), 0o644)
        .file(&format!("{DATA_DIR}/optional/hello.sb"), read(hello_bundle()), 0o644)
        .build();
    ext4_image(&t, 16, MEDIA_LABEL, "de300001-0000-4000-8000-000000000001")
}

/// An empty ext4 for the changes.
fn empty_changes() -> PathBuf {
    ext4_image(&RootTree::new("demo-changes-empty").build(), 32, CHANGES_LABEL, "de300002-0000-4000-8000-000000000002")
}

/// Where `cargo xtask demo` keeps the changes between runs.
pub fn default_changes_path() -> PathBuf {
    workspace().join("target").join("demo").join("changes.img")
}

/// Makes `changes` an empty changes disk if `fresh` or if there is none; whether it was made.
fn prepare_changes(changes: &Path, fresh: bool) -> Result<bool> {
    if changes.exists() && !fresh {
        return Ok(false);
    }
    if let Some(dir) = changes.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = tmp_sibling(changes);
    std::fs::copy(empty_changes(), &tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, changes).with_context(|| format!("writing {}", changes.display()))?;
    Ok(true)
}

/// The machine for boot `n`: the media read-only, the changes disk written through.
fn machine(n: u32, changes: &Path, tty: &str, append: &str) -> Qemu {
    // loglevel=3 keeps the kernel's own messages off the console (rdinit still shows its
    // lines: it writes to the console whatever the kernel does not echo); edd=off its
    // real-mode "Probing EDD" line, which the firmware's screen reset cuts in half.
    let params = format!("loglevel=3 edd=off changes=LABEL={CHANGES_LABEL}/changes demo.tty={tty} {append}");
    Qemu::new(&format!("demo-{n}"), lf::initrd())
        .drive(Drive::VirtioReadOnly(media()))
        .disk(changes)
        .persist_writes(true)
        .append(&params)
}

// ---------------------------------------------------------------------------------------
// `cargo xtask demo`

/// `cargo xtask demo [--root] [--fresh] [--append PARAMS]`.
pub fn run(root: bool, fresh: bool, append: &str) -> Result<ExitCode> {
    setup()?;
    if root {
        return root_probe(append);
    }
    let changes = default_changes_path();
    if std::io::stdin().is_terminal() {
        interactive(&changes, fresh, append)
    } else {
        println!("demo: stdin is not a terminal: a scripted session (run it from a terminal to type yourself)");
        let session = scripted(&changes, fresh, append, true)?;
        println!("\n{session}");
        Ok(if session.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

fn describe_setup(changes: &Path, made: bool) -> Result<()> {
    let k = kernel();
    println!("demo: kernel {} ({})", k.release, k.vmlinuz.display());
    let t = tools();
    println!("demo: rdinit {} ({} bytes)", t.rdinit.display(), t.rdinit.metadata()?.len());
    println!("demo: initramfs {}", lf::initrd().display());
    println!("demo: media (vda, read-only) {}: slax/01-base.sb, slax/optional/hello.sb", media().display());
    let state = if made { "new, empty" } else { "kept from earlier runs; --fresh empties it" };
    println!("demo: changes (vdb) {} ({state})", changes.display());
    Ok(())
}

/// The host terminal's size as `COLSxROWS` (`stty size` prints `ROWS COLS`).
fn terminal_size() -> Option<String> {
    let out = Command::new("stty").arg("size").stdin(Stdio::inherit()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let (rows, cols) = (it.next()?.parse::<u32>().ok()?, it.next()?.parse::<u32>().ok()?);
    (rows > 0 && cols > 0).then(|| format!("{cols}x{rows}"))
}

/// Both boots on the user's terminal.
fn interactive(changes: &Path, fresh: bool, append: &str) -> Result<ExitCode> {
    let made = prepare_changes(changes, fresh)?;
    describe_setup(changes, made)?;
    let tty = terminal_size().unwrap_or_else(|| "80x24".to_owned());
    println!(
        "\ndemo: boot 1 of 2. The console is QEMU's serial line on this terminal. Try what the\n\
         welcome lists; `poweroff` hands the machine back to rdinit, which takes it down\n\
         cleanly. Ctrl-A X quits QEMU at once (a power cut: unsynced changes are lost).\n"
    );
    let first = machine(1, changes, &tty, append).run_on_terminal()?;
    println!("\n\ndemo: boot 1 ended ({first}).");
    println!(
        "demo: boot 2 of 2, on the same media and changes disk. Look for: the boot number in\n\
         the welcome; what you wrote (e.g. `cat /root/note`); `bundle list`: hello.sb is not\n\
         there (it was activated, not part of the boot). `poweroff` ends it.\n"
    );
    let second = machine(2, changes, &tty, append).run_on_terminal()?;
    println!("\n\ndemo: boot 2 ended ({second}).");
    println!("demo: the changes stay in {} for the next run (--fresh starts over).", changes.display());
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// The scripted session

/// One command typed at the prompt, what its output must contain and what it must not.
struct Step {
    command: String,
    expect: Option<String>,
    reject: Option<String>,
}

fn step(command: &str, expect: Option<&str>) -> Step {
    Step { command: command.to_owned(), expect: expect.map(str::to_owned), reject: None }
}

impl Step {
    fn without(mut self, reject: &str) -> Step {
        self.reject = Some(reject.to_owned());
        self
    }
}

/// One check of the session: what a user would look at, and whether it was there.
#[derive(Debug)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

/// A scripted session's boots and checks.
pub struct Session {
    pub boots: Vec<BootLog>,
    pub checks: Vec<Check>,
}

impl Session {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "===== demo: scripted session")?;
        for b in &self.boots {
            writeln!(f, "{}: {:?} after {:.1} s wall (log: target/boot-images/logs/{}.log)", b.name, b.outcome, b.wall.as_secs_f64(), b.name)?;
        }
        for c in &self.checks {
            writeln!(f, "{} {}", if c.ok { "ok  " } else { "FAIL" }, c.what)?;
        }
        write!(f, "result: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// The console without terminal control sequences (the shell's line editor asks the
/// terminal for the cursor position, `ESC [ 6 n`, before each prompt).
pub fn plain(console: &str) -> String {
    let mut out = String::with_capacity(console.len());
    let mut chars = console.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e); otherwise ESC and one byte
            // (SeaBIOS's `ESC c`).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// What followed each prompt: the text after `PROMPT_END` up to the line of the next
/// prompt, so the command's echo and then its output.
fn after_prompts(console: &str) -> Vec<&str> {
    let starts: Vec<usize> = console.match_indices(PROMPT_MARK).map(|(i, _)| i).collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &at)| {
            let from = console[at..].find(PROMPT_END).map_or(console.len(), |e| at + e + PROMPT_END.len());
            let to = match starts.get(k + 1) {
                Some(&next) => console[..next].rfind('\n').map_or(next, |nl| nl + 1),
                None => console.len(),
            };
            &console[from.min(to)..to]
        })
        .collect()
}

/// Boots once, typing `steps` at successive prompts; checks the welcome, each step's
/// output, the hand-back and the power-off into `checks`.
fn scripted_boot(n: u32, changes: &Path, steps: &[Step], append: &str, echo: bool, checks: &mut Vec<Check>) -> BootLog {
    let mut q = machine(n, changes, SCRIPT_TTY, append).timeout(SCRIPT_BOOT_TIMEOUT).live(echo);
    for s in steps {
        q = q.send_on_after(PROMPT_MARK, Duration::ZERO, &format!("{}\n", s.command));
    }
    let log = q.run();
    let console = plain(&log.console);
    let mut check = |what: String, ok: bool| checks.push(Check { what, ok });
    let welcome = console.find(WELCOME);
    let first_prompt = console.find(PROMPT_MARK);
    check(
        format!("boot {n}: the welcome, then a shell prompt"),
        welcome.is_some_and(|w| first_prompt.is_some_and(|p| w < p)),
    );
    let outputs = after_prompts(&console);
    for (i, s) in steps.iter().enumerate() {
        let Some(out) = outputs.get(i) else {
            let why = match &log.outcome {
                Outcome::TimedOut(t) => format!("no prompt came within {} s", t.as_secs()),
                other => format!("the boot ended first: {other:?}"),
            };
            check(format!("boot {n}: `{}` typed at a prompt ({why})", s.command), false);
            continue;
        };
        let (echoed, output) = out.split_once('\n').unwrap_or((out, ""));
        let mut ok = echoed.trim_end() == s.command;
        let mut what = format!("boot {n}: `{}` typed at a prompt", s.command);
        if let Some(e) = &s.expect {
            ok &= output.contains(e.as_str());
            what = format!("boot {n}: `{}` prints {e:?}", s.command);
        }
        if let Some(r) = &s.reject {
            ok &= !output.contains(r.as_str());
            what = format!("{what}, not {r:?}");
        }
        check(what, ok);
    }
    // The hand-back: PID 1 execs the shutdown role, which takes the machine down.
    let handed_back = console.find("init: poweroff: handing the machine back to rdinit");
    let role = console.find("rdinit: shutdown: poweroff");
    check(
        format!("boot {n}: `poweroff` hands the machine back to rdinit's shutdown role"),
        handed_back.is_some_and(|h| role.is_some_and(|r| h < r)),
    );
    check(
        format!("boot {n}: the shutdown role unmounted everything and powered off"),
        console.contains("rdinit: shutdown: unmounted ") && console.contains("reboot: Power down") && log.exited(),
    );
    check(format!("boot {n}: no kernel panic"), !console.contains("Kernel panic"));
    log
}

/// The scripted session: boot 1 looks around, activates `hello.sb`, runs `hello`, writes
/// [`NOTE`] and powers off; boot 2 reads the note back, finds hello.sb gone, activates and
/// deactivates it again, and powers off. The changes disk is
/// `changes` (made empty first if `fresh` or missing). With `echo` the consoles go to stdout
/// as they arrive.
pub fn scripted(changes: &Path, fresh: bool, append: &str, echo: bool) -> Result<Session> {
    let made = prepare_changes(changes, fresh)?;
    if echo {
        describe_setup(changes, made)?;
        println!();
    }
    // A line no earlier run wrote: boot 2 must read back this run's.
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let note = format!("written in boot 1 of run {stamp:x}");
    let mut checks = Vec::new();
    let boot1 = [
        step("ls /", Some("sbin")),
        step("bundle list", Some("boot 01-base.sb")),
        step(&format!("bundle activate {HELLO_PATH}"), None),
        step("hello", Some(HELLO_LINE)),
        step("bundle list", Some("activated hello.sb")),
        step(&format!("echo '{note}' > {NOTE}"), None),
        step("poweroff", None),
    ];
    let first = scripted_boot(1, changes, &boot1, append, echo, &mut checks);
    // hello.sb lies in optional/, outside the data dir's bundles and modules: the next boot
    // removes what its activation left in the changes (issue 13), a dangling link included.
    // Then once more, and away: deactivation removes what activation added.
    let gone = "No such file or directory";
    let boot2 = [
        step(&format!("cat {NOTE}"), Some(&note)),
        step("bundle list", Some("boot 01-base.sb")).without("hello.sb"),
        step("ls -l /usr/bin/hello", Some(gone)),
        step(&format!("bundle activate {HELLO_PATH}"), None),
        step("hello", Some(HELLO_LINE)),
        step("bundle deactivate hello.sb", None),
        step("ls -l /usr/bin/hello", Some(gone)),
        step("poweroff", None),
    ];
    let second = scripted_boot(2, changes, &boot2, append, echo, &mut checks);
    // The welcome counts boots in the changes layer: boot 2's number is one more.
    let number = |log: &BootLog| -> Option<u32> {
        let c = plain(&log.console);
        let at = c.find(WELCOME)? + WELCOME.len();
        c[at..].split(|ch: char| !ch.is_ascii_digit()).next()?.parse().ok()
    };
    let (n1, n2) = (number(&first), number(&second));
    let shown = |n: Option<u32>| n.map_or("?".to_owned(), |n| n.to_string());
    checks.push(Check {
        what: format!("the boot counter in the changes went on: boot {} then {}", shown(n1), shown(n2)),
        ok: n1.is_some_and(|a| n2 == Some(a + 1)),
    });
    Ok(Session { boots: vec![first, second], checks })
}

// ---------------------------------------------------------------------------------------
// `--root`: the root= probe demo

/// Boots the ext4 probe root with rdinit (`root=LABEL=…`), console shown live, then a summary.
fn root_probe(append: &str) -> Result<ExitCode> {
    let k = kernel();
    println!("demo: kernel {} ({})", k.release, k.vmlinuz.display());
    let t = tools();
    println!("demo: rdinit {} ({} bytes)", t.rdinit.display(), t.rdinit.metadata()?.len());
    let root = fixtures::root_ext4();
    println!("demo: root disk {} (ext4, LABEL={})", root.display(), fixtures::ROOT_LABEL);
    let initrd = fixtures::initrd();
    println!("demo: initramfs {} ({} bytes)", initrd.display(), initrd.metadata()?.len());
    let params = format!("root=LABEL={} debug {append}", fixtures::ROOT_LABEL);
    println!("demo: booting with `{params}`\n");
    let log = Qemu::new("demo", &initrd).disk(&root).append(&params).live(true).run();
    println!();
    root_summary(&log);
    Ok(if log.contains("PROBE done") { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn root_summary(log: &BootLog) {
    println!("===== demo summary");
    let ended = match &log.outcome {
        Outcome::Exited(_) => "QEMU exited (guest power-off or reboot)".to_owned(),
        Outcome::Stopped(m) => format!("stopped at {m:?}"),
        Outcome::TimedOut(t) => format!("TIMED OUT after {} s", t.as_secs()),
    };
    println!("boot: {ended}, {:.1} s wall", log.wall.as_secs_f64());
    if let Some(t) = log.printk_time_at("Run /init as init process") {
        println!("kernel reached /init at {t:.3} s (guest clock)");
    }
    if let Some(p) = log.line_with("Kernel panic") {
        println!("KERNEL PANIC: {p}");
    }
    let rd = log.rdinit_lines();
    println!("rdinit printed {} lines; last: {}", rd.len(), rd.last().copied().unwrap_or("-"));
    for key in ["pid", "root", "initramfs-gone", "uptime"] {
        println!("probe {key}: {}", log.probe(key).unwrap_or("(none)"));
    }
    let mounts: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("PROBE mount ")).collect();
    println!("probe mounts: {}", if mounts.is_empty() { "(none)".into() } else { mounts.join(", ") });
    println!(
        "result: {}",
        if log.contains("PROBE done") { "rdinit switched to the real root" } else { "the probe init did not finish" }
    );
    println!("full log: target/boot-images/logs/demo.log");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_drops_control_sequences() {
        assert_eq!(plain("\x1bc\x1b[?7lBIOS\nroot@rdinit-live:~# \x1b[6nls /\n\x1b[1;32mbin\x1b[0m\n"), "BIOS\nroot@rdinit-live:~# ls /\nbin\n");
    }

    #[test]
    fn after_prompts_splits_echo_and_output() {
        let c = "welcome\nroot@rdinit-live:~# ls /\nbin  etc\nroot@rdinit-live:~# hello\nHello\nroot@rdinit-live:~# poweroff\ninit: bye\n";
        assert_eq!(after_prompts(c), ["ls /\nbin  etc\n", "hello\nHello\n", "poweroff\ninit: bye\n"]);
    }
}
