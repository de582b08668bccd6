//! The image as an ext2 filesystem: a legacy initrd, which the kernel copies into /dev/ram0
//! and mounts as `/` with `root=/dev/ram0` (Documentation/admin-guide/initrd.rst).
//!
//! The entries are laid out in a staging directory and `mke2fs -d` (e2fsprogs) makes the
//! filesystem from it. Device nodes are left out: the kernel opens PID 1's console before
//! it mounts the RAM disk, and rdinit mounts devtmpfs on /dev.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::image::{Data, Image, Kind, Written};

/// Room in the filesystem beyond its content, in KiB: ext2's own metadata (inode tables,
/// bitmaps, indirect blocks: about 1/64 of the content with 1 KiB blocks) and some slack.
/// The RAM disk must hold the whole filesystem (`ramdisk_size=`, 4 MiB by default).
const SLACK_KIB: u64 = 1024;

/// Writes `img` as an ext2 filesystem image to `out`.
pub fn write_ext2<W: Write>(img: &Image, mut out: W) -> Result<Written> {
    let stage = tempfile::tempdir().context("cannot make a staging directory")?;
    let root = stage.path().join("root");
    fs::create_dir(&root)?;
    let as_root = effective_uid() == Some(0);
    let mut content_kib = 0u64;
    let mut entries = 0usize;
    for e in img.entries() {
        let path = root.join(&e.path[1..]);
        match &e.kind {
            Kind::Dir => fs::create_dir_all(&path)?,
            Kind::File { data, links } => {
                match data {
                    Data::Host(src) => {
                        fs::copy(src, &path)
                            .with_context(|| format!("cannot copy {} for '{}'", src.display(), e.path))?;
                    }
                    Data::Bytes(bytes) => fs::write(&path, bytes)?,
                }
                content_kib += fs::metadata(&path)?.len().div_ceil(1024);
                for link in links {
                    fs::hard_link(&path, root.join(&link[1..]))?;
                }
            }
            // Made with the file they name (File::links).
            Kind::HardLink { .. } => continue,
            Kind::Symlink { target } => symlink(target, &path)?,
            Kind::CharDev { .. } | Kind::BlockDev { .. } | Kind::Fifo | Kind::Socket => continue,
        }
        if !matches!(e.kind, Kind::Symlink { .. }) {
            fs::set_permissions(&path, fs::Permissions::from_mode(e.mode))?;
        }
        // mke2fs copies the staged owners; only root can give files away.
        if as_root {
            lchown(&path, Some(e.uid), Some(e.gid))?;
        }
        entries += 1;
    }

    let image = stage.path().join("initrd.ext2");
    // 1 KiB blocks: the RAM disk's default size is counted in KiB and small images waste
    // least; no reserved blocks: nobody but root writes here.
    let size_kib = content_kib + content_kib / 16 + SLACK_KIB;
    let inodes = (entries + 16).to_string();
    let made = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-m", "0", "-N", &inodes, "-d"])
        .arg(&root)
        .arg(&image)
        .arg(format!("{size_kib}k"))
        .output()
        .context("cannot run mke2fs (e2fsprogs) to make the ext2 image")?;
    if !made.status.success() {
        bail!(
            "mke2fs failed ({}) making a {size_kib} KiB ext2 image: {}",
            made.status,
            String::from_utf8_lossy(&made.stderr).trim()
        );
    }
    let bytes = io::copy(&mut fs::File::open(&image)?, &mut out)?;
    Ok(Written { entries, bytes })
}

/// The effective uid, from /proc (one number is not worth a libc binding).
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
