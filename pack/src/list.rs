//! The kernel's `gen_init_cpio` list format (usr/gen_init_cpio.c), read and written.
//!
//! ```text
//! # a comment
//! file <name> <location> <mode> <uid> <gid> [<hard links>]
//! dir <name> <mode> <uid> <gid>
//! nod <name> <mode> <uid> <gid> <dev_type> <maj> <min>
//! slink <name> <target> <mode> <uid> <gid>
//! pipe <name> <mode> <uid> <gid>
//! sock <name> <mode> <uid> <gid>
//! ```
//!
//! Modes are octal permission bits (the type comes from the keyword). Like gen_init_cpio, a
//! `file` location expands `${VAR}` from the environment (unset = empty) and a relative
//! location is relative to the current directory. Unlike it, this parser is strict: extra
//! fields, a mode outside 0..=07777 and a device type other than `b`/`c` are errors.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::image::{normalize_path, Data, Entry, Kind};

/// Parses list text. `origin` names the list in messages and in each entry's origin
/// (`origin:LINE`). Errors read `origin:LINE: message`.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let at = format!("{origin}:{line_no}");
        match parse_line(line).with_context(|| at.clone())? {
            Some(mut entry) => {
                entry.origin = at;
                entries.push(entry);
            }
            None => continue,
        }
    }
    Ok(entries)
}

/// Reads and parses a list file; messages name the file as given.
pub fn parse_file(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read list {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

fn parse_line(line: &str) -> Result<Option<Entry>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let trimmed = line.trim_start_matches([' ', '\t']);
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = trimmed
        .split([' ', '\t'])
        .filter(|f| !f.is_empty())
        .collect();
    let (ty, args) = (fields[0], &fields[1..]);
    let usage = match ty {
        "file" => "file <name> <location> <mode> <uid> <gid> [<hard links>]",
        "dir" => "dir <name> <mode> <uid> <gid>",
        "nod" => "nod <name> <mode> <uid> <gid> <dev_type> <maj> <min>",
        "slink" => "slink <name> <target> <mode> <uid> <gid>",
        "pipe" => "pipe <name> <mode> <uid> <gid>",
        "sock" => "sock <name> <mode> <uid> <gid>",
        _ => bail!("unknown type '{ty}' (expected file, dir, nod, slink, pipe or sock)"),
    };
    let want = usage
        .split('[')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .count()
        - 1;
    let too_few = args.len() < want;
    let too_many = ty != "file" && args.len() > want;
    if too_few || too_many {
        bail!(
            "'{ty}' takes {want} fields, got {}: expected `{usage}`",
            args.len()
        );
    }
    let name = path_field(args[0])?;
    let entry = |mode: u32, uid: u32, gid: u32, kind: Kind| Entry {
        path: name.clone(),
        mode,
        uid,
        gid,
        kind,
        origin: String::new(),
    };
    Ok(Some(match ty {
        "file" => {
            let location = expand_env(args[1]);
            if location.is_empty() {
                bail!("empty location for '{}'", args[0]);
            }
            let links = args[5..]
                .iter()
                .map(|l| path_field(l))
                .collect::<Result<Vec<_>>>()?;
            entry(
                mode_field(args[2])?,
                id_field(args[3], "uid")?,
                id_field(args[4], "gid")?,
                Kind::File {
                    data: Data::Host(PathBuf::from(location)),
                    links,
                },
            )
        }
        "dir" | "pipe" | "sock" => {
            let kind = match ty {
                "dir" => Kind::Dir,
                "pipe" => Kind::Fifo,
                _ => Kind::Socket,
            };
            entry(
                mode_field(args[1])?,
                id_field(args[2], "uid")?,
                id_field(args[3], "gid")?,
                kind,
            )
        }
        "nod" => {
            let major = num_field(args[5], "major")?;
            let minor = num_field(args[6], "minor")?;
            let kind = match args[4] {
                "c" => Kind::CharDev { major, minor },
                "b" => Kind::BlockDev { major, minor },
                other => bail!("invalid device type '{other}' (expected b or c)"),
            };
            entry(
                mode_field(args[1])?,
                id_field(args[2], "uid")?,
                id_field(args[3], "gid")?,
                kind,
            )
        }
        "slink" => entry(
            mode_field(args[2])?,
            id_field(args[3], "uid")?,
            id_field(args[4], "gid")?,
            Kind::Symlink {
                target: args[1].to_string(),
            },
        ),
        _ => unreachable!(),
    }))
}

fn path_field(s: &str) -> Result<String> {
    normalize_path(s).with_context(|| format!("invalid name '{s}'"))
}

fn mode_field(s: &str) -> Result<u32> {
    let mode = u32::from_str_radix(s, 8)
        .ok()
        .filter(|_| !s.starts_with('+'))
        .with_context(|| format!("invalid mode '{s}' (expected octal, like 0755)"))?;
    if mode > 0o7777 {
        bail!(
            "mode '{s}' out of range (permission bits 0000-7777; the type comes from the keyword)"
        );
    }
    Ok(mode)
}

fn id_field(s: &str, what: &str) -> Result<u32> {
    s.parse::<u32>()
        .ok()
        .filter(|_| !s.starts_with('+'))
        .with_context(|| format!("invalid {what} '{s}' (expected a decimal number)"))
}

fn num_field(s: &str, what: &str) -> Result<u32> {
    s.parse::<u32>()
        .ok()
        .filter(|_| !s.starts_with('+'))
        .with_context(|| format!("invalid {what} number '{s}'"))
}

/// gen_init_cpio's `${VAR}` expansion of file locations; an unset variable expands to nothing.
fn expand_env(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let var = &rest[start + 2..start + 2 + len];
        out.push_str(&std::env::var(var).unwrap_or_default());
        rest = &rest[start + 2 + len + 1..];
    }
    out.push_str(rest);
    out
}

/// One line of list output for an entry; `location` is where a file's data lives on the host
/// (ignored for other kinds). Fails for names the format cannot carry (whitespace).
pub fn format_entry(entry: &Entry, location: Option<&Path>) -> Result<String> {
    let word = |s: &str, what: &str| -> Result<()> {
        if s.is_empty() || s.contains(char::is_whitespace) {
            bail!(
                "{what} '{s}' of '{}' cannot be written in gen_init_cpio list format (empty or has whitespace)",
                entry.path
            );
        }
        Ok(())
    };
    word(&entry.path, "name")?;
    let ids = format!("{:04o} {} {}", entry.mode, entry.uid, entry.gid);
    let line = match &entry.kind {
        Kind::Dir => format!("dir {} {ids}", entry.path),
        Kind::Fifo => format!("pipe {} {ids}", entry.path),
        Kind::Socket => format!("sock {} {ids}", entry.path),
        Kind::CharDev { major, minor } => format!("nod {} {ids} c {major} {minor}", entry.path),
        Kind::BlockDev { major, minor } => format!("nod {} {ids} b {major} {minor}", entry.path),
        Kind::Symlink { target } => {
            word(target, "symlink target")?;
            format!("slink {} {target} {ids}", entry.path)
        }
        Kind::File { links, data } => {
            let location = match (location, data) {
                (Some(l), _) => l,
                (None, Data::Host(p)) => p.as_path(),
                (None, Data::Bytes(_)) => bail!("no location for '{}'", entry.path),
            };
            let location = location
                .to_str()
                .with_context(|| format!("location of '{}' is not UTF-8", entry.path))?;
            word(location, "location")?;
            if location.contains("${") {
                bail!(
                    "location '{location}' of '{}' contains '${{', which gen_init_cpio would expand",
                    entry.path
                );
            }
            let mut line = format!("file {} {location} {ids}", entry.path);
            for link in links {
                word(link, "hard link")?;
                let _ = write!(line, " {link}");
            }
            line
        }
        Kind::HardLink { .. } => bail!("hard link '{}' is written with its file", entry.path),
    };
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Entry {
        let mut v = parse(line, "t").unwrap();
        assert_eq!(v.len(), 1, "{line}");
        v.remove(0)
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, "list.txt").unwrap_err())
    }

    #[test]
    fn good_lines() {
        let e = one("file /sbin/kinit /usr/src/kinit 0755 0 0");
        assert_eq!(e.path, "/sbin/kinit");
        assert_eq!(e.mode, 0o755);
        assert_eq!(
            e.kind,
            Kind::File {
                data: Data::Host("/usr/src/kinit".into()),
                links: vec![]
            }
        );
        assert_eq!(e.origin, "t:1");

        let e = one("file /bin/a ./a 4755 1 2 /bin/b  /sbin/c");
        assert_eq!((e.mode, e.uid, e.gid), (0o4755, 1, 2));
        assert_eq!(
            e.kind,
            Kind::File {
                data: Data::Host("./a".into()),
                links: vec!["/bin/b".into(), "/sbin/c".into()]
            }
        );

        let e = one("dir /dev 755 0 0");
        assert_eq!(
            (e.path.as_str(), e.mode, e.kind.clone()),
            ("/dev", 0o755, Kind::Dir)
        );
        // gen_init_cpio strips a leading '/', so names without one are the same names.
        assert_eq!(one("dir root 0700 0 0").path, "/root");

        let e = one("nod /dev/console 0600 0 0 c 5 1");
        assert_eq!(e.kind, Kind::CharDev { major: 5, minor: 1 });
        assert_eq!(e.mode, 0o600);
        let e = one("nod /dev/sda\t0660 0 6 b 8 0");
        assert_eq!(e.kind, Kind::BlockDev { major: 8, minor: 0 });
        assert_eq!(e.gid, 6);

        let e = one("slink /bin/sh busybox 0777 0 0");
        assert_eq!(
            e.kind,
            Kind::Symlink {
                target: "busybox".into()
            }
        );
        assert_eq!(one("pipe /run/fifo 0644 0 0").kind, Kind::Fifo);
        assert_eq!(one("sock /run/sock 0644 0 0").kind, Kind::Socket);
    }

    #[test]
    fn comments_blank_lines_and_line_numbers() {
        let text =
            "# header\n\n   \n\t# indented comment\r\ndir /a 0755 0 0\r\n\ndir /a/b 0700 0 0\n";
        let v = parse(text, "x.list").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].origin, "x.list:5");
        assert_eq!(v[1].origin, "x.list:7");
        assert_eq!(v[1].mode, 0o700);
    }

    #[test]
    fn env_expansion_in_location() {
        std::env::set_var("RDINIT_PACK_TEST_DIR", "/opt/x");
        let e = one("file /a ${RDINIT_PACK_TEST_DIR}/bin/a${RDINIT_PACK_TEST_UNSET_VAR} 0755 0 0");
        assert_eq!(
            e.kind,
            Kind::File {
                data: Data::Host("/opt/x/bin/a".into()),
                links: vec![]
            }
        );
    }

    #[test]
    fn bad_lines_name_their_line() {
        let ok = "# fine\ndir /a 0755 0 0\n";
        let cases = [
            ("foo /x 0755 0 0", "unknown type 'foo'"),
            ("dir /x 0755 0", "'dir' takes 4 fields, got 3"),
            ("dir /x 0755 0 0 extra", "'dir' takes 4 fields, got 5"),
            ("file /x /y 0755 0", "'file' takes 5 fields, got 4"),
            ("nod /dev/x 0600 0 0 c 5", "'nod' takes 7 fields, got 6"),
            ("slink /x", "'slink' takes 5 fields, got 1"),
            ("pipe /p 0644 0 0 0", "'pipe' takes 4 fields, got 5"),
            ("sock /s 0644 0", "'sock' takes 4 fields, got 3"),
            ("dir /x 0789 0 0", "invalid mode '0789'"),
            ("dir /x rwx 0 0", "invalid mode 'rwx'"),
            ("dir /x 100755 0 0", "mode '100755' out of range"),
            ("dir /x 0755 root 0", "invalid uid 'root'"),
            ("dir /x 0755 0 -1", "invalid gid '-1'"),
            ("nod /dev/x 0600 0 0 x 5 1", "invalid device type 'x'"),
            (
                "nod /dev/x 0600 0 0 c five 1",
                "invalid major number 'five'",
            ),
            ("nod /dev/x 0600 0 0 c 5 1x", "invalid minor number '1x'"),
            ("dir /a/../b 0755 0 0", "invalid name '/a/../b'"),
            ("dir / 0755 0 0", "invalid name '/'"),
            ("file /x /y 0755 0 0 /z/.. ", "invalid name '/z/..'"),
            (
                "file /x ${RDINIT_PACK_TEST_UNSET_VAR} 0755 0 0",
                "empty location",
            ),
        ];
        for (line, want) in cases {
            let msg = err(&format!("{ok}{line}\n"));
            let want = format!("list.txt:3: {want}");
            assert!(
                msg.starts_with(&want),
                "for {line:?}: got {msg:?}, want {want:?}"
            );
        }
        assert_eq!(
            err("foo bar"),
            "list.txt:1: unknown type 'foo' (expected file, dir, nod, slink, pipe or sock)"
        );
    }

    #[test]
    fn round_trip() {
        let text = "\
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/sda 0660 0 6 b 8 0
dir /bin 0755 0 0
file /bin/busybox /usr/lib/busybox 4755 0 0 /bin/ls /bin/cat
slink /bin/sh busybox 0777 0 0
pipe /run/fifo 0644 1000 1000
sock /run/sock 0600 0 0
";
        let entries = parse(text, "a").unwrap();
        let written: String = entries
            .iter()
            .map(|e| format_entry(e, None).unwrap() + "\n")
            .collect();
        assert_eq!(written, text);
        let again = parse(&written, "a").unwrap();
        assert_eq!(again, entries);
    }

    #[test]
    fn unwritable_names_are_refused() {
        let mut e = one("dir /a 0755 0 0");
        e.path = "/a b".into();
        assert!(format_entry(&e, None)
            .unwrap_err()
            .to_string()
            .contains("whitespace"));
        let e = one("file /a /x 0755 0 0");
        let msg = format_entry(&e, Some(Path::new("/h/${X}")))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("would expand"), "{msg}");
    }
}
