//! The kernel command line: tokens exactly as the kernel's `next_arg()` cuts them, the boot
//! settings rdinit reads from them, and the device and location specs they name.
//!
//! Keys match exactly, never as substrings (`rd.debug` is not `debug`), and the last
//! occurrence of a key wins, as with the kernel's own parameters.

use super::bytes::strip_prefix;

/// One `key[=value]` parameter, quotes already stripped as the kernel strips them.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Param<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

const NO_PARAM: Param<'static> = Param { key: &[], value: None };

/// The kernel's `isspace()`: its ctype table counts Latin-1 NBSP (0xA0) as a space too.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t'..=b'\r' | 0xA0)
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| is_space(c)).count();
    s.get(n..).unwrap_or(&[])
}

/// The kernel stops at NUL and skips leading spaces before the first token.
fn start(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&c| c == 0).unwrap_or(line.len());
    skip_spaces(line.get(..end).unwrap_or(&[]))
}

/// A port of `lib/cmdline.c:next_arg()`; `args` is non-empty and starts on a non-space.
/// Returns the parameter and the rest with its leading spaces skipped.
fn next_arg(args: &[u8]) -> (Param<'_>, &[u8]) {
    let (args, quoted) = match args.split_first() {
        Some((b'"', rest)) => (rest, true),
        _ => (args, false),
    };
    let mut in_quote = quoted;
    // As in the kernel, 0 means "no '='": an '=' at index 0 belongs to the key.
    let mut equals = 0;
    let mut i = 0;
    for &c in args {
        if is_space(c) && !in_quote {
            break;
        }
        if equals == 0 && c == b'=' {
            equals = i;
        }
        if c == b'"' {
            in_quote = !in_quote;
        }
        i += 1;
    }
    let tok = args.get(..i).unwrap_or(args);
    let rest = skip_spaces(args.get(i..).unwrap_or(&[]));
    let ends_quote = tok.last() == Some(&b'"');
    let param = if equals == 0 {
        let key = if quoted && ends_quote { tok.split_last().map_or(tok, |(_, k)| k) } else { tok };
        Param { key, value: None }
    } else {
        let key = tok.get(..equals).unwrap_or(&[]);
        let mut value = tok.get(equals + 1..).unwrap_or(&[]);
        let mut strip_end = quoted;
        if let Some((b'"', v)) = value.split_first() {
            value = v;
            strip_end = true;
        }
        // The closing quote is the token's last byte; when it is also the opening one
        // (`key="`), stripping the opening quote already left nothing.
        if strip_end && ends_quote {
            value = value.split_last().map_or(value, |(_, v)| v);
        }
        Param { key, value: Some(value) }
    };
    (param, rest)
}

fn is_dashes(p: &Param) -> bool {
    p.value.is_none() && p.key == b"--"
}

/// Iterator over the kernel's parameters: everything before a bare `--`.
#[derive(Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;
    fn next(&mut self) -> Option<Param<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (p, rest) = next_arg(self.rest);
        self.rest = if is_dashes(&p) { &[] } else { rest };
        if is_dashes(&p) {
            None
        } else {
            Some(p)
        }
    }
}

/// Tokenises `line` (as read from /proc/cmdline) the way the kernel did at boot.
pub fn params(line: &[u8]) -> Params<'_> {
    Params { rest: start(line) }
}

/// What follows a bare `--`: the kernel hands it to init as argv, not as parameters.
pub fn init_args(line: &[u8]) -> &[u8] {
    let mut rest = start(line);
    while !rest.is_empty() {
        let (p, r) = next_arg(rest);
        rest = r;
        if is_dashes(&p) {
            let n = rest.iter().rev().take_while(|&&c| is_space(c)).count();
            return rest.get(..rest.len() - n).unwrap_or(&[]);
        }
    }
    &[]
}

/// Unsigned decimal; `None` for empty, signs, other bytes or overflow.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u32, |n, &c| {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u32::from(d))
    })
}

/// Signed decimal with an optional `+` or `-`, as `panic=-1` needs.
pub fn parse_i32(s: &[u8]) -> Option<i32> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', d)) => (true, d),
        Some((b'+', d)) => (false, d),
        _ => (false, s),
    };
    let n = i64::from(parse_u32(digits)?);
    i32::try_from(if neg { -n } else { n }).ok()
}

/// How long to wait for the root device (`rootwait`, `rootwait=N`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Wait {
    /// No `rootwait`: rdinit's own default.
    Default,
    /// Bare `rootwait`: wait as long as it takes, as the kernel does.
    Forever,
    /// `rootwait=N`: give up after N seconds.
    Seconds(u32),
}

/// How many unparsable values are remembered for the report; later ones are dropped.
pub const MAX_BAD: usize = 4;

/// The settings rdinit reads from the command line; unknown keys are ignored.
#[derive(Clone, Copy)]
#[cfg_attr(test, derive(Debug))]
pub struct BootConfig<'a> {
    pub root: Option<&'a [u8]>,
    pub rootfstype: Option<&'a [u8]>,
    pub rootflags: Option<&'a [u8]>,
    /// `ro` (the default) or `rw`, whichever came last.
    pub read_only: bool,
    pub rootwait: Wait,
    pub rootdelay: Option<u32>,
    pub init: Option<&'a [u8]>,
    /// `panic=N`: N>0 reboot after N s, N<0 at once, 0 hang.
    pub panic: Option<i32>,
    pub quiet: bool,
    pub debug: bool,
    /// Live boot: where the data lives (see [`located_path`]).
    pub from: Option<&'a [u8]>,
    /// Live boot: the data directory's name (Slax: `slax`).
    pub live: Option<&'a [u8]>,
    /// Live boot: comma list of bundle patterns to load besides the default set.
    pub load: Option<&'a [u8]>,
    /// Live boot: comma list of bundle patterns to skip.
    pub noload: Option<&'a [u8]>,
    /// Live boot: where changes persist (see [`located_path`]).
    pub changes: Option<&'a [u8]>,
    /// Live boot: copy data to RAM; `Some(b"")` for a bare `toram`.
    pub toram: Option<&'a [u8]>,
    /// Live boot: persistent changes in a per-boot directory.
    pub perch: bool,
    /// Which kernel modules to load (`modules=all`), raw.
    pub modules: Option<&'a [u8]>,
    /// Legacy initrd: the real root, while `root=` names the RAM disk (genkernel's name).
    #[cfg(feature = "initrd")]
    pub real_root: Option<&'a [u8]>,
    bad: [Param<'a>; MAX_BAD],
    bad_len: usize,
}

impl<'a> BootConfig<'a> {
    /// Parameters whose number did not parse, in order, for "ignoring panic=abc" reports.
    pub fn bad_values(&self) -> &[Param<'a>] {
        self.bad.get(..self.bad_len).unwrap_or(&[])
    }

    fn number<T>(&mut self, p: Param<'a>, parse: fn(&[u8]) -> Option<T>) -> Option<T> {
        let n = p.value.and_then(parse);
        if n.is_none() {
            if let Some(slot) = self.bad.get_mut(self.bad_len) {
                *slot = p;
                self.bad_len += 1;
            }
        }
        n
    }
}

/// The keys rdinit reads; one table lookup instead of a chain of string compares.
#[derive(Clone, Copy)]
enum Key {
    Root,
    RootFsType,
    RootFlags,
    Ro,
    Rw,
    RootWait,
    RootDelay,
    Init,
    Panic,
    Quiet,
    Debug,
    From,
    Live,
    Load,
    NoLoad,
    Changes,
    Toram,
    Perch,
    Modules,
    SlaxFlags,
}

/// The names, in the order of `KEYS`.
const KEY_NAMES: &[u8] = b"root rootfstype rootflags ro rw rootwait rootdelay init panic quiet debug from live load noload changes toram perch modules slax.flags";
const KEYS: [Key; 20] = [
    Key::Root,
    Key::RootFsType,
    Key::RootFlags,
    Key::Ro,
    Key::Rw,
    Key::RootWait,
    Key::RootDelay,
    Key::Init,
    Key::Panic,
    Key::Quiet,
    Key::Debug,
    Key::From,
    Key::Live,
    Key::Load,
    Key::NoLoad,
    Key::Changes,
    Key::Toram,
    Key::Perch,
    Key::Modules,
    Key::SlaxFlags,
];

fn key(name: &[u8]) -> Option<Key> {
    super::bytes::word_index(KEY_NAMES, name).and_then(|i| KEYS.get(i)).copied()
}

/// Reads the boot settings from `line`; a bad number keeps the earlier value and is listed.
// Out of line: inlined into `stage::boot`, it costs aarch64 168 bytes (measured).
#[inline(never)]
pub fn boot_config(line: &[u8]) -> BootConfig<'_> {
    let mut c = BootConfig {
        root: None,
        rootfstype: None,
        rootflags: None,
        read_only: true,
        rootwait: Wait::Default,
        rootdelay: None,
        init: None,
        panic: None,
        quiet: false,
        debug: false,
        from: None,
        live: None,
        load: None,
        noload: None,
        changes: None,
        toram: None,
        perch: false,
        modules: None,
        #[cfg(feature = "initrd")]
        real_root: None,
        bad: [NO_PARAM; MAX_BAD],
        bad_len: 0,
    };
    for p in params(line) {
        let v = p.value;
        // Outside the key table, which the root=-only build shares.
        #[cfg(feature = "initrd")]
        if p.key == b"real_root" {
            c.real_root = v;
            continue;
        }
        match key(p.key) {
            Some(Key::Root) => c.root = v,
            Some(Key::RootFsType) => c.rootfstype = v,
            Some(Key::RootFlags) => c.rootflags = v,
            Some(Key::Ro) => c.read_only = true,
            Some(Key::Rw) => c.read_only = false,
            Some(Key::RootWait) => {
                if v.is_none() {
                    c.rootwait = Wait::Forever;
                } else if let Some(n) = c.number(p, parse_u32) {
                    c.rootwait = Wait::Seconds(n);
                }
            }
            Some(Key::RootDelay) => c.rootdelay = c.number(p, parse_u32).or(c.rootdelay),
            Some(Key::Init) => c.init = v,
            Some(Key::Panic) => c.panic = c.number(p, parse_i32).or(c.panic),
            Some(Key::Quiet) => c.quiet = true,
            Some(Key::Debug) => c.debug = true,
            Some(Key::From) => c.from = v,
            Some(Key::Live) => c.live = v,
            Some(Key::Load) => c.load = v,
            Some(Key::NoLoad) => c.noload = v,
            Some(Key::Changes) => c.changes = v,
            Some(Key::Toram) => c.toram = Some(v.unwrap_or(&[])),
            Some(Key::Perch) => c.perch = true,
            Some(Key::Modules) => c.modules = v,
            // Slax's own spelling of the same switches: `slax.flags=perch,toram`.
            Some(Key::SlaxFlags) => {
                for flag in v.unwrap_or(&[]).split(|&b| b == b',') {
                    match key(flag) {
                        Some(Key::Perch) => c.perch = true,
                        Some(Key::Toram) => c.toram = Some(&[]),
                        _ => {}
                    }
                }
            }
            None => {}
        }
    }
    c
}

/// A block device as `root=`, `from=` or `changes=` name it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum DeviceSpec<'a> {
    /// `/dev/vda1`, kept whole.
    Path(&'a [u8]),
    Uuid(&'a [u8]),
    Label(&'a [u8]),
    /// `PARTUUID=U[/PARTNROFF=N]`: the partition N after the one with UUID U (0: itself).
    PartUuid(&'a [u8], i32),
    PartLabel(&'a [u8]),
    /// `8:1`, or the old hex form `0801`.
    MajMin(u32, u32),
}

/// The tags a device spec may start with, and udev's `/dev/disk/by-KIND/` links that
/// stand for them, in the same order.
const TAGS: [&[u8]; 4] = [b"UUID=", b"LABEL=", b"PARTLABEL=", b"PARTUUID="];
const DISK_LINKS: [&[u8]; 4] = [b"uuid/", b"label/", b"partlabel/", b"partuuid/"];

/// The value after `prefix`, if there is one.
fn value_after<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    strip_prefix(s, prefix).filter(|v| !v.is_empty())
}

/// Whether a label (or partition label) read from a device is the one a spec names. A
/// `\xHH` in the spec is read as udev writes bytes unfit for a file name in /dev/disk/by-label names
/// (`\x2f` for `/`, `\x20` for a space), so a name copied from there matches; a backslash
/// not followed by `x` and two hex digits is itself.
pub fn label_matches(spec: &[u8], label: &[u8]) -> bool {
    let mut rest = spec;
    let mut want = label.iter();
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        let mut byte = c;
        if let (b'\\', [b'x', hi, lo, after @ ..]) = (c, tail) {
            if let (Some(hi), Some(lo)) = (hex_digit(*hi), hex_digit(*lo)) {
                byte = (hi << 4 | lo) as u8;
                rest = after;
            }
        }
        if want.next() != Some(&byte) {
            return false;
        }
    }
    want.next().is_none()
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// Reads a device spec the way the kernel's root= lookup does; `None` if it names none.
/// `/dev/disk/by-uuid/X`, `by-label`, `by-partuuid` and `by-partlabel` (copied from an
/// fstab) are udev's links, which nothing builds in an initramfs: they are read as the tags
/// they stand for, and the other `/dev/disk/` links (by-id, by-path) name no device.
// Out of line: called from the root= boot and twice from the live boot, and inlined it
// costs the root-only build about 200 bytes.
#[inline(never)]
pub fn device_spec(s: &[u8]) -> Option<DeviceSpec<'_>> {
    let link = strip_prefix(s, b"/dev/disk/by-");
    if link.is_none() && s.starts_with(b"/") {
        return (s.len() > 1).then_some(DeviceSpec::Path(s));
    }
    // `by-uuid/X` reads as `UUID=X`: one parser for both forms.
    let (s, [uuid, label, partlabel, partuuid]) = match link {
        Some(link) => (link, DISK_LINKS),
        None => (s, TAGS),
    };
    if let Some(v) = value_after(s, uuid) {
        return Some(DeviceSpec::Uuid(v));
    }
    if let Some(v) = value_after(s, label) {
        return Some(DeviceSpec::Label(v));
    }
    if let Some(v) = value_after(s, partlabel) {
        return Some(DeviceSpec::PartLabel(v));
    }
    if let Some(v) = value_after(s, partuuid) {
        return match v.iter().position(|&c| c == b'/') {
            None => Some(DeviceSpec::PartUuid(v, 0)),
            Some(slash) => {
                let uuid = v.get(..slash).filter(|u| !u.is_empty())?;
                let off = strip_prefix(v.get(slash + 1..)?, b"PARTNROFF=")?;
                Some(DeviceSpec::PartUuid(uuid, parse_i32(off)?))
            }
        };
    }
    // Other links (by-id/…, by-path/…) go on, and are no number either: the `/` after
    // their kind is neither a digit nor a colon.
    if let Some(colon) = s.iter().position(|&c| c == b':') {
        let major = parse_u32(s.get(..colon)?)?;
        let minor = parse_u32(s.get(colon + 1..)?)?;
        return Some(DeviceSpec::MajMin(major, minor));
    }
    // The kernel's hex dev_t (`0803`), decoded with new_decode_dev().
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    let dev = s.iter().try_fold(0u32, |n, &c| Some(n << 4 | hex_digit(c)?))?;
    Some(DeviceSpec::MajMin((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00)))
}

/// A directory or file on some device, as the live boot's `from=` and `changes=` give it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Located<'a> {
    /// `None`: search every device.
    pub device: Option<DeviceSpec<'a>>,
    /// Path inside that device, starting with `/`; empty for its root.
    pub path: &'a [u8],
}

/// Splits `/dev/sdb1/slax`, `LABEL=X/slax`, `UUID=X` or `/slax/my.iso` into device and path.
/// `/dev/NAME` takes exactly one component: `/dev/sdb1/slax` is sdb1's `/slax`;
/// `/dev/disk/by-KIND/NAME` takes three.
pub fn located_path(s: &[u8]) -> Option<Located<'_>> {
    if let Some(after) = strip_prefix(s, b"/dev/") {
        let components = if after.starts_with(b"disk/by-") { 3 } else { 1 };
        let mut len = 4;
        for _ in 0..components {
            let rest = s.get(len + 1..)?;
            let name_len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
            if name_len == 0 {
                return None;
            }
            len += 1 + name_len;
        }
        let (dev, path) = s.split_at_checked(len)?;
        return Some(Located { device: Some(device_spec(dev)?), path });
    }
    if s.starts_with(b"/") {
        return Some(Located { device: None, path: s });
    }
    let slash = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
    let (dev, path) = s.split_at_checked(slash)?;
    Some(Located { device: Some(device_spec(dev)?), path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(line: &str) -> Vec<(String, Option<String>)> {
        params(line.as_bytes())
            .map(|p| {
                let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                (s(p.key), p.value.map(s))
            })
            .collect()
    }

    fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn plain_tokens() {
        assert_eq!(
            toks("  root=/dev/vda1 ro  quiet\n"),
            vec![kv("root", Some("/dev/vda1")), kv("ro", None), kv("quiet", None)]
        );
        assert!(toks("").is_empty());
        assert!(toks(" \t\n ").is_empty());
        assert_eq!(toks("a= b"), vec![kv("a", Some("")), kv("b", None)]);
    }

    #[test]
    fn quoting_like_the_kernel() {
        // Value quoted: quotes stripped, spaces kept.
        assert_eq!(toks(r#"a="x y" b"#), vec![kv("a", Some("x y")), kv("b", None)]);
        // Whole parameter quoted.
        assert_eq!(toks(r#""a=x y" b"#), vec![kv("a", Some("x y")), kv("b", None)]);
        assert_eq!(toks(r#""flag""#), vec![kv("flag", None)]);
        // Quotes in the middle stay: the kernel strips only leading/trailing ones.
        assert_eq!(toks(r#"a=x"y z"w"#), vec![kv("a", Some(r#"x"y z"w"#))]);
        // Unterminated quote runs to the end of the line.
        assert_eq!(toks(r#"a="x y"#), vec![kv("a", Some("x y"))]);
        // Lone quotes.
        assert_eq!(toks(r#"a=""#), vec![kv("a", Some(""))]);
        assert_eq!(toks(r#"a="""#), vec![kv("a", Some(""))]);
        assert_eq!(toks(r#"""#), vec![kv("", None)]);
        assert_eq!(toks(r#""""#), vec![kv("", None)]);
        // '=' at index 0 is part of the key, as in the kernel.
        assert_eq!(toks("=a=b"), vec![kv("=a", Some("b"))]);
        assert_eq!(toks("a==b"), vec![kv("a", Some("=b"))]);
    }

    #[test]
    fn dashes_end_kernel_params() {
        let line = b"root=/dev/sda1 -- single --foo=bar  \n";
        assert_eq!(toks(core::str::from_utf8(line).unwrap()), vec![kv("root", Some("/dev/sda1"))]);
        assert_eq!(init_args(line), b"single --foo=bar");
        assert_eq!(init_args(b"a \"--\" b"), b"b");
        assert_eq!(init_args(b"a --=x b"), b"");
        assert_eq!(toks("a --=x b").len(), 3);
        assert_eq!(init_args(b"a --"), b"");
        assert_eq!(init_args(b""), b"");
    }

    #[test]
    fn nul_and_nbsp() {
        assert_eq!(toks("a\0b c"), vec![kv("a", None)]);
        assert_eq!(params(b"a\xa0b").count(), 2);
    }

    #[test]
    #[cfg(feature = "initrd")]
    fn real_root_is_kept_apart_from_root() {
        let c = boot_config(b"root=/dev/ram0 real_root=LABEL=rootfs rw");
        assert_eq!(c.root, Some(&b"/dev/ram0"[..]));
        assert_eq!(c.real_root, Some(&b"LABEL=rootfs"[..]));
        assert_eq!(boot_config(b"root=/dev/vda").real_root, None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"0"), Some(0));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b""), None);
        assert_eq!(parse_u32(b"+1"), None);
        assert_eq!(parse_u32(b"1a"), None);
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"+7"), Some(7));
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"abc"), None);
    }

    #[test]
    fn config_defaults() {
        let c = boot_config(b"");
        assert!(c.read_only);
        assert_eq!(c.rootwait, Wait::Default);
        assert_eq!(c.root, None);
        assert!(c.bad_values().is_empty());
    }

    #[test]
    fn config_last_wins_and_exact_keys() {
        let c = boot_config(
            b"root=/dev/sda1 rw root=UUID=abc rd.debug xdebug debug_foo quiet=1 rootwait \
              panic=5 panic=-1 rootdelay=3 ro rootflags=\"data=journal,noatime\" init=/bin/sh",
        );
        assert_eq!(c.root, Some(&b"UUID=abc"[..]));
        assert!(!c.debug);
        assert!(c.quiet);
        assert!(c.read_only);
        assert_eq!(c.rootwait, Wait::Forever);
        assert_eq!(c.panic, Some(-1));
        assert_eq!(c.rootdelay, Some(3));
        assert_eq!(c.rootflags, Some(&b"data=journal,noatime"[..]));
        assert_eq!(c.init, Some(&b"/bin/sh"[..]));
        assert!(!boot_config(b"ro rw").read_only);
        assert_eq!(boot_config(b"rootwait rootwait=10").rootwait, Wait::Seconds(10));
        assert_eq!(boot_config(b"rootwait=10 rootwait").rootwait, Wait::Forever);
        // After `--` nothing counts.
        assert!(!boot_config(b"quiet -- debug").debug);
    }

    #[test]
    fn config_bad_numbers_reported() {
        let c = boot_config(b"panic=10 panic=abc rootdelay= rootwait=x panic a=1 panic=9x rootdelay=1e");
        assert_eq!(c.panic, Some(10));
        assert_eq!(c.rootdelay, None);
        assert_eq!(c.rootwait, Wait::Default);
        let bad: Vec<_> = c.bad_values().iter().map(|p| (p.key, p.value)).collect();
        assert_eq!(
            bad,
            vec![
                (&b"panic"[..], Some(&b"abc"[..])),
                (&b"rootdelay"[..], Some(&b""[..])),
                (&b"rootwait"[..], Some(&b"x"[..])),
                (&b"panic"[..], None),
            ]
        );
    }

    #[test]
    fn config_live_keys() {
        let c = boot_config(
            b"from=/dev/sdb1/slax live=slax load=05-*,firefox noload=04-apps changes=LABEL=persist/changes \
              toram perch modules=all",
        );
        assert_eq!(c.from, Some(&b"/dev/sdb1/slax"[..]));
        assert_eq!(c.live, Some(&b"slax"[..]));
        assert_eq!(c.load, Some(&b"05-*,firefox"[..]));
        assert_eq!(c.noload, Some(&b"04-apps"[..]));
        assert_eq!(c.changes, Some(&b"LABEL=persist/changes"[..]));
        assert_eq!(c.toram, Some(&b""[..]));
        assert!(c.perch);
        assert_eq!(c.modules, Some(&b"all"[..]));
        assert_eq!(boot_config(b"toram=core").toram, Some(&b"core"[..]));
        assert_eq!(boot_config(b"").toram, None);
    }

    #[test]
    fn real_command_lines() {
        let all = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cmdline/lines.txt")).unwrap();
        let lines: Vec<&[u8]> = all.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        // Firecracker host: init args after `--`.
        let fc = boot_config(lines[0]);
        assert_eq!(fc.panic, Some(1));
        assert!(fc.quiet);
        assert_eq!(fc.root, None);
        assert!(init_args(lines[0]).starts_with(b"--firecracker-init --addr"));
        assert_eq!(params(lines[0]).last().unwrap().key, b"rdinit");
        // Debian.
        let deb = boot_config(lines[1]);
        assert_eq!(device_spec(deb.root.unwrap()), Some(DeviceSpec::Uuid(b"3e6be9de-8139-4a3f-9106-a43f08d823a6")));
        assert!(deb.read_only && deb.quiet);
        // Slax from its syslinux config.
        let slax = boot_config(lines[2]);
        assert!(!slax.read_only);
        assert!(slax.perch);
        assert_eq!(slax.toram, None);
        assert_eq!(slax.rootwait, Wait::Default);
        assert_eq!(params(lines[2]).find(|p| p.key == b"slax.flags").unwrap().value, Some(&b"perch,automount"[..]));
        // systemd-boot style with quoted values.
        let q = boot_config(lines[3]);
        assert_eq!(q.rootflags, Some(&b"subvol=@root,compress=zstd"[..]));
        assert_eq!(params(lines[3]).find(|p| p.key == b"systemd.unit").unwrap().value, Some(&b"rescue target"[..]));
    }

    #[test]
    fn device_specs() {
        use DeviceSpec::*;
        assert_eq!(device_spec(b"/dev/vda1"), Some(Path(b"/dev/vda1")));
        assert_eq!(device_spec(b"/"), None);
        assert_eq!(device_spec(b"UUID=1234-ABCD"), Some(Uuid(b"1234-ABCD")));
        assert_eq!(device_spec(b"UUID="), None);
        assert_eq!(device_spec(b"LABEL=my disk"), Some(Label(b"my disk")));
        assert_eq!(device_spec(b"PARTLABEL=root"), Some(PartLabel(b"root")));
        assert_eq!(device_spec(b"PARTUUID=deadbeef-01"), Some(PartUuid(b"deadbeef-01", 0)));
        assert_eq!(
            device_spec(b"PARTUUID=00112233-4455-6677-8899-aabbccddeeff/PARTNROFF=-1"),
            Some(PartUuid(b"00112233-4455-6677-8899-aabbccddeeff", -1))
        );
        assert_eq!(device_spec(b"PARTUUID=x/PARTNROFF="), None);
        assert_eq!(device_spec(b"PARTUUID=x/FOO=1"), None);
        assert_eq!(device_spec(b"PARTUUID=/PARTNROFF=1"), None);
        assert_eq!(device_spec(b"8:1"), Some(MajMin(8, 1)));
        assert_eq!(device_spec(b"259:0"), Some(MajMin(259, 0)));
        assert_eq!(device_spec(b"8:"), None);
        assert_eq!(device_spec(b":1"), None);
        assert_eq!(device_spec(b"0803"), Some(MajMin(8, 3)));
        assert_eq!(device_spec(b"fe00"), Some(MajMin(254, 0)));
        assert_eq!(device_spec(b"123456789"), None);
        assert_eq!(device_spec(b"sda1"), None);
        assert_eq!(device_spec(b""), None);
        assert_eq!(device_spec(b"uuid=x"), None);
    }

    /// The udev links users copy from fstab: no udev builds them in an initramfs, so they
    /// are read as the tags they stand for; other /dev/disk/ links name no device.
    #[test]
    fn dev_disk_links_are_read_as_tags() {
        use DeviceSpec::*;
        assert_eq!(device_spec(b"/dev/disk/by-uuid/3e6c1d52-7a0b"), Some(Uuid(b"3e6c1d52-7a0b")));
        assert_eq!(device_spec(b"/dev/disk/by-label/my\\x20disk"), Some(Label(b"my\\x20disk")));
        assert_eq!(device_spec(b"/dev/disk/by-partuuid/deadbeef-01"), Some(PartUuid(b"deadbeef-01", 0)));
        assert_eq!(device_spec(b"/dev/disk/by-partlabel/root"), Some(PartLabel(b"root")));
        assert_eq!(device_spec(b"/dev/disk/by-label/"), None);
        // udev writes a `/` in a label as `\x2f`; written plainly, it still means the label.
        assert_eq!(device_spec(b"/dev/disk/by-label/a/b"), Some(Label(b"a/b")));
        assert_eq!(device_spec(b"/dev/disk/by-id/virtio-abc"), None);
        assert_eq!(device_spec(b"/dev/disk/by-path/pci-0000:00:04.0"), None);
        assert_eq!(device_spec(b"/dev/disk/by-uuidx/1"), None);
        // Kernel names stay paths, with or without a directory (devtmpfs makes cciss/c0d0).
        assert_eq!(device_spec(b"/dev/cciss/c0d0"), Some(Path(b"/dev/cciss/c0d0")));
        let l = |s: &'static [u8]| located_path(s);
        assert_eq!(l(b"/dev/disk/by-label/USB/slax"), Some(Located { device: Some(Label(b"USB")), path: b"/slax" }));
        assert_eq!(l(b"/dev/disk/by-uuid/1A2B-3C4D"), Some(Located { device: Some(Uuid(b"1A2B-3C4D")), path: b"" }));
        assert_eq!(l(b"/dev/disk/by-id/x/slax"), None);
    }

    /// udev writes a label's `/`, spaces and other bytes unfit for a name as `\xHH` in by-label names.
    #[test]
    fn labels_match_through_udev_escapes() {
        assert!(label_matches(b"my\\x20disk", b"my disk"));
        assert!(label_matches(b"a\\x2fb", b"a/b"));
        assert!(label_matches(b"a\\x2Fb", b"a/b"));
        assert!(label_matches(b"plain", b"plain"));
        assert!(!label_matches(b"plain", b"plainer"));
        assert!(!label_matches(b"plainer", b"plain"));
        assert!(!label_matches(b"a\\x20", b"a"));
        // Not an escape: kept as written.
        assert!(label_matches(b"a\\xg0", b"a\\xg0"));
        assert!(label_matches(b"a\\x2", b"a\\x2"));
        assert!(!label_matches(b"", b"x"));
    }

    #[test]
    fn located_paths() {
        use DeviceSpec::*;
        let l = |s: &'static [u8]| located_path(s);
        assert_eq!(l(b"/dev/sdb1/slax"), Some(Located { device: Some(Path(b"/dev/sdb1")), path: b"/slax" }));
        assert_eq!(l(b"/dev/sdb1"), Some(Located { device: Some(Path(b"/dev/sdb1")), path: b"" }));
        assert_eq!(l(b"/dev/sdb1/"), Some(Located { device: Some(Path(b"/dev/sdb1")), path: b"/" }));
        assert_eq!(l(b"/dev/"), None);
        assert_eq!(l(b"/dev//x"), None);
        assert_eq!(l(b"LABEL=USB/data/slax"), Some(Located { device: Some(Label(b"USB")), path: b"/data/slax" }));
        assert_eq!(l(b"UUID=1A2B-3C4D"), Some(Located { device: Some(Uuid(b"1A2B-3C4D")), path: b"" }));
        assert_eq!(l(b"8:17/x"), Some(Located { device: Some(MajMin(8, 17)), path: b"/x" }));
        assert_eq!(l(b"/slax/slax.iso"), Some(Located { device: None, path: b"/slax/slax.iso" }));
        assert_eq!(l(b"/devices"), Some(Located { device: None, path: b"/devices" }));
        assert_eq!(l(b"LABEL=/x"), None);
        assert_eq!(l(b"slax"), None);
        assert_eq!(l(b""), None);
    }
}
