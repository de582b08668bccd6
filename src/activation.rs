//! What a bundle activation added to `/`, and its removal: the `bundle` role writes the
//! record and removes what it lists at deactivation, the live boot removes what a previous
//! boot's activations left in persistent changes. A floor below `stage/` and `role/`.
//!
//! The record is `memory/changes/activated/NAME`: on the changes layer (so it lives as long
//! as what it lists) but outside overlayfs's upper dir (so it is not in `/`). It is a list of
//! NUL-ended entries, each a kind byte and a path: [`SOURCE`] the bundle file as given,
//! then in creation order [`DIR`] a directory made and [`LINK`] a link made into
//! `/run/initramfs/memory/bundles/NAME/`. A path is where the addition really is (its
//! directory resolved, without the leading `/`): through a link such as merged /usr's
//! `lib -> usr/lib` it is `usr/lib/...`, so the same path names it in `/` and in overlayfs's
//! upper directory, where the next boot finds it. Each entry is written before its addition
//! is made, so that no crash leaves an addition unrecorded; an entry whose addition was
//! never made finds nothing to remove.
use crate::sys::cstr::until_nul;
use crate::sys::fs::{self, Fd, Mapping, AT_REMOVEDIR, O_DIRECTORY, O_PATH};
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

    /// Does a link to `target` point into the bundle?
    fn points_into(&self, target: &[u8]) -> bool {
        target.starts_with(&self.buf.as_bytes()[..self.prefix])
    }
}

/// The record's complete entries (kind, path), newest first: a write cut short by a full
/// disk leaves a last entry without its NUL, whose addition was never made.
pub fn entries_newest_first(record: &[u8]) -> impl Iterator<Item = (u8, &CStr)> {
    // Each step takes the entry before the last NUL left.
    let mut end = record.iter().rposition(|&b| b == 0);
    core::iter::from_fn(move || loop {
        let e = end?;
        let start = record[..e].iter().rposition(|&b| b == 0).map_or(0, |s| s + 1);
        end = start.checked_sub(1);
        if start < e {
            return Some((record[start], until_nul(&record[start + 1..])));
        }
    })
}

/// Removes what activation of bundle `name` added below `root` (`/`, or at the next boot
/// overlayfs's upper directory) according to `record`, newest first (so a directory after
/// what was made in it): a link only while it still points into the bundle, a directory only
/// when empty (something else put there stays, and so does its directory). How many were
/// removed.
pub fn remove_added(root: Fd, name: &[u8], record: &[u8]) -> u32 {
    let links = Links::new(name);
    let mut link = [0u8; PATH_MAX];
    let mut removed = 0;
    for (kind, path) in entries_newest_first(record) {
        let gone = if kind == DIR {
            // ENOTEMPTY: it holds something else now.
            fs::unlinkat(root, path, AT_REMOVEDIR).is_ok()
        } else {
            kind == LINK && fs::readlinkat(root, path, &mut link).is_ok_and(|t| links.points_into(t)) && fs::unlinkat(root, path, 0).is_ok()
        };
        removed += gone as u32;
    }
    removed
}

/// At boot, before the union is mounted over the changes layer (the working directory is
/// the live stage's `memory/`): what activations of an earlier boot added to persistent
/// changes must not outlive their bundles. Each record's additions are removed from
/// overlayfs's upper directory, then the record. A bundle in the data dir's `modules/` (or
/// picked by `load=`) is a boot bundle of this boot anyway: with its links gone, its files
/// show from its own layer, as Slax activates it again; any other's leftovers are gone.
pub fn remove_earlier() {
    let (Ok(upper), Ok(records), Ok(bundles)) = (
        fs::open(c"changes/changes", O_PATH | O_DIRECTORY),
        fs::open(c"changes/activated", O_PATH | O_DIRECTORY),
        fs::open(c"bundles", O_PATH | O_DIRECTORY),
    ) else {
        // No record (changes in RAM, or nothing was ever activated).
        return;
    };
    fs::for_each_opened(c"changes/activated", |_| true, RECORDS, &mut |name, _| {
        let removed = Mapping::open(records.fd(), name).map_or(0, |m| remove_added(upper.fd(), name.to_bytes(), m.bytes()));
        // A record that would not go is read again at the next boot, and finds nothing.
        let _ = fs::unlinkat(records.fd(), name, 0);
        let again: &[u8] = if fs::statat(bundles.fd(), name, 0).is_ok() { b"; it is a boot bundle now" } else { b"" };
        info!("bundle %s activated before this boot: %n additions removed%s", name.to_bytes(), again; removed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_newest_first_and_a_cut_entry_is_dropped() {
        let record = b"S/tmp/x.sb\0Dusr/share/x\0Lusr/share/x/a\0Lusr/bin/x\0Lusr/bi";
        let got: Vec<(u8, &[u8])> = entries_newest_first(record).map(|(k, p)| (k, p.to_bytes())).collect();
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
        assert!(links.points_into(b"/run/initramfs/memory/bundles/x.sb/usr/bin/x"));
        assert!(!links.points_into(b"/run/initramfs/memory/bundles/x.sbin/x"));
        assert!(!links.points_into(b"/usr/bin/x"));
    }
}
