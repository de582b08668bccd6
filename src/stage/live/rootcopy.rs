//! rootcopy: the data dir's `rootcopy/` tree copied over the union, metadata and all.
use crate::sys::cstr::until_nul;
use crate::sys::fs::{self, Dir, Fd, FileType, O_DIRECTORY, O_RDONLY};
use crate::sys::Errno;
use core::ffi::CStr;

/// Copies the data dir's `rootcopy/` over the directory `dst`: files, dirs, links, modes,
/// owners, times. How many entries could not be copied; None without a rootcopy.
pub(super) fn copy_rootcopy(data: Fd, dst: &CStr) -> Option<u32> {
    let src_fd = fs::openat(data, c"rootcopy", O_RDONLY | O_DIRECTORY, 0).ok()?;
    let dst_fd = fs::open(dst, O_RDONLY | O_DIRECTORY).ok()?;
    let mut errors = 0u32;
    copy_tree(src_fd.fd(), dst_fd.fd(), 0, &mut errors);
    Some(errors)
}

/// Copies the tree under `src` into `dst`, keeping metadata, never following symlinks.
pub(super) fn copy_tree(src: Fd, dst: Fd, depth: u32, errors: &mut u32) {
    let Ok(mut dir) = Dir::open_at(src, c".") else {
        *errors += 1;
        return;
    };
    while let Ok(Some(e)) = dir.next_entry() {
        let name = e.cname();
        let Ok(st) = fs::statat(src, name, fs::AT_SYMLINK_NOFOLLOW) else {
            *errors += 1;
            continue;
        };
        let ok = match fs::file_type(&st) {
            FileType::Dir if depth < 64 => (|| {
                fs::mkdirat(dst, name, st.st_mode & 0o7777)?;
                let s = fs::openat(src, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW, 0)?;
                let d = fs::openat(dst, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW, 0)?;
                copy_tree(s.fd(), d.fd(), depth + 1, errors);
                fs::fchmod(d.fd(), st.st_mode & 0o7777)
            })(),
            // copy_file gives it the source's mode.
            FileType::File => copy_file(src, name, dst, name).map(|_| ()),
            FileType::Symlink => (|| {
                // The last byte stays 0: it ends the target (a link target holds no NUL).
                let mut buf = [0u8; 1024];
                fs::readlinkat(src, name, &mut buf[..1023])?;
                let _ = fs::unlinkat(dst, name, 0);
                fs::symlinkat(until_nul(&buf), dst, name)
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
            *errors += 1;
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
    let mut done = 0u64;
    while done < size {
        let n = fs::sendfile(to.fd(), from.fd(), (size - done).min(1 << 30) as usize)?;
        if n == 0 {
            break;
        }
        done += n as u64;
    }
    fs::fchmod(to.fd(), st.st_mode & 0o7777)?;
    Ok(done)
}
