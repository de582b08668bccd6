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

/// The target of the link for entry `path` of bundle `name`.
pub fn link_target(name: &[u8], path: &[u8], target: &mut TreePath) -> Result<(), Errno> {
    target.truncate(0);
    target.push(BUNDLES)?.push(name)?.push(b"/")?.push(path).map(|_| ())
}

/// The record's complete entries (kind, path), newest first: a write cut short by a full
/// disk leaves a last entry without its NUL, whose addition was never made.
pub fn entries_newest_first(record: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let complete = &record[..record.iter().rposition(|&b| b == 0).unwrap_or(0)];
    complete.split(|&b| b == 0).rev().filter_map(|e| e.split_first().map(|(&kind, path)| (kind, path)))
}

/// Removes what activation of bundle `name` added to `/` according to `record`, newest
/// first (so a directory after what was made in it): a link only while it still points where
/// activation made it point, a directory only when empty (something else put there stays,
/// and so does its directory). How many were removed. Going through overlayfs, a removal
/// where a lower layer has the path leaves a whiteout: a file deleted before the activation
/// stays deleted.
pub fn remove_added(name: &[u8], record: &[u8]) -> u32 {
    let (mut path, mut target, mut link) = (TreePath::new(), TreePath::new(), [0u8; PATH_MAX]);
    let mut removed = 0;
    for (kind, entry) in entries_newest_first(record) {
        path.truncate(0);
        if path.push(b"/").and_then(|p| p.push(entry)).is_err() {
            continue;
        }
        let path = path.as_cstr();
        let gone = match kind {
            LINK => {
                let ours = link_target(name, entry, &mut target).is_ok()
                    && fs::readlinkat(Fd::CWD, path, &mut link).is_ok_and(|t| t == target.as_bytes());
                ours && fs::unlinkat(Fd::CWD, path, 0).is_ok()
            }
            // ENOTEMPTY: it holds something else now; ENOENT: already gone.
            DIR => fs::unlinkat(Fd::CWD, path, AT_REMOVEDIR).is_ok(),
            _ => false,
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
        let mut t = TreePath::new();
        link_target(b"x.sb", b"usr/bin/x", &mut t).unwrap();
        assert_eq!(t.as_bytes(), b"/run/initramfs/memory/bundles/x.sb/usr/bin/x");
        assert!(link_target(b"x.sb", &[b'a'; PATH_MAX], &mut t).is_err());
    }
}
