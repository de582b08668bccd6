//! `/proc/self/mountinfo`, for the shutdown role's unmount passes and for sanity checks
//! before switching root. Fields stay raw (octal-escaped) until [`unescape`] is asked.
//!
//! Line format (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE
//! SOURCE SUPER_OPTIONS`.

use super::bytes::strip_prefix;
use super::cmdline::parse_u32;

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
    let mut f = line.split(|&c| c == b' ' || c == b'\n').filter(|s| !s.is_empty());
    let id = parse_u32(f.next()?)?;
    let parent_id = parse_u32(f.next()?)?;
    let dev = f.next()?;
    let colon = dev.iter().position(|&c| c == b':')?;
    let major = parse_u32(dev.get(..colon)?)?;
    let minor = parse_u32(dev.get(colon + 1..)?)?;
    let (root, mount_point, options) = (f.next()?, f.next()?, f.next()?);
    // Optional fields (`shared:1`, `master:2`, …) run up to a lone `-`.
    f.find(|s| *s == b"-")?;
    let (fstype, source, super_options) = (f.next()?, f.next()?, f.next()?);
    Some(MountEntry { id, parent_id, major, minor, root, mount_point, options, fstype, source, super_options })
}

/// The well-formed entries of a mountinfo text, in file order (oldest mount first);
/// garbled lines are skipped, so one bad line cannot stop a shutdown.
pub fn entries(text: &[u8]) -> impl Iterator<Item = MountEntry<'_>> {
    text.split(|&c| c == b'\n').filter_map(parse_line)
}

/// Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash) into `out`;
/// `None` if `out` is too small. A backslash not followed by three octal digits is kept.
pub fn unescape<'o>(raw: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut n = 0;
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let octal = raw.get(i + 1..i + 4).and_then(|d| {
            d.iter().try_fold(0u32, |v, &x| (b'0'..=b'7').contains(&x).then(|| v * 8 + u32::from(x - b'0')))
        });
        let (byte, used) = match (c, octal.and_then(|v| u8::try_from(v).ok())) {
            (b'\\', Some(b)) => (b, 4),
            _ => (c, 1),
        };
        *out.get_mut(n)? = byte;
        n += 1;
        i += used;
    }
    out.get(..n)
}

/// Whether a comma-separated option list holds `name` exactly (`ro`, not `errors=remount-ro`).
pub fn has_option(list: &[u8], name: &[u8]) -> bool {
    list.split(|&c| c == b',').any(|o| o == name)
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
