//! rootcopy: the data dir's `rootcopy/` tree copied over the union, metadata and all.
use crate::sys::cstr::until_nul;
use crate::sys::fs::{self, Dir, Fd, FileType, O_DIRECTORY, O_RDONLY};
use crate::sys::{Errno, PathBuf};
use core::ffi::CStr;

/// The kernel's PATH_MAX: the longest path, and the longest symlink target with its NUL.
const PATH_MAX: usize = 4096;

/// What the copy shares across its recursion, once and not once a level: the destination's
/// root, the path from it to the directory being filled, a buffer for link targets.
struct Copy {
    root: Fd,
    path: PathBuf<PATH_MAX>,
    link: [u8; PATH_MAX],
    errors: u32,
}

/// Copies the data dir's `rootcopy/` over the directory `dst`: files, dirs, links, modes,
/// owners, times. How many entries could not be copied; None without a rootcopy.
pub(super) fn copy_rootcopy(data: Fd, dst: &CStr) -> Option<u32> {
    let src = fs::openat(data, c"rootcopy", O_RDONLY | O_DIRECTORY, 0).ok()?;
    let root = fs::open(dst, O_RDONLY | O_DIRECTORY).ok()?;
    let mut copy = Copy { root: root.fd(), path: PathBuf::new(), link: [0; PATH_MAX], errors: 0 };
    copy_tree(src.fd(), root.fd(), 0, &mut copy);
    Some(copy.errors)
}

/// Copies the tree under `src` into `dst` (at `c.path` below the root), keeping metadata.
/// Source links are copied as links; in the destination, a link to a directory is followed
/// as `cp -a` onto an existing tree does (merged /usr: `lib -> usr/lib`), resolved inside the
/// destination's root as its system will see it.
fn copy_tree(src: Fd, dst: Fd, depth: u32, c: &mut Copy) {
    let Ok(mut dir) = Dir::open_at(src, c".") else {
        c.errors += 1;
        return;
    };
    while let Ok(Some(e)) = dir.next_entry() {
        let name = e.cname();
        let st = match fs::statat(src, name, fs::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(err) => {
                c.errors += 1;
                warning!("rootcopy %s: %e", e.name(); err);
                continue;
            }
        };
        let ok = match fs::file_type(&st) {
            FileType::Dir if depth < 64 => (|| {
                // EEXIST counts as done: a directory, or a link to one, is already there.
                fs::mkdirat(dst, name, st.st_mode & 0o7777)?;
                let s = fs::openat(src, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW, 0)?;
                let len = c.path.len();
                let d = c.path.push(name.to_bytes()).and_then(|p| p.push(b"/")).and_then(|p| fs::open_in_root(c.root, p.as_cstr(), O_RDONLY | O_DIRECTORY));
                let done = d.and_then(|d| {
                    copy_tree(s.fd(), d.fd(), depth + 1, c);
                    fs::fchmod(d.fd(), st.st_mode & 0o7777)
                });
                c.path.truncate(len);
                done
            })(),
            // copy_file gives it the source's mode.
            FileType::File => copy_file(src, name, dst, name).map(|_| ()),
            FileType::Symlink => (|| {
                // A target is shorter than PATH_MAX (the kernel's limit): it fits whole, and
                // the byte after it ends it.
                let n = fs::readlinkat(src, name, &mut c.link[..PATH_MAX - 1])?.len();
                c.link[n] = 0;
                let _ = fs::unlinkat(dst, name, 0);
                fs::symlinkat(until_nul(&c.link), dst, name)
            })(),
            _ => Err(Errno::NOTSUP),
        };
        let meta = ok.and_then(|_| {
            fs::lchownat(dst, name, st.st_uid, st.st_gid)?;
            // A chown clears a file's setuid/setgid bits: its mode goes back on after it.
            if fs::file_type(&st) == FileType::File {
                fs::chmodat(dst, name, st.st_mode & 0o7777)?;
            }
            fs::lutimensat(dst, name, (st.st_atime as i64, st.st_atime_nsec as i64), (st.st_mtime as i64, st.st_mtime_nsec as i64))
        });
        if let Err(err) = meta {
            c.errors += 1;
            warning!("rootcopy %s: %e", e.name(); err);
        }
    }
}

/// Copies one regular file's bytes (created or truncated) inside the kernel.
pub(super) fn copy_file(src_dir: Fd, src: &CStr, dst_dir: Fd, dst: &CStr) -> Result<u64, Errno> {
    let from = fs::openat(src_dir, src, O_RDONLY, 0)?;
    let st = fs::fstat(from.fd())?;
    let size = st.st_size as u64;
    let _ = fs::unlinkat(dst_dir, dst, 0);
    let to = fs::openat(dst_dir, dst, fs::O_WRONLY | fs::O_CREAT | fs::O_TRUNC | fs::O_NOFOLLOW, 0o600)?;
    let done = fs::copy_bytes(to.fd(), from.fd(), size)?;
    fs::fchmod(to.fd(), st.st_mode & 0o7777)?;
    Ok(done)
}
