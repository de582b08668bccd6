//! The image as a tree of entries, and its newc cpio encoding.
//!
//! Entries are kept by path components, so iteration puts every directory before what it
//! holds; missing parents are added as 0755 root directories. The cpio is reproducible: one
//! mtime for every entry, inode numbers counted from 1 in that order, hard links sharing one
//! inode with the data on the last name (as gen_init_cpio and GNU cpio write them).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use cpio::newc::{self, ModeFileType};

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file; `links` are further names of the same inode.
    File {
        data: Data,
        links: Vec<String>,
    },
    /// A further name of the file at `to` (made from `File::links`).
    HardLink {
        to: String,
    },
    Symlink {
        target: String,
    },
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
}

impl Kind {
    fn word(&self) -> &'static str {
        match self {
            Kind::Dir => "directory",
            Kind::File { .. } => "file",
            Kind::HardLink { .. } => "hard link",
            Kind::Symlink { .. } => "symlink",
            Kind::CharDev { .. } => "character device",
            Kind::BlockDev { .. } => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// One entry: `path` is absolute and normalized (`/lib/modules`), `mode` the permission bits
/// (0..=0o7777), `origin` says who asked for it (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub kind: Kind,
    pub origin: String,
}

impl Entry {
    /// An entry owned by root.
    pub fn new(path: &str, mode: u32, kind: Kind, origin: &str) -> Result<Entry> {
        Ok(Entry {
            path: normalize_path(path)?,
            mode,
            uid: 0,
            gid: 0,
            kind,
            origin: origin.to_string(),
        })
    }

    pub fn dir(path: &str, mode: u32, origin: &str) -> Result<Entry> {
        Ok(Entry {
            path: normalize_path(path)?,
            mode,
            uid: 0,
            gid: 0,
            kind: Kind::Dir,
            origin: origin.to_string(),
        })
    }

    pub fn file(path: &str, mode: u32, data: Data, origin: &str) -> Result<Entry> {
        Ok(Entry {
            path: normalize_path(path)?,
            mode,
            uid: 0,
            gid: 0,
            kind: Kind::File {
                data,
                links: Vec::new(),
            },
            origin: origin.to_string(),
        })
    }
}

/// `a//b/` and `a/./b` become `/a/b`; `..`, the root itself and NUL are refused.
pub fn normalize_path(path: &str) -> Result<String> {
    if path.contains('\0') {
        bail!("path contains NUL");
    }
    let mut out = String::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => bail!("'..' is not allowed in image paths"),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        bail!("the root directory itself cannot be an entry");
    }
    Ok(out)
}

fn key(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Who added an entry: defaults may be replaced by what the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A parent directory nobody named.
    Implicit,
    /// rdinit-pack's own layout (/init, /dev/console, /proc, module metadata …).
    Default,
    /// --file, --list, --busybox.
    User,
}

#[derive(Clone, Debug)]
struct Slot {
    entry: Entry,
    priority: Priority,
}

#[derive(Default)]
pub struct Image {
    slots: BTreeMap<Vec<String>, Slot>,
    /// Things worth telling the user (replaced defaults).
    pub notes: Vec<String>,
}

/// What writing produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub entries: usize,
    pub bytes: u64,
}

impl Image {
    pub fn new() -> Image {
        Image::default()
    }

    /// Adds an entry (and, for a file with hard links, its further names).
    pub fn add(&mut self, entry: Entry, priority: Priority) -> Result<()> {
        let mut extra = Vec::new();
        if let Kind::File { links, .. } = &entry.kind {
            for link in links {
                extra.push(Entry {
                    path: link.clone(),
                    kind: Kind::HardLink {
                        to: entry.path.clone(),
                    },
                    ..entry.clone()
                });
            }
        }
        self.add_one(entry, priority)?;
        for e in extra {
            self.add_one(e, priority)?;
        }
        Ok(())
    }

    fn add_one(&mut self, entry: Entry, priority: Priority) -> Result<()> {
        let k = key(&entry.path);
        if let Some(old) = self.slots.get(&k) {
            // The same thing asked for twice is no conflict.
            let same = old.entry.kind == entry.kind
                && (old.entry.mode, old.entry.uid, old.entry.gid)
                    == (entry.mode, entry.uid, entry.gid);
            if same && old.priority >= priority {
                return Ok(());
            }
            if old.priority == priority && !same {
                bail!(
                    "'{}' is added twice: as a {} by {} and as a {} by {}",
                    entry.path,
                    old.entry.kind.word(),
                    old.entry.origin,
                    entry.kind.word(),
                    entry.origin
                );
            }
            let (user, default) = if old.priority > priority {
                (&old.entry, &entry)
            } else {
                (&entry, &old.entry)
            };
            if !same
                && old.priority.max(priority) == Priority::User
                && old.priority.min(priority) == Priority::Default
            {
                self.notes.push(format!(
                    "'{}' from {} replaces the default {} ({})",
                    user.path,
                    user.origin,
                    default.kind.word(),
                    default.origin
                ));
            }
            if old.priority > priority {
                return Ok(());
            }
        }
        self.slots.insert(k, Slot { entry, priority });
        Ok(())
    }

    /// Adds missing parent directories and checks that every parent is a directory and every
    /// hard link points at a file.
    pub fn finish(&mut self) -> Result<()> {
        let mut missing: BTreeMap<Vec<String>, String> = BTreeMap::new();
        for (k, slot) in &self.slots {
            for n in 1..k.len() {
                let parent = &k[..n];
                match self.slots.get(parent) {
                    None => {
                        missing
                            .entry(parent.to_vec())
                            .or_insert_with(|| slot.entry.path.clone());
                    }
                    Some(p) if p.entry.kind != Kind::Dir => bail!(
                        "'{}' (from {}) needs '/{}' to be a directory, but it is a {} from {}",
                        slot.entry.path,
                        slot.entry.origin,
                        parent.join("/"),
                        p.entry.kind.word(),
                        p.entry.origin
                    ),
                    Some(_) => {}
                }
            }
            if let Kind::HardLink { to } = &slot.entry.kind {
                match self.slots.get(&key(to)) {
                    Some(t) if matches!(t.entry.kind, Kind::File { .. }) => {}
                    _ => bail!(
                        "hard link '{}' (from {}) has lost its file '{to}'",
                        slot.entry.path,
                        slot.entry.origin
                    ),
                }
            }
        }
        for (k, child) in missing {
            let path = format!("/{}", k.join("/"));
            self.slots.insert(
                k,
                Slot {
                    entry: Entry {
                        path,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        kind: Kind::Dir,
                        origin: format!("parent of {child}"),
                    },
                    priority: Priority::Implicit,
                },
            );
        }
        Ok(())
    }

    /// Entries, parents before children.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.values().map(|s| &s.entry)
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.slots.get(&key(path)).map(|s| &s.entry)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Writes the newc archive (trailer included, padded to 512 bytes like gen_init_cpio).
    pub fn write_cpio<W: Write>(&self, out: W, mtime: u32) -> Result<Written> {
        let mut out = Counter::new(out);
        // Hard-link groups: the file's path -> (inode, members in archive order).
        let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
        for e in self.entries() {
            match &e.kind {
                Kind::File { links, .. } if !links.is_empty() => {
                    groups.entry(&e.path).or_default().push(&e.path)
                }
                Kind::HardLink { to } => groups.entry(to).or_default().push(&e.path),
                _ => {}
            }
        }
        let mut group_ino: HashMap<&str, u32> = HashMap::new();
        let mut next_ino = 1u32;
        let mut count = 0;
        for e in self.entries() {
            let group = match &e.kind {
                Kind::File { .. } => groups.get(e.path.as_str()).map(|_| e.path.as_str()),
                Kind::HardLink { to } => Some(to.as_str()),
                _ => None,
            };
            let ino = match group {
                Some(g) => *group_ino.entry(g).or_insert_with(|| {
                    next_ino += 1;
                    next_ino - 1
                }),
                None => {
                    next_ino += 1;
                    next_ino - 1
                }
            };
            let (nlink, carries_data) = match group {
                Some(g) => {
                    let members = &groups[g];
                    (
                        members.len() as u32,
                        members.last() == Some(&e.path.as_str()),
                    )
                }
                None if e.kind == Kind::Dir => (2, false),
                None => (1, true),
            };
            let (file_type, rdev) = match &e.kind {
                Kind::Dir => (ModeFileType::Directory, (0, 0)),
                Kind::File { .. } | Kind::HardLink { .. } => (ModeFileType::Regular, (0, 0)),
                Kind::Symlink { .. } => (ModeFileType::Symlink, (0, 0)),
                Kind::CharDev { major, minor } => (ModeFileType::Char, (*major, *minor)),
                Kind::BlockDev { major, minor } => (ModeFileType::Block, (*major, *minor)),
                Kind::Fifo => (ModeFileType::Fifo, (0, 0)),
                Kind::Socket => (ModeFileType::Socket, (0, 0)),
            };
            let builder = newc::Builder::new(&e.path[1..])
                .ino(ino)
                .mode(e.mode & 0o7777)
                .set_mode_file_type(file_type)
                .uid(e.uid)
                .gid(e.gid)
                .nlink(nlink)
                .mtime(mtime)
                .rdev_major(rdev.0)
                .rdev_minor(rdev.1);
            let data = if carries_data {
                match &e.kind {
                    Kind::File { data, .. } => Some(data),
                    Kind::HardLink { to } => match &self.get(to).map(|t| &t.kind) {
                        Some(Kind::File { data, .. }) => Some(data),
                        _ => unreachable!("checked by finish"),
                    },
                    _ => None,
                }
            } else {
                None
            };
            match (&e.kind, data) {
                (Kind::Symlink { target }, _) => {
                    let len = size32(target.len() as u64, &e.path)?;
                    let mut w = builder.write(&mut out, len);
                    w.write_all(target.as_bytes())?;
                    w.finish()?;
                }
                (_, Some(Data::Bytes(bytes))) => {
                    let len = size32(bytes.len() as u64, &e.path)?;
                    let mut w = builder.write(&mut out, len);
                    w.write_all(bytes)?;
                    w.finish()?;
                }
                (_, Some(Data::Host(src))) => {
                    let file = File::open(src).with_context(|| {
                        format!(
                            "cannot read {} (for '{}', from {})",
                            src.display(),
                            e.path,
                            e.origin
                        )
                    })?;
                    let len = file.metadata()?.len();
                    let len32 = size32(len, &e.path)?;
                    let mut w = builder.write(&mut out, len32);
                    let copied = io::copy(&mut file.take(len), &mut w).with_context(|| {
                        format!("cannot read {} (for '{}')", src.display(), e.path)
                    })?;
                    if copied != len {
                        bail!("{} changed size while being read", src.display());
                    }
                    w.finish()?;
                }
                (_, None) => {
                    builder.write(&mut out, 0).finish()?;
                }
            }
            count += 1;
        }
        newc::trailer(&mut out)?;
        let pad = (512 - out.count % 512) % 512;
        out.write_all(&vec![0; pad as usize])?;
        out.flush()?;
        Ok(Written {
            entries: count,
            bytes: out.count,
        })
    }
}

fn size32(len: u64, path: &str) -> Result<u32> {
    u32::try_from(len)
        .map_err(|_| anyhow!("'{path}' is {len} bytes; newc cpio holds at most 4 GiB - 1 per file"))
}

/// A writer that counts what passes through it.
pub struct Counter<W> {
    pub inner: W,
    pub count: u64,
}

impl<W> Counter<W> {
    pub fn new(inner: W) -> Counter<W> {
        Counter { inner, count: 0 }
    }
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// (name, mode, ino, nlink, mtime, rdev, data) of each member.
    type Member = (String, u32, u32, u32, u32, (u32, u32), Vec<u8>);

    pub(crate) fn read_back(mut archive: &[u8]) -> Vec<Member> {
        let mut out = Vec::new();
        loop {
            let mut r = newc::Reader::new(archive).unwrap();
            if r.entry().is_trailer() {
                break;
            }
            let e = r.entry().clone();
            let mut data = Vec::new();
            r.read_to_end(&mut data).unwrap();
            out.push((
                e.name().to_string(),
                e.mode(),
                e.ino(),
                e.nlink(),
                e.mtime(),
                (e.rdev_major(), e.rdev_minor()),
                data,
            ));
            archive = r.finish().unwrap();
        }
        out
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_path("a//b/./c/").unwrap(), "/a/b/c");
        assert_eq!(normalize_path("/init").unwrap(), "/init");
        assert!(normalize_path("/").is_err());
        assert!(normalize_path("a/../b").is_err());
    }

    #[test]
    fn parents_first_sequential_inodes_and_hard_links() {
        let mut img = Image::new();
        img.add(
            Entry {
                kind: Kind::File {
                    data: Data::Bytes(b"hello".to_vec()),
                    links: vec!["/a/z".into(), "/b".into()],
                },
                ..Entry::file("/a/b/c", 0o644, Data::Bytes(vec![]), "t").unwrap()
            },
            Priority::User,
        )
        .unwrap();
        img.add(
            Entry {
                kind: Kind::CharDev { major: 5, minor: 1 },
                ..Entry::dir("/dev/console", 0o600, "t").unwrap()
            },
            Priority::Default,
        )
        .unwrap();
        img.add(
            Entry {
                kind: Kind::Symlink {
                    target: "b/c".into(),
                },
                ..Entry::dir("/a-b", 0o777, "t").unwrap()
            },
            Priority::User,
        )
        .unwrap();
        img.finish().unwrap();
        let mut buf = Vec::new();
        let w = img.write_cpio(&mut buf, 1234).unwrap();
        assert_eq!(w.bytes as usize, buf.len());
        assert_eq!(buf.len() % 512, 0);
        let got = read_back(&buf);
        let names: Vec<&str> = got.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(
            names,
            ["a", "a/b", "a/b/c", "a/z", "a-b", "b", "dev", "dev/console"]
        );
        let inos: Vec<u32> = got.iter().map(|m| m.2).collect();
        assert_eq!(inos, [1, 2, 3, 3, 4, 3, 5, 6]);
        assert!(got.iter().all(|m| m.4 == 1234));
        // The hard-link group: nlink 3, data on the last name only.
        assert_eq!((got[2].3, got[2].6.len()), (3, 0));
        assert_eq!((got[3].3, got[3].6.len()), (3, 0));
        assert_eq!((got[5].3, got[5].6.as_slice()), (3, &b"hello"[..]));
        assert_eq!(got[0].1, 0o040755);
        assert_eq!(got[2].1, 0o100644);
        assert_eq!((got[4].1, got[4].6.as_slice()), (0o120777, &b"b/c"[..]));
        assert_eq!((got[7].1, got[7].5), (0o020600, (5, 1)));
    }

    #[test]
    fn conflicts() {
        let mut img = Image::new();
        img.add(
            Entry::dir("/dev", 0o755, "default").unwrap(),
            Priority::Default,
        )
        .unwrap();
        // A user directory replaces the default one.
        img.add(Entry::dir("/dev", 0o700, "l:1").unwrap(), Priority::User)
            .unwrap();
        assert_eq!(img.get("/dev").unwrap().mode, 0o700);
        // The same directory twice is fine; a different one is not.
        img.add(Entry::dir("/dev", 0o700, "l:2").unwrap(), Priority::User)
            .unwrap();
        let e = img
            .add(Entry::dir("/dev", 0o755, "l:3").unwrap(), Priority::User)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "'/dev' is added twice: as a directory by l:1 and as a directory by l:3"
        );
        // A file where a directory is needed.
        img.add(
            Entry::file("/lib", 0o644, Data::Bytes(vec![]), "l:4").unwrap(),
            Priority::User,
        )
        .unwrap();
        img.add(
            Entry::file("/lib/x", 0o644, Data::Bytes(vec![]), "l:5").unwrap(),
            Priority::User,
        )
        .unwrap();
        let e = img.finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "'/lib/x' (from l:5) needs '/lib' to be a directory, but it is a file from l:4"
        );
    }
}
