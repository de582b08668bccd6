//! Messages: `rdinit: ` lines to the console and to /dev/kmsg, without core::fmt.
//!
//! Each record goes to /dev/kmsg with its level (so it carries a printk timestamp), and to
//! the console directly only when the kernel will not echo it there itself (its level is not
//! below the console log level) — so a line shows once, whatever `quiet`/`debug` say.
use crate::sys::fs::{self, O_NOCTTY, O_RDWR, O_WRONLY};
use crate::sys::cstr::ThinCStr;
use crate::sys::{Errno, Fd};
use core::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering::Relaxed};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Err = 3,
    Warn = 4,
    Info = 6,
    Debug = 7,
}

/// /dev/kmsg once open, else -1.
static KMSG: AtomicI32 = AtomicI32::new(-1);
/// The kernel's console log level: records below it are echoed by the kernel.
static CONSOLE_LEVEL: AtomicU8 = AtomicU8::new(0);
/// The most verbose level shown (`quiet` → Warn, default Info, `debug` → Debug).
static SHOW: AtomicU8 = AtomicU8::new(Level::Info as u8);
/// CLOCK_BOOTTIME at /init start, for `debug` stage stamps.
static START_MS: AtomicU64 = AtomicU64::new(0);

pub fn set_start(ms: u64) {
    START_MS.store(ms, Relaxed);
}

pub fn set_verbosity(show: Level) {
    SHOW.store(show as u8, Relaxed);
}

pub fn debug_enabled() -> bool {
    SHOW.load(Relaxed) >= Level::Debug as u8
}

/// Points fds 0, 1 and 2 at /dev/console (or /dev/null if that will not open). The kernel
/// opens the console for /init, but when it cannot (an image without the node, a console
/// that will not open) it leaves them closed, and the next files opened would take their
/// numbers: a message would land in a disk or a changes image. PID 1 calls this once
/// devtmpfs is mounted and before it opens anything else; after a switch it also replaces
/// the old root's console.
pub fn open_console() {
    let console = loop {
        let Ok(fd) = fs::open(c"/dev/console", O_RDWR | O_NOCTTY).or_else(|_| fs::open(c"/dev/null", O_RDWR)) else {
            // Nothing to point them at: without /dev nothing else opens a device either.
            return;
        };
        if fd.fd().0 > 2 {
            break fd;
        }
        // A free number below 3 is held by this (close-on-exec) descriptor until its
        // plain copy replaces it: dup3 cannot copy a descriptor onto itself.
        fd.leak();
    };
    for &target in &[Fd::STDIN, Fd::STDOUT, Fd::STDERR] {
        // Failure leaves that descriptor as it was: nothing better to point it at.
        let _ = fs::dup2(console.fd(), target);
    }
}

/// Opens /dev/kmsg (after devtmpfs is mounted) and reads the console log level.
pub fn open_kmsg() {
    let mut buf = [0u8; 32];
    if let Ok(text) = fs::read_file(Fd::CWD, c"/proc/sys/kernel/printk", &mut buf) {
        let first = text.split(|&b| b == b'\t' || b == b' ').next().unwrap_or(b"");
        CONSOLE_LEVEL.store(crate::parse::cmdline::parse_u32(first).unwrap_or(0) as u8, Relaxed);
    }
    // Without this, the kernel rate-limits writes to /dev/kmsg and drops records silently.
    // It fails harmlessly when the user pinned printk.devkmsg on the command line.
    let _ = fs::write_file(c"/proc/sys/kernel/printk_devkmsg", b"on\n");
    if let Ok(fd) = fs::open(c"/dev/kmsg", O_WRONLY) {
        KMSG.store(fd.leak().0, Relaxed);
    }
}

/// Forgets /dev/kmsg (before exec: the fd would leak into the real init's table).
pub fn close_kmsg() {
    // A load and a store, not `swap`: one thread, and aarch64 would need an atomics helper.
    let fd = KMSG.load(Relaxed);
    KMSG.store(-1, Relaxed);
    if fd >= 0 {
        drop(crate::sys::OwnedFd::from_fd(Fd(fd)));
    }
}

pub const LINE_MAX: usize = 512;
/// The longest piece of a line shown whole: two fit in a line with their template.
const PIECE_MAX: usize = 200;

/// One message under construction: `Line::info().s(b"root ").s(spec).emit()`.
pub struct Line {
    /// A [`Level`]'s number, as the `<L>` prefix and a template carry it.
    level: u8,
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    pub fn new(level: Level) -> Line {
        Line::at(level as u8)
    }
    /// A line with its prefix: `<L>` for kmsg (stripped for the console) and `rdinit: `.
    /// Written without a call, the line is built in its caller's place, not copied there.
    fn at(level: u8) -> Line {
        const PREFIX: &[u8] = b"<0>rdinit: ";
        let mut l = Line { level, buf: [0; LINE_MAX], len: PREFIX.len() };
        l.buf[..PREFIX.len()].copy_from_slice(PREFIX);
        l.buf[1] += level;
        l
    }
    pub fn err() -> Line {
        Line::new(Level::Err)
    }
    pub fn warn() -> Line {
        Line::new(Level::Warn)
    }
    pub fn info() -> Line {
        Line::new(Level::Info)
    }

    /// Appends bytes; a long piece (a name, a path) is cut at [`PIECE_MAX`] with `...`, so
    /// that the reason after it still fits, and a full line drops the rest.
    pub fn s(&mut self, bytes: &[u8]) -> &mut Line {
        // 4 bytes stay free: `...` and the newline of `emit`.
        let room = (LINE_MAX - 4).saturating_sub(self.len).min(PIECE_MAX);
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        if n < bytes.len() && self.len + 3 < LINE_MAX {
            self.buf[self.len..self.len + 3].copy_from_slice(b"...");
            self.len += 3;
        }
        self
    }

    /// Appends a decimal number.
    pub fn n(&mut self, value: u64) -> &mut Line {
        let mut digits = [0u8; 20];
        let text = format_u64(value, &mut digits);
        self.s(text)
    }

    /// Appends `ENAME (N)`.
    pub fn errno(&mut self, e: Errno) -> &mut Line {
        self.s(b"E").s(e.name()).s(b" (").n(e.0 as u64).s(b")")
    }

    pub fn emit(&mut self) {
        if self.level > SHOW.load(Relaxed) {
            return;
        }
        self.buf[self.len] = b'\n';
        let record = &self.buf[..self.len + 1];
        let kmsg = KMSG.load(Relaxed);
        let mut echoed = false;
        if kmsg >= 0 && fs::write(Fd(kmsg), record).is_ok() {
            echoed = self.level < CONSOLE_LEVEL.load(Relaxed);
        }
        if !echoed {
            // Console write errors have nowhere to be reported.
            let _ = fs::write_all(Fd::STDERR, &record[3..]);
        }
    }
}

/// A numeric message argument: `%n` prints it in decimal, `%e` as an errno (`ENOENT (2)`).
pub trait Num {
    fn raw(self) -> u64;
}
impl Num for u64 {
    fn raw(self) -> u64 {
        self
    }
}
impl Num for u32 {
    fn raw(self) -> u64 {
        self as u64
    }
}
impl Num for usize {
    fn raw(self) -> u64 {
        self as u64
    }
}
impl Num for Errno {
    fn raw(self) -> u64 {
        self.0 as u64
    }
}

/// Writes one message from a template: `<L>` (its level) and text where `%s` takes the next
/// of `a`, `b`, `%n` prints `n` and `%e` prints `n` as an errno. One call with the template
/// as one pointer per message: a chain of builder calls costs three times the code at each
/// site. `log0`, `log1`, `log_n` and `log1_n` take fewer arguments, for the messages that
/// have fewer: the empty ones are then set once, here, not at each of their sites.
#[inline(never)]
pub fn log(t: ThinCStr, a: &[u8], b: &[u8], n: u64) {
    let t = t.to_bytes();
    let level = match t.get(1) {
        Some(&l) => l.wrapping_sub(b'0'),
        None => return,
    };
    if level <= SHOW.load(Relaxed) {
        let mut line = Line::at(level);
        format(&mut line, t, a, b, n);
        line.emit();
    }
}

#[inline(never)]
pub fn log0(t: ThinCStr) {
    log(t, b"", b"", 0)
}

#[inline(never)]
pub fn log1(t: ThinCStr, a: &[u8]) {
    log(t, a, b"", 0)
}

#[inline(never)]
pub fn log_n(t: ThinCStr, n: u64) {
    log(t, b"", b"", n)
}

#[inline(never)]
pub fn log1_n(t: ThinCStr, a: &[u8], n: u64) {
    log(t, a, b"", n)
}

/// The line of [`log`].
fn format(line: &mut Line, t: &[u8], a: &[u8], b: &[u8], n: u64) {
    if line.level == Level::Debug as u8 {
        let now = crate::sys::process::boottime_ms().saturating_sub(START_MS.load(Relaxed));
        line.s(b"[").n(now).s(b" ms] ");
    }
    // The strings still to print, in order.
    let (mut a, mut b) = (a, b);
    let mut rest = t.get(3..).unwrap_or(&[]);
    while let Some(at) = rest.iter().position(|&c| c == b'%') {
        line.s(&rest[..at]);
        match rest.get(at + 1) {
            Some(b's') => {
                let s = a;
                (a, b) = (b, b"");
                line.s(s)
            }
            Some(b'n') => line.n(n),
            Some(b'e') => line.errno(Errno(n as u16)),
            // `%%`, the only other use of `%` in a template.
            _ => line.s(b"%"),
        };
        rest = rest.get(at + 2..).unwrap_or(&[]);
    }
    line.s(rest);
}

/// `error!("mount %s on %s: %e", dev, dir; e)`: up to two byte strings, then after `;` one
/// number (`%n`) or errno (`%e`). `warning!`, `info!` and `debug!` are alike.
macro_rules! log_at {
    ($lvl:literal, $t:literal) => { $crate::out::log0($crate::out::template!($lvl, $t)) };
    ($lvl:literal, $t:literal; $n:expr) => { $crate::out::log_n($crate::out::template!($lvl, $t), $crate::out::Num::raw($n)) };
    ($lvl:literal, $t:literal, $a:expr) => { $crate::out::log1($crate::out::template!($lvl, $t), $a) };
    ($lvl:literal, $t:literal, $a:expr; $n:expr) => { $crate::out::log1_n($crate::out::template!($lvl, $t), $a, $crate::out::Num::raw($n)) };
    ($lvl:literal, $t:literal, $a:expr, $b:expr) => { $crate::out::log($crate::out::template!($lvl, $t), $a, $b, 0) };
    ($lvl:literal, $t:literal, $a:expr, $b:expr; $n:expr) => {
        $crate::out::log($crate::out::template!($lvl, $t), $a, $b, $crate::out::Num::raw($n))
    };
}
/// A message template as one pointer: `<L>` and the text, checked at compile time.
macro_rules! template {
    ($lvl:literal, $t:literal) => {
        const {
            match core::ffi::CStr::from_bytes_with_nul(concat!("<", $lvl, ">", $t, "\0").as_bytes()) {
                Ok(t) => $crate::sys::cstr::ThinCStr::new(t),
                Err(_) => panic!("a NUL inside a message template"),
            }
        }
    };
}
macro_rules! error {
    ($($x:tt)*) => { $crate::out::log_at!("3", $($x)*) };
}
macro_rules! warning {
    ($($x:tt)*) => { $crate::out::log_at!("4", $($x)*) };
}
macro_rules! info {
    ($($x:tt)*) => { $crate::out::log_at!("6", $($x)*) };
}
macro_rules! debug {
    ($($x:tt)*) => { $crate::out::log_at!("7", $($x)*) };
}
#[allow(unused_imports)]
pub(crate) use {debug, error, info, log_at, template, warning};

/// Decimal digits, from the layer below (loop device names need them there too).
pub use crate::sys::cstr::format_u64;

/// A debug-level stage marker: `rdinit: [12 ms] <stage>`.
pub fn stage(name: &[u8]) {
    debug!("%s", name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line) -> &[u8] {
        &line.buf[..line.len]
    }

    /// The line of a template, as `log` builds it.
    fn format(level: u8, t: &[u8], a: &[u8], b: &[u8], n: u64) -> Line {
        let mut line = Line::at(level);
        super::format(&mut line, t, a, b, n);
        line
    }

    #[test]
    fn templates_take_strings_numbers_and_errnos() {
        let l = format(4, b"<4>mount %s on %s: %e, %n%%", b"/dev/vda", b"/root", 2);
        assert_eq!(text(&l), b"<4>rdinit: mount /dev/vda on /root: ENOENT (2), 2%");
    }

    #[test]
    fn long_arguments_are_cut_and_the_reason_survives() {
        let long = [b'x'; 600];
        let l = format(4, b"<4>changes=%s: %s; keeping changes in RAM", &long, b"path too long", 0);
        let t = text(&l);
        assert!(t.starts_with(b"<4>rdinit: changes=xxx"));
        assert!(t.ends_with(b"x...: path too long; keeping changes in RAM"), "{}", String::from_utf8_lossy(t));
        assert_eq!(t.len(), b"<4>rdinit: changes=".len() + PIECE_MAX + b"...: path too long; keeping changes in RAM".len());
        // Both arguments at their longest still fit.
        let l = format(4, b"<4>%s %s", &long, &long, 0);
        assert_eq!(text(&l).len(), 11 + 2 * (PIECE_MAX + 3) + 1);
    }

    #[test]
    fn full_lines_drop_the_rest_and_keep_room_for_the_newline() {
        let mut l = Line::warn();
        l.s(&[b'a'; 600]).s(&[b'b'; 600]).s(&[b'c'; 600]);
        // `emit` puts its newline at buf[len].
        assert_eq!(l.len, LINE_MAX - 1);
        let cut = |c: u8, n: usize| [vec![c; n], b"...".to_vec()].concat();
        let want = [b"<4>rdinit: ".to_vec(), cut(b'a', PIECE_MAX), cut(b'b', PIECE_MAX), cut(b'c', 91)].concat();
        assert_eq!(text(&l), &want[..]);
        l.s(b"more").n(12).s(&[b'd'; 600]);
        assert_eq!(l.len, LINE_MAX - 1);
    }
}
