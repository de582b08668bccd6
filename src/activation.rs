//! What a bundle activation added to `/`, and its removal: the `bundle` role writes the
//! record and removes what it lists at deactivation, the live boot removes what a previous
//! boot's activations left in persistent changes. A floor below `stage/` and `role/`.
//!
//! The record is `memory/changes/activated/NAME`: on the changes layer (so it lives as long
//! as what it lists) but outside overlayfs's upper dir (so it is not in `/`). It is a list of
//! NUL-ended entries, each a kind byte and a path: [`SOURCE`] the bundle file as given,
//! then in creation order [`DIR`] a directory made and [`LINK`] a link made to
//! `/run/initramfs/memory/bundles/NAME/PATH`. Each entry is written before its addition is
//! made, so that no crash leaves an addition unrecorded; an entry whose addition was never
//! made finds nothing to remove.
use crate::sys::fs::{self, Fd, AT_REMOVEDIR};
use crate::sys::Errno;
use crate::tree::{TreePath, PATH_MAX};
use core::ffi::CStr;

/// The records' directory, below `memory/`.
pub const RECORDS: &[u8] = b"changes/activated/";
/// The bundle file the record is of.
pub const SOURCE: u8 = b'S';
/// A directory made (the bundle's mode and owner).
pub const DIR: u8 = b'D';
/// A symlink made to the bundle's entry.
pub const LINK: u8 = b'L';

/// Where the links point: the bundles' mount points as the running system sees them.
const BUNDLES: &[u8] = b"/run/initramfs/memory/bundles/";

/// The targets of bundle NAME's links: `/run/initramfs/memory/bundles/NAME/` and a path.
pub struct Links {
    buf: TreePath,
    prefix: usize,
}

impl Links {
    pub fn new(name: &[u8]) -> Links {
        let mut buf = TreePath::new();
        // A file name (at most 255 bytes) fits.
        let _ = buf.push(BUNDLES).and_then(|b| b.push(name)).and_then(|b| b.push(b"/"));
        Links { prefix: buf.len(), buf }
    }

    /// The target of the link for the bundle's entry `path`.
    pub fn target(&mut self, path: &[u8]) -> Result<&CStr, Errno> {
        self.buf.truncate(self.prefix);
        self.buf.push(path).map(|b| b.as_cstr())
    }
}

/// The record's complete entries (kind, path), newest first: a write cut short by a full
/// disk leaves a last entry without its NUL, whose addition was never made.
pub fn entries_newest_first(record: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    // Each step takes the entry that ends at the last NUL left.
    let mut rest = Some(&record[..record.iter().rposition(|&b| b == 0).unwrap_or(0)]);
    core::iter::from_fn(move || loop {
        let r = rest?;
        let start = r.iter().rposition(|&b| b == 0);
        rest = start.map(|s| &r[..s]);
        if let Some((&kind, path)) = r[start.map_or(0, |s| s + 1)..].split_first() {
            return Some((kind, path));
        }
    })
}

/// Removes what activation of bundle `name` added to `/` according to `record`, newest
/// first (so a directory after what was made in it): a link only while it still points where
/// activation made it point, a directory only when empty (something else put there stays,
/// and so does its directory). How many were removed. Going through overlayfs, a removal
/// where a lower layer has the path leaves a whiteout: a file deleted before the activation
/// stays deleted.
pub fn remove_added(name: &[u8], record: &[u8]) -> u32 {
    let mut links = Links::new(name);
    let (mut path, mut link) = (TreePath::new(), [0u8; PATH_MAX]);
    let mut removed = 0;
    for (kind, entry) in entries_newest_first(record) {
        path.truncate(0);
        let Ok(p) = path.push(b"/").and_then(|p| p.push(entry)) else { continue };
        let p = p.as_cstr();
        // A directory that holds something else now stays (ENOTEMPTY), as does a link
        // that points elsewhere now.
        let gone = if kind == DIR {
            fs::unlinkat(Fd::CWD, p, AT_REMOVEDIR).is_ok()
        } else {
            kind == LINK
                && links.target(entry).is_ok_and(|t| fs::readlinkat(Fd::CWD, p, &mut link).is_ok_and(|l| l == t.to_bytes()))
                && fs::unlinkat(Fd::CWD, p, 0).is_ok()
        };
        removed += gone as u32;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_newest_first_and_a_cut_entry_is_dropped() {
        let record = b"S/tmp/x.sb\0Dusr/share/x\0Lusr/share/x/a\0Lusr/bin/x\0Lusr/bi";
        let got: Vec<(u8, &[u8])> = entries_newest_first(record).collect();
        assert_eq!(got, vec![(LINK, &b"usr/bin/x"[..]), (LINK, b"usr/share/x/a"), (DIR, b"usr/share/x"), (SOURCE, b"/tmp/x.sb")]);
    }

    #[test]
    fn empty_and_unended_records_have_no_entries() {
        assert_eq!(entries_newest_first(b"").count(), 0);
        assert_eq!(entries_newest_first(b"S/tmp/x.sb").count(), 0);
        assert_eq!(entries_newest_first(b"\0\0").count(), 0);
    }

    #[test]
    fn link_targets_name_the_bundle_mount() {
        let mut links = Links::new(b"x.sb");
        assert_eq!(links.target(b"usr/bin/x").ok().unwrap().to_bytes(), b"/run/initramfs/memory/bundles/x.sb/usr/bin/x");
        assert!(links.target(&[b'a'; PATH_MAX]).is_err());
        assert_eq!(links.target(b"a").ok().unwrap().to_bytes(), b"/run/initramfs/memory/bundles/x.sb/a");
    }
}
