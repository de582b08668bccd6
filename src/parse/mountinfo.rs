//! `/proc/self/mountinfo`, for the shutdown role's unmount passes and for sanity checks
//! before switching root. Fields stay raw (octal-escaped) until [`unescape`] is asked.
//!
//! Line format (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE
//! SOURCE SUPER_OPTIONS`.

use super::bytes::strip_prefix;
use super::cmdline::parse_u32;

/// The pieces of `s` between `sep` bytes. One closure type for every separator: the
/// binary carries one copy of the splitting code.
fn split_on(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    s.split(move |&c| c == sep)
}

/// One mount, fields as the kernel wrote them (spaces in paths appear as `\040`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct MountEntry<'a> {
    pub id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem mounted here (not `/` for bind mounts).
    pub root: &'a [u8],
    pub mount_point: &'a [u8],
    /// Per-mount options (`ro`, `nosuid`, …).
    pub options: &'a [u8],
    pub fstype: &'a [u8],
    pub source: &'a [u8],
    /// Per-superblock options.
    pub super_options: &'a [u8],
}

/// Parses one line; `None` if any required field is missing or not a number.
pub fn parse_line(line: &[u8]) -> Option<MountEntry<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    // One space between fields, as the kernel writes them: an empty source stays a field.
    let f = &mut split_on(line, b' ');
    let id = parse_u32(f.next()?)?;
    let parent_id = parse_u32(f.next()?)?;
    let dev = f.next()?;
    let colon = dev.iter().position(|&c| c == b':')?;
    let (major, minor) = dev.split_at(colon);
    let (major, minor) = (parse_u32(major)?, parse_u32(minor.get(1..)?)?);
    let (root, mount_point, options) = (f.next()?, f.next()?, f.next()?);
    // Optional fields (`shared:1`, `master:2`, …) run up to a lone `-`.
    while f.next()? != b"-" {}
    let (fstype, source, super_options) = (f.next()?, f.next()?, f.next()?);
    Some(MountEntry { id, parent_id, major, minor, root, mount_point, options, fstype, source, super_options })
}


/// The well-formed entries of a mountinfo text, in file order (oldest mount first);
/// garbled lines are skipped, so one bad line cannot stop a shutdown.
pub fn entries(text: &[u8]) -> impl Iterator<Item = MountEntry<'_>> {
    split_on(text, b'\n').filter_map(parse_line)
}

/// Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash) into `out`;
/// `None` if `out` is too small. A backslash not followed by three octal digits is kept.
pub fn unescape<'o>(raw: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut n = 0;
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let mut byte = c;
        i += 1;
        if let (b'\\', Some(&[a, b, d])) = (c, raw.get(i..i + 3)) {
            // At most `\377`: a byte.
            let digits = [a.wrapping_sub(b'0'), b.wrapping_sub(b'0'), d.wrapping_sub(b'0')];
            if digits[0] < 4 && digits[1] < 8 && digits[2] < 8 {
                byte = digits[0] << 6 | digits[1] << 3 | digits[2];
                i += 3;
            }
        }
        *out.get_mut(n)? = byte;
        n += 1;
    }
    out.get(..n)
}

/// Whether a comma-separated option list holds `name` exactly (`ro`, not `errors=remount-ro`).
pub fn has_option(list: &[u8], name: &[u8]) -> bool {
    split_on(list, b',').any(|o| o == name)
}

/// Whether `path` is `prefix` or below it, by whole components: `/oldroot` holds
/// `/oldroot/x` but not `/oldrootx`. `/` holds every absolute path.
pub fn is_under(path: &[u8], prefix: &[u8]) -> bool {
    let n = prefix.iter().rev().take_while(|&&c| c == b'/').count();
    let prefix = prefix.get(..prefix.len() - n).unwrap_or(&[]);
    match strip_prefix(path, prefix) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b'/'),
        None => false,
    }
}

/// One mount of a take-down plan: what ordering needs, and where its line starts in the
/// mountinfo text (see [`entry_at`]).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Node {
    pub id: u32,
    pub parent_id: u32,
    /// Path components of the mount point: `/` 0, `/oldroot/run` 2.
    pub depth: u32,
    /// Byte offset of the mount's line in the text.
    pub line: u32,
}

/// The mounts a shutdown leaves alone: `/` (it cannot leave itself) and the API filesystems
/// at the root that the take-down itself uses: /proc (mountinfo), /dev (loop devices, the
/// console), /sys (the loop list). Their twins under /oldroot are taken down.
pub fn kept_at_shutdown(mount_point: &[u8]) -> bool {
    // By the first component: `/proc/x` is kept, `/procx` is not.
    let mut components = split_on(mount_point, b'/');
    mount_point == b"/" || components.next() == Some(b"") && matches!(components.next(), Some(b"proc" | b"sys" | b"dev"))
}

/// Path components of a (raw, escaped) mount point; escapes never hold a `/`.
pub fn depth(path: &[u8]) -> u32 {
    // A component starts at each byte that is not a `/` but follows one.
    let mut n = 0;
    let mut prev = b'/';
    for &c in path {
        n += u32::from(prev == b'/' && c != b'/');
        prev = c;
    }
    n
}

/// The mount whose line starts at byte `line` of `text`.
pub fn entry_at(text: &[u8], line: u32) -> Option<MountEntry<'_>> {
    let rest = text.get(line as usize..)?;
    parse_line(split_on(rest, b'\n').next()?)
}

/// The mount of a mountinfo line, unless it is kept at shutdown.
fn eligible(line: &[u8]) -> Option<MountEntry<'_>> {
    parse_line(line).filter(|e| !kept_at_shutdown(e.mount_point))
}

/// The take-down order of a mountinfo text: every mount not [`kept_at_shutdown`], deepest
/// first and, at equal depth, newest (later in the file) first. A child's mount point lies
/// inside its parent's, so children come before parents, and of two mounts stacked on one
/// path the top one comes first. Writes into `out` and returns how many, and whether some
/// did not fit: those are the oldest (a mount is newer than the one it sits on), and wait
/// for a later pass, after the newer ones are gone.
pub fn takedown_plan(text: &[u8], out: &mut [Node]) -> (usize, bool) {
    let total = split_on(text, b'\n').filter(|l| eligible(l).is_some()).count();
    let mut skip = total.saturating_sub(out.len());
    let more = skip > 0;
    let mut n = 0;
    let mut start = 0usize;
    for line in split_on(text, b'\n') {
        let at = start;
        start += line.len() + 1;
        let Some(e) = eligible(line) else { continue };
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let Some(slot) = out.get_mut(n) else { break };
        *slot = Node { id: e.id, parent_id: e.parent_id, depth: depth(e.mount_point), line: at as u32 };
        n += 1;
    }
    let plan = out.get_mut(..n).unwrap_or(&mut []);
    // Shell sort on (depth, line), descending: small code, and a few hundred mounts at most.
    let key = |m: &Node| (u64::from(m.depth) << 32) | u64::from(m.line);
    let mut gap = n / 2;
    while gap > 0 {
        for i in gap..n {
            let mut j = i;
            while j >= gap {
                let (a, b) = (plan.get(j).map_or(0, key), plan.get(j - gap).map_or(0, key));
                if a <= b {
                    break;
                }
                plan.swap(j, j - gap);
                j -= gap;
            }
        }
        gap /= 2;
    }
    (n, more)
}

/// Whether `plan[i]` holds up its parent: the parent is in the plan too and nothing of the
/// plan is mounted on `plan[i]`. Moving such a mount out of the way (when it is busy) lets
/// the parent be unmounted.
pub fn blocks_parent(plan: &[Node], i: usize) -> bool {
    let Some(m) = plan.get(i) else { return false };
    plan.iter().any(|p| p.id == m.parent_id) && !plan.iter().any(|c| c.parent_id == m.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line() {
        let e = parse_line(b"36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
            .unwrap();
        assert_eq!((e.id, e.parent_id, e.major, e.minor), (36, 35, 98, 0));
        assert_eq!(e.root, b"/mnt1");
        assert_eq!(e.mount_point, b"/mnt/parent");
        assert_eq!(e.options, b"rw,noatime");
        assert_eq!(e.fstype, b"ext3");
        assert_eq!(e.source, b"/dev/root");
        assert_eq!(e.super_options, b"rw,errors=continue");
        let many =
            parse_line(b"1 2 0:5 / /x ro shared:1 master:2 propagate_from:3 unbindable - tmpfs none rw").unwrap();
        assert_eq!(many.fstype, b"tmpfs");
        let none = parse_line(b"1 2 0:5 / /x ro - tmpfs none rw").unwrap();
        assert_eq!(none.options, b"ro");
        // mount("", "/y", "tmpfs", ...): the kernel writes the empty source as is.
        let empty = parse_line(b"3 2 0:6 / /y rw - tmpfs  rw,size=8k").unwrap();
        assert_eq!((empty.source, empty.super_options), (&b""[..], &b"rw,size=8k"[..]));
    }

    #[test]
    fn garbled_lines() {
        for l in [
            &b""[..],
            b"\n",
            b"36 35 98:0 /mnt1 /mnt/parent rw master:1 ext3 /dev/root rw",
            b"36 35 98:0 /mnt1 /mnt/parent rw - ext3 /dev/root",
            b"36 35 98-0 / / rw - ext3 /dev/root rw",
            b"x 35 98:0 / / rw - ext3 /dev/root rw",
            b"36 35 98: / / rw - ext3 /dev/root rw",
            b"36 35",
            b"\xff\xfe garbage \0\0",
        ] {
            assert_eq!(parse_line(l), None, "{:?}", String::from_utf8_lossy(l));
        }
        assert_eq!(entries(b"").count(), 0);
        assert_eq!(entries(b"\n\n\n").count(), 0);
        let mixed = b"garbage\n1 0 0:1 / / rw - rootfs rootfs rw\ntrunc 2 0:\n2 1 0:3 / /proc rw - proc proc rw";
        let ids: Vec<u32> = entries(mixed).map(|e| e.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn real_capture() {
        let text =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mountinfo/container.txt")).unwrap();
        let all: Vec<_> = entries(&text).collect();
        assert_eq!(all.len(), text.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count());
        let root = all.iter().find(|e| e.mount_point == b"/").unwrap();
        assert_eq!((root.fstype, root.source, root.major), (&b"ext4"[..], &b"/dev/vda"[..], 254));
        let spaced = all.iter().find(|e| e.fstype == b"squashfs").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(unescape(spaced.mount_point, &mut buf).unwrap(), b"/tmp/pf/mnt/a b");
        let tmpfs = all.iter().find(|e| e.source == b"my\\040src").unwrap();
        assert_eq!(unescape(tmpfs.source, &mut buf).unwrap(), b"my src");
        assert_eq!(spaced.parent_id, tmpfs.id);
        let bind = all.iter().find(|e| e.mount_point == b"/tmp/pf/mnt/tab\\011x/sub").unwrap();
        assert_eq!(bind.root, b"/tmp/pf/d");
        assert_eq!(unescape(bind.mount_point, &mut buf).unwrap(), b"/tmp/pf/mnt/tab\tx/sub");
        assert!(has_option(spaced.super_options, b"ro"));
        assert!(!has_option(root.super_options, b"ro"));
        // Newest first is the unmount order.
        let under: Vec<_> =
            all.iter().rev().filter(|e| is_under(e.mount_point, b"/tmp/pf/mnt")).map(|e| e.id).collect();
        assert_eq!(under, vec![46, 45, 44, 43, 42]);
    }

    /// The kernel escapes `,` too in overlayfs's options: the line must still parse and decode.
    #[test]
    fn real_overlay_line() {
        let text = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mountinfo/overlay-escaped.txt"))
            .unwrap();
        let e = entries(&text).next().unwrap();
        assert_eq!((e.fstype, e.source), (&b"overlay"[..], &b"overlay"[..]));
        let mut buf = [0u8; 256];
        let opts = unescape(e.super_options, &mut buf).unwrap();
        assert!(opts.starts_with(br"rw,lowerdir=/tmp/ov/l\:1:/tmp/ov/l\,2:"));
        assert!(has_option(e.super_options, b"uuid=on"));
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/mountinfo/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn plan_paths(text: &[u8]) -> (Vec<Node>, Vec<String>) {
        let mut out = [Node::default(); 64];
        let (n, _) = takedown_plan(text, &mut out);
        let paths = out[..n]
            .iter()
            .map(|m| String::from_utf8_lossy(entry_at(text, m.line).unwrap().mount_point).into_owned())
            .collect();
        (out[..n].to_vec(), paths)
    }

    #[test]
    fn kept_and_depth() {
        for p in [&b"/"[..], b"/proc", b"/proc/sys/fs/binfmt_misc", b"/sys", b"/sys/fs/cgroup", b"/dev", b"/dev/pts"] {
            assert!(kept_at_shutdown(p), "{:?}", String::from_utf8_lossy(p));
        }
        for p in [&b"/oldroot"[..], b"/oldroot/proc", b"/run", b"/devices", b"/memory/data"] {
            assert!(!kept_at_shutdown(p), "{:?}", String::from_utf8_lossy(p));
        }
        assert_eq!((depth(b"/"), depth(b"/oldroot"), depth(b"/oldroot/run/initramfs/")), (0, 1, 3));
        assert_eq!(depth(b"/a\\040b/c"), 2);
    }

    /// systemd's hand-back, captured in QEMU: deepest first, newest first among equals,
    /// parents after all their children, the root and its API mounts left alone.
    #[test]
    fn plan_of_systemd_hand_back() {
        let text = fixture("shutdown-systemd.txt");
        let (plan, paths) = plan_paths(&text);
        assert_eq!(plan.len(), entries(&text).count() - 4);
        assert_eq!(paths[0], "/oldroot/run/initramfs/memory/bundles/02-test.sb");
        assert_eq!(paths[1], "/oldroot/run/initramfs/memory/bundles/01-systemd.sb");
        assert_eq!(&paths[plan.len() - 2..], ["/run", "/oldroot"]);
        for w in plan.windows(2) {
            assert!(w[0].depth > w[1].depth || (w[0].depth == w[1].depth && w[0].line > w[1].line));
        }
        for (i, m) in plan.iter().enumerate() {
            assert!(!plan[i + 1..].iter().any(|c| c.parent_id == m.id), "{} before a child", paths[i]);
        }
        // The data device holds the initramfs' own mount up; the union's parent is kept.
        let at = |p: &str| paths.iter().position(|x| x == p).unwrap();
        assert!(blocks_parent(&plan, at("/oldroot/run/initramfs/memory/data")));
        assert!(!blocks_parent(&plan, at("/oldroot/run/initramfs")));
        assert!(!blocks_parent(&plan, at("/oldroot")));
        assert!(!blocks_parent(&plan, at("/run")));
        assert!(!blocks_parent(&plan, plan.len()));
    }

    /// After rdinit's own pivot (captured): /oldroot/run comes before /oldroot even though
    /// the file lists it first (it was moved there), and the API mounts stay.
    #[test]
    fn plan_after_own_pivot() {
        let text = fixture("shutdown-pivot-fat.txt");
        let (_, paths) = plan_paths(&text);
        assert_eq!(
            paths,
            ["/memory/bundles/01-busybox.sb", "/memory/changes", "/memory/data", "/oldroot/run", "/oldroot"]
        );
        // A plan longer than its buffer keeps the newest mounts of the file (the ones to go
        // first), still ordered, and says that some wait.
        let mut small = [Node::default(); 2];
        assert_eq!(takedown_plan(&text, &mut small), (2, true));
        let planned: Vec<_> = small.iter().map(|n| String::from_utf8_lossy(entry_at(&text, n.line).unwrap().mount_point).into_owned()).collect();
        assert_eq!(planned, ["/memory/changes", "/oldroot"]);
        assert_eq!(takedown_plan(b"", &mut small), (0, false));
        assert_eq!(takedown_plan(&text, &mut []), (0, true));
        assert!(entry_at(&text, 1 << 30).is_none());
    }

    #[test]
    fn unescaping() {
        let mut buf = [0u8; 16];
        assert_eq!(unescape(b"", &mut buf).unwrap(), b"");
        assert_eq!(unescape(b"a\\040b\\134c", &mut buf).unwrap(), b"a b\\c");
        assert_eq!(unescape(b"\\012", &mut buf).unwrap(), b"\n");
        // Not an escape: kept as is.
        assert_eq!(unescape(b"a\\09\\", &mut buf).unwrap(), b"a\\09\\");
        assert_eq!(unescape(b"\\400", &mut buf).unwrap(), b"\\400");
        assert_eq!(unescape(b"\\04", &mut buf).unwrap(), b"\\04");
        let mut small = [0u8; 3];
        assert_eq!(unescape(b"abcd", &mut small), None);
        assert_eq!(unescape(b"a\\040b", &mut small).unwrap(), b"a b");
        assert_eq!(unescape(b"x", &mut []), None);
    }

    #[test]
    fn under() {
        assert!(is_under(b"/oldroot", b"/oldroot"));
        assert!(is_under(b"/oldroot/x", b"/oldroot"));
        assert!(is_under(b"/oldroot/x", b"/oldroot/"));
        assert!(!is_under(b"/oldrootx", b"/oldroot"));
        assert!(!is_under(b"/old", b"/oldroot"));
        assert!(is_under(b"/anything", b"/"));
        assert!(is_under(b"/", b"/"));
        assert!(!is_under(b"relative", b"/"));
        assert!(is_under(b"/a", b""));
    }
}
