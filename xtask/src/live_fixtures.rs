//! The media the live-boot scenarios (tests/live.rs) boot: Slax-style data directories with
//! squashfs and EROFS bundles, on ext4 disks, a FAT USB stick, an ISO 9660 CD and an ISO file.
//!
//! Every bundle carries `/markers/<bundle name>`, so the guest can list which bundles the
//! union shows; several carry `/etc/override` to show which one is on top. The base bundle
//! (`01-core.sb`) holds busybox and the live probe init (tests/guest/live-init) as
//! /sbin/init. Everything is built once per process under `target/boot-images/`.

use crate::cache::cached;
use crate::images::{erofs, ext4_free_bytes, ext4_image, ext4_image_with, iso, squashfs_with, vfat_image, RootTree};
use crate::pack::Pack;
use crate::util::{cmd, images_dir, remove_any, run, tmp_sibling};
use anyhow::Context;
use std::fs;
use std::path::{Path, PathBuf};

/// The live probe init (tests/guest/live-init), /sbin/init of the base bundle.
pub const LIVE_INIT: &str = include_str!("../../tests/guest/live-init");

/// Slax's default data directory name.
pub const DATA_DIR: &str = "slax";

/// mksquashfs options of the small bundles: 4 KiB blocks (each mounted squashfs pins about
/// five blocks of RAM, which matters at 500 bundles), one compressor thread (bundles are
/// built several at a time).
const SMALL: &[&str] = &["-comp", "zstd", "-b", "4K", "-processors", "1"];

/// The live initramfs: `--preset live` (which carries ata_piix for the IDE CD-ROM).
pub fn initrd() -> PathBuf {
    Pack::new("live").preset("live").build()
}

/// [`initrd`] plus busybox (a rescue shell).
pub fn initrd_busybox() -> PathBuf {
    Pack::new("live-busybox").preset("live").busybox(true).build()
}

// ---------------------------------------------------------------------------------------
// Bundles

/// The tree of a base bundle: busybox, `init` as /sbin/init, `/markers/<marker>`, and the
/// usual top directories.
pub fn base_tree(name: &str, init: &str, marker: &str) -> RootTree {
    let tree = RootTree::new(name)
        .busybox(true)
        .file("sbin/init", init, 0o755)
        .file(&format!("markers/{marker}"), format!("{marker}\n"), 0o644);
    ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr", "etc"]
        .iter()
        .fold(tree, |t, d| t.dir(d))
}

/// The base bundle: [`base_tree`] with the live probe init, marker `01-core`, and
/// `/etc/override` = `01-core` (squashfs, 128 KiB blocks).
pub fn core_bundle() -> PathBuf {
    let tree = base_tree("live-core", LIVE_INIT, "01-core").file("etc/override", "01-core\n", 0o644);
    squashfs_with(&tree.build(), &["-comp", "zstd", "-b", "128K"])
}

/// The tree of a small bundle: `/markers/<name>`, and `/etc/override` = `<name>` if asked.
fn marker_tree(name: &str, overrides: bool) -> PathBuf {
    let mut t = RootTree::new(&format!("bundle-{name}")).file(&format!("markers/{name}"), format!("{name}\n"), 0o644);
    if overrides {
        t = t.file("etc/override", format!("{name}\n"), 0o644);
    }
    t.build()
}

/// A small squashfs bundle (see [`marker_tree`]).
pub fn marker_squashfs(name: &str, overrides: bool) -> PathBuf {
    squashfs_with(&marker_tree(name, overrides), SMALL)
}

/// A small EROFS bundle (see [`marker_tree`]).
pub fn marker_erofs(name: &str, overrides: bool) -> PathBuf {
    erofs(&marker_tree(name, overrides))
}

/// `len` bytes of a fixed xorshift stream: incompressible, and the same bytes every run.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A squashfs bundle of `name` with 256 KiB of incompressible data in it, so that cutting
/// the image short removes the tables at its end.
fn big_squashfs(name: &str) -> PathBuf {
    let tree = RootTree::new(&format!("bundle-{name}"))
        .file(&format!("markers/{name}"), format!("{name}\n"), 0o644)
        .file("var/noise", noise(256 * 1024), 0o644)
        .build();
    squashfs_with(&tree, SMALL)
}

pub fn numbered_bundles(count: usize) -> Vec<(String, PathBuf)> {
    let names: Vec<String> = (1..=count).map(|i| format!("b{i:03}")).collect();
    let mut out: Vec<Option<PathBuf>> = vec![None; count];
    std::thread::scope(|s| {
        for (chunk_names, chunk_out) in names.chunks(64).zip(out.chunks_mut(64)) {
            s.spawn(move || {
                for (n, o) in chunk_names.iter().zip(chunk_out.iter_mut()) {
                    *o = Some(marker_squashfs(n, false));
                }
            });
        }
    });
    names.into_iter().zip(out.into_iter().map(|p| p.expect("built"))).collect()
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("harness: reading {}: {e}", p.display()))
}

/// Adds `bytes` at `slax/<rel>` (mode 0644) to a tree.
fn put(t: RootTree, rel: &str, bytes: Vec<u8>) -> RootTree {
    t.file(&format!("{DATA_DIR}/{rel}"), bytes, 0o644)
}

// ---------------------------------------------------------------------------------------
// Data trees and media

/// The standard data dir, `slax/`:
/// - `01-core.sb` (squashfs), `2-erofs.sb` (EROFS), `10-top.sb` (squashfs) — natural order
///   puts `2` before `10`, so `10-top` is the top layer of the three and wins `/etc/override`;
/// - `modules/20-mod.sb`; `optional/50-opt.sb` (only with `load=`);
/// - `rootcopy/etc/rootcopy.conf` (mode 0640), `rootcopy/usr/bin/rootcopy-suid` (mode 4755),
///   `rootcopy/etc/rootcopy.link` -> rootcopy.conf,
///   `rootcopy/var/rootcopy-dir/`;
/// - `README.txt` and `notes.sb.txt`, which are not bundles.
pub fn standard_tree() -> PathBuf {
    let mut t = RootTree::new("live-standard");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, "2-erofs.sb", read(&marker_erofs("2-erofs", true)));
    t = put(t, "10-top.sb", read(&marker_squashfs("10-top", true)));
    t = put(t, "modules/20-mod.sb", read(&marker_squashfs("20-mod", false)));
    t = put(t, "optional/50-opt.sb", read(&marker_squashfs("50-opt", false)));
    t = put(t, "README.txt", b"not a bundle\n".to_vec());
    t = put(t, "notes.sb.txt", b"not a bundle either\n".to_vec());
    t.file(&format!("{DATA_DIR}/rootcopy/etc/rootcopy.conf"), "from rootcopy\n", 0o640)
        .file(&format!("{DATA_DIR}/rootcopy/usr/bin/rootcopy-suid"), "#!/bin/sh\n", 0o4755)
        .symlink(&format!("{DATA_DIR}/rootcopy/etc/rootcopy.link"), "rootcopy.conf")
        .dir(&format!("{DATA_DIR}/rootcopy/var/rootcopy-dir"))
        .build()
}

/// ext4 (48 MiB) holding [`standard_tree`].
pub fn standard_ext4() -> PathBuf {
    ext4_image(&standard_tree(), 48, "SLAXDATA", "5a1a0001-0000-4000-8000-000000000001")
}

/// An ISO 9660 CD (Rock Ridge + Joliet) holding [`standard_tree`], volume id `SLAXCD`.
pub fn standard_iso() -> PathBuf {
    iso(&standard_tree(), "SLAXCD")
}

/// ext4 (48 MiB) holding only `images/slax.iso` ([`standard_iso`]).
pub fn iso_file_ext4() -> PathBuf {
    let t = RootTree::new("live-isofile").file("images/slax.iso", read(&standard_iso()), 0o644).build();
    ext4_image(&t, 48, "ISOHOST", "5a1a0002-0000-4000-8000-000000000002")
}

/// An empty ext4 image (16 MiB) for persistent changes.
pub fn changes_image() -> PathBuf {
    let t = RootTree::new("live-changes-empty").build();
    ext4_image(&t, 16, "changes", "5a1a0003-0000-4000-8000-000000000003")
}

/// A FAT USB stick (64 MiB, label `SLAXUSB`): `slax/01-core.sb`, `2-erofs.sb`, `10-top.sb`
/// and `slax/changes.img` ([`changes_image`]).
pub fn usb_vfat() -> PathBuf {
    let mut t = RootTree::new("live-usb");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, "2-erofs.sb", read(&marker_erofs("2-erofs", true)));
    t = put(t, "10-top.sb", read(&marker_squashfs("10-top", true)));
    t = put(t, "changes.img", read(&changes_image()));
    vfat_image(&t.build(), 64, "SLAXUSB", 0x51a0_0005)
}

/// A private, writable copy of `image` named `name` (for boots with persistent writes).
pub fn private_copy(image: &Path, name: &str) -> PathBuf {
    let out = images_dir().join(format!("private-{name}.img"));
    let tmp = tmp_sibling(&out);
    let _ = remove_any(&tmp);
    fs::copy(image, &tmp).with_context(|| format!("copying {}", image.display())).unwrap();
    fs::rename(&tmp, &out).unwrap();
    out
}

/// ext4 holding `slax/` with `n` bundles in all: `01-core.sb` and `b001.sb`… `b<n-1>.sb`.
pub fn counted_ext4(n: usize) -> PathBuf {
    assert!(n >= 1);
    let key = format!("live counted {n}");
    cached(&key, || {
        let mut t = RootTree::new(&format!("live-count-{n}"));
        t = put(t, "01-core.sb", read(&core_bundle()));
        for (name, p) in numbered_bundles(n - 1) {
            t = put(t, &format!("{name}.sb"), read(&p));
        }
        // 4 KiB images plus metadata: 64 MiB holds 500 easily.
        let uuid = format!("5a1a0004-0000-4000-8000-{n:012}");
        Ok(ext4_image(&t.build(), 64, &format!("SLAX{n}"), &uuid))
    })
}

/// The kinds of broken bundle [`bad_bundle_ext4`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadBundle {
    /// A squashfs superblock followed by garbage.
    Corrupt,
    /// The first half of a real squashfs image.
    Truncated,
    /// A text file named `*.sb`.
    NotAnImage,
}

impl BadBundle {
    /// The file name of the broken bundle.
    pub fn file_name(self) -> &'static str {
        match self {
            BadBundle::Corrupt => "05-corrupt.sb",
            BadBundle::Truncated => "05-truncated.sb",
            BadBundle::NotAnImage => "05-text.sb",
        }
    }
}

/// ext4 holding `slax/01-core.sb`, the broken bundle `05-….sb` and `30-after.sb` (a good
/// one above it, with `/etc/override` = `30-after`).
pub fn bad_bundle_ext4(kind: BadBundle) -> PathBuf {
    let bad = match kind {
        BadBundle::Corrupt => {
            let mut b = read(&big_squashfs("05-corrupt"));
            // Keep the 96-byte superblock (magic, table offsets); garble everything after.
            for (i, byte) in b.iter_mut().enumerate().skip(96) {
                *byte = (i as u8).wrapping_mul(31) ^ 0x5a;
            }
            b
        }
        BadBundle::Truncated => {
            let mut b = read(&big_squashfs("05-truncated"));
            b.truncate(b.len() / 2);
            b
        }
        BadBundle::NotAnImage => b"this is a text file, not a squashfs or erofs image\n".repeat(40),
    };
    let mut t = RootTree::new(&format!("live-bad-{kind:?}"));
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, kind.file_name(), bad);
    t = put(t, "30-after.sb", read(&marker_squashfs("30-after", true)));
    let uuid = format!("5a1a0005-0000-4000-8000-00000000000{}", kind as u8);
    ext4_image(&t.build(), 32, &format!("BAD{kind:?}").to_uppercase(), &uuid)
}

/// The bundle names of [`odd_names_ext4`]: one with spaces, one of 200 characters (with `.sb`).
pub fn odd_names() -> (String, String) {
    let spaced = "05 with  spaces".to_owned();
    let long = format!("07-{}", "x".repeat(200 - 3 - 3));
    (spaced, long)
}

/// ext4 holding `slax/01-core.sb` and the two bundles of [`odd_names`] (the long one has
/// `/etc/override`).
pub fn odd_names_ext4() -> PathBuf {
    let (spaced, long) = odd_names();
    let mut t = RootTree::new("live-odd-names");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, &format!("{spaced}.sb"), read(&marker_squashfs(&spaced, false)));
    t = put(t, &format!("{long}.sb"), read(&marker_squashfs(&long, true)));
    ext4_image(&t.build(), 32, "ODDNAMES", "5a1a0006-0000-4000-8000-000000000006")
}

/// ext4 (label `NOBUNDLES`) with a `slax/` that has rootcopy and a README but no bundle.
pub fn no_bundles_ext4() -> PathBuf {
    let t = RootTree::new("live-no-bundles")
        .file(&format!("{DATA_DIR}/README.txt"), "no bundles here\n", 0o644)
        .file(&format!("{DATA_DIR}/rootcopy/etc/motd"), "hi\n", 0o644)
        .dir(&format!("{DATA_DIR}/modules"))
        .build();
    ext4_image(&t, 16, "NOBUNDLES", "5a1a0007-0000-4000-8000-000000000007")
}

/// ext4 (label `NODATA`) with no data dir at all.
pub fn no_data_ext4() -> PathBuf {
    let t = RootTree::new("live-no-data").file("other/file.txt", "nothing live here\n", 0o644).build();
    ext4_image(&t, 16, "NODATA", "5a1a0008-0000-4000-8000-000000000008")
}

/// ext4 (label `PERCH`) whose `slax/` has `01-core.sb`, `10-top.sb` and a `changes/` dir an
/// earlier boot left: `changes/changes/etc/persisted` and an empty `changes/workdir/`.
pub fn perch_ext4() -> PathBuf {
    let mut t = RootTree::new("live-perch");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, "10-top.sb", read(&marker_squashfs("10-top", true)));
    let t = t
        .file(&format!("{DATA_DIR}/changes/changes/etc/persisted"), "from an earlier boot\n", 0o644)
        .dir(&format!("{DATA_DIR}/changes/workdir"))
        .build();
    ext4_image(&t, 32, "PERCH", "5a1a0009-0000-4000-8000-000000000009")
}

/// ext4 (label `TWODIRS`) with two data dirs: `slax/` (`01-core.sb`, `10-top.sb`) and
/// `mylive/` (`01-core.sb`, `2-erofs.sb`), for `live=`.
pub fn two_dirs_ext4() -> PathBuf {
    let mut t = RootTree::new("live-two-dirs");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, "10-top.sb", read(&marker_squashfs("10-top", true)));
    t = t.file("mylive/01-core.sb", read(&core_bundle()), 0o644);
    t = t.file("mylive/2-erofs.sb", read(&marker_erofs("2-erofs", true)), 0o644);
    ext4_image(&t.build(), 32, "TWODIRS", "5a1a000a-0000-4000-8000-00000000000a")
}

/// ext4 (label `HUGE`) with `slax/01-core.sb` and `slax/90-huge.sb`: a small squashfs
/// padded with a 1 GiB hole (squashfs ignores bytes past its `bytes_used`), so `toram`
/// finds too little RAM without the harness writing a gigabyte.
pub fn huge_bundle_ext4() -> PathBuf {
    let tree = cached("live huge-bundle tree", || {
        let mut t = RootTree::new("live-huge");
        t = put(t, "01-core.sb", read(&core_bundle()));
        t = put(t, "90-huge.sb", read(&marker_squashfs("90-huge", true)));
        let dir = t.build();
        fs::OpenOptions::new().write(true).open(dir.join(DATA_DIR).join("90-huge.sb"))?.set_len(1 << 30)?;
        Ok(dir)
    });
    ext4_image(&tree, 32, "HUGE", "5a1a000b-0000-4000-8000-00000000000b")
}

/// ext4 (label `FULL`, 32 MiB) with `slax/01-core.sb`,
/// `slax/10-top.sb` and an empty `slax/changes-empty/`, filled up by `filler.bin` so that
/// fewer blocks are free than ext4 keeps back (`s_resv_clusters`, 2%): no directory can be
/// made on it, not even by root.
pub fn full_ext4() -> PathBuf {
    const SIZE_MIB: u64 = 32;
    let tree = |name: &str, filler: u64| {
        let mut t = RootTree::new(name);
        t = put(t, "01-core.sb", read(&core_bundle()));
        t = put(t, "10-top.sb", read(&marker_squashfs("10-top", true)));
        // Not zeros: mkfs.ext4 -d leaves zero blocks as holes.
        t.dir(&format!("{DATA_DIR}/changes-empty")).file("filler.bin", vec![0xa5; filler as usize], 0o644).build()
    };
    let image = |dir: &Path| ext4_image(dir, SIZE_MIB, "FULL", "5a1a000c-0000-4000-8000-00000000000c");
    cached("live full ext4", || {
        let free = ext4_free_bytes(&image(&tree("live-full-empty", 0)))?;
        // The free count includes root's reserve: fill that too. 64 KiB is left for the
        // filler's extent blocks; ext4 keeps back 2% (655 KiB) from directories.
        let full = image(&tree("live-full", free.saturating_sub(64 << 10)));
        let left = ext4_free_bytes(&full)?;
        anyhow::ensure!(left <= 256 << 10, "{}: {left} bytes still free", full.display());
        Ok(full)
    })
}

/// ext4 (label `DIRTY`, 16 MiB) holding `other/file.txt`, whose journal holds a committed
/// transaction that was never replayed (`needs_recovery`, as after a crash or a hibernation):
/// any mount that replays the journal writes to it. Made with debugfs's journal commands
/// (`jo`, `jw`, `jc`), as e2fsprogs' own tests make such images.
pub fn dirty_journal_ext4() -> PathBuf {
    let t = RootTree::new("live-dirty").file("other/file.txt", "another system's disk\n", 0o644).build();
    let clean = ext4_image(&t, 16, "DIRTY", "5a1a000d-0000-4000-8000-00000000000d");
    cached("live dirty-journal ext4", || {
        let out = images_dir().join("live-dirty-journal.img");
        let tmp = tmp_sibling(&out);
        let _ = remove_any(&tmp);
        fs::copy(&clean, &tmp)?;
        // Two blocks of 0xa5 journalled for the last two blocks of the image (free: the
        // tree is small): a replay writes them, and clears needs_recovery in the superblock.
        let blocks = ext4_field(&tmp, "Block count:")?;
        let block = tmp_sibling(&images_dir().join("live-dirty-block"));
        fs::write(&block, vec![0xa5u8; 2 * 4096])?;
        let script = format!("jo\njw -b {},{} {}\njc\n", blocks - 2, blocks - 1, block.display());
        let script_path = tmp_sibling(&images_dir().join("live-dirty-debugfs"));
        fs::write(&script_path, script)?;
        run(cmd("debugfs")?.arg("-w").arg("-f").arg(&script_path).arg(&tmp))?;
        let _ = fs::remove_file(&block);
        let _ = fs::remove_file(&script_path);
        let sb = run(cmd("dumpe2fs")?.arg("-h").arg(&tmp))?;
        anyhow::ensure!(String::from_utf8_lossy(&sb.stdout).contains("needs_recovery"), "debugfs left no journal to replay in {}", tmp.display());
        fs::rename(&tmp, &out)?;
        Ok(out)
    })
}

/// A number field of an ext4 image's superblock (`dumpe2fs -h`), e.g. `Block count:`.
fn ext4_field(image: &Path, name: &str) -> anyhow::Result<u64> {
    let out = run(cmd("dumpe2fs")?.arg("-h").arg(image))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with(name)).with_context(|| format!("dumpe2fs: no {name:?}"))?;
    Ok(line[name.len()..].trim().parse()?)
}

/// The symlink target of [`merged_usr_ext4`]'s `rootcopy/etc/rootcopy.long`: 3,000 bytes, far
/// past 1 KiB and below PATH_MAX.
pub fn long_link_target() -> String {
    "d123456789/".repeat(272) + "end12345"
}

/// ext4 (label `MERGEDUSR`) with a merged-/usr system, as Debian, Fedora and Arch have it:
/// `05-usrmerge.sb` holds `lib -> usr/lib` and `usr/lib/usrmerge`; the data dir's rootcopy
/// holds `lib/rootcopy-merged/merged.conf` (which must land in /usr/lib through the link) and
/// `etc/rootcopy.long` -> [`long_link_target`], and `sbin/badinit`, a script whose
/// interpreter does not exist.
pub fn merged_usr_ext4() -> PathBuf {
    let usrmerge = RootTree::new("bundle-05-usrmerge")
        .file("markers/05-usrmerge", "05-usrmerge\n", 0o644)
        .file("usr/lib/usrmerge", "usr/lib of the bundle\n", 0o644)
        .symlink("lib", "usr/lib")
        .build();
    let mut t = RootTree::new("live-merged-usr");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, "05-usrmerge.sb", read(&squashfs_with(&usrmerge, SMALL)));
    let t = t
        .file(&format!("{DATA_DIR}/rootcopy/lib/rootcopy-merged/merged.conf"), "through /lib\n", 0o644)
        .symlink(&format!("{DATA_DIR}/rootcopy/etc/rootcopy.long"), &long_link_target())
        // An init whose exec fails after the switch (its interpreter does not exist).
        .file(&format!("{DATA_DIR}/rootcopy/sbin/badinit"), "#!/nonexistent/interpreter\n", 0o755)
        .build();
    // 4 KiB blocks: mkfs.ext4 -d makes no symlink longer than a block.
    ext4_image_with(&t, 32, "MERGEDUSR", "5a1a000e-0000-4000-8000-00000000000e", &["-b", "4096"])
}

/// ext4 (label `UNREADABLE`) with `slax/01-core.sb`, `slax/10-top.sb` and one file that
/// cannot be read past 48 KiB (its block map points past the end of the filesystem there):
/// with `in_rootcopy`, `slax/rootcopy/etc/unreadable.conf`, else the bundle
/// `slax/05-unreadable.sb` (which still mounts: the lost blocks are file data).
pub fn unreadable_file_ext4(in_rootcopy: bool) -> PathBuf {
    let (name, file) = if in_rootcopy {
        ("rootcopy", "rootcopy/etc/unreadable.conf")
    } else {
        ("bundle", "05-unreadable.sb")
    };
    cached(&format!("live unreadable {name}"), || {
        let mut t = RootTree::new(&format!("live-unreadable-{name}"));
        t = put(t, "01-core.sb", read(&core_bundle()));
        t = put(t, "10-top.sb", read(&marker_squashfs("10-top", true)));
        t = put(t, file, read(&big_squashfs("05-unreadable")));
        // Block maps (no extents, so no 64bit): an indirect block that can be patched.
        let uuid = format!("5a1a000f-0000-4000-8000-00000000000{}", in_rootcopy as u8);
        let clean = ext4_image_with(&t.build(), 32, "UNREADABLE", &uuid, &["-b", "4096", "-O", "^extent,^64bit"]);
        let out = images_dir().join(format!("live-unreadable-{name}.img"));
        let tmp = tmp_sibling(&out);
        let _ = remove_any(&tmp);
        fs::copy(&clean, &tmp)?;
        // The first entry of the file's indirect block (its block 12, 48 KiB in) points past
        // the end: the first 48 KiB read, the rest fails (EUCLEAN), as a copy partway.
        let stat = run(cmd("debugfs")?.arg("-R").arg(format!("stat /{DATA_DIR}/{file}")).arg(&tmp))?;
        let text = String::from_utf8_lossy(&stat.stdout);
        let ind: u64 = text
            .split("(IND):")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("debugfs: no indirect block for {file}"))?;
        let mut image = fs::OpenOptions::new().write(true).open(&tmp)?;
        use std::io::{Seek, SeekFrom, Write};
        image.seek(SeekFrom::Start(ind * 4096))?;
        image.write_all(&99_999_999u32.to_le_bytes())?;
        drop(image);
        fs::rename(&tmp, &out)?;
        Ok(out)
    })
}

/// ext4 (label `MANYFILES`) whose `slax/` holds `01-core.sb` and 1,030 small files
/// `z0001.sb`… `z1030.sb` that are not images: more bundle files than the 1,024 rdinit keeps
/// names for.
pub fn many_files_ext4() -> PathBuf {
    let mut t = RootTree::new("live-many-files");
    t = put(t, "01-core.sb", read(&core_bundle()));
    for i in 1..=1030 {
        t = put(t, &format!("z{i:04}.sb"), b"not an image\n".to_vec());
    }
    ext4_image(&t.build(), 32, "MANYFILES", "5a1a0010-0000-4000-8000-000000000010")
}
