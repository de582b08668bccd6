//! rootcopy: the data dir's `rootcopy/` tree copied over the union, metadata and all.
use crate::sys::cstr::until_nul;
use crate::sys::fs::{self, Fd, FileType, Stat, O_DIRECTORY, O_RDONLY};
use crate::sys::Errno;
use crate::tree::{walk, Step, TreePath, Visitor, PATH_MAX};
use core::ffi::CStr;

/// What the copy shares across the walk: the destination's root, a buffer for link
/// targets, the count of entries that could not be copied.
struct Copy {
    root: Fd,
    link: [u8; PATH_MAX],
    errors: u32,
}

/// Copies the data dir's `rootcopy/` over the directory `dst`: files, dirs, links, modes,
/// owners, times. How many entries could not be copied; None without a rootcopy.
pub(super) fn copy_rootcopy(data: Fd, dst: &CStr) -> Option<u32> {
    let src = fs::openat(data, c"rootcopy", O_RDONLY | O_DIRECTORY, 0).ok()?;
    let root = fs::open(dst, O_RDONLY | O_DIRECTORY).ok()?;
    let mut copy = Copy { root: root.fd(), link: [0; PATH_MAX], errors: 0 };
    walk(src.fd(), root.fd(), 0, &mut TreePath::new(), &mut copy);
    Some(copy.errors)
}

/// Source links are copied as links; in the destination, a link to a directory is followed
/// as `cp -a` onto an existing tree does (merged /usr: `lib -> usr/lib`), resolved inside the
/// destination's root as its system will see it.
impl Visitor for Copy {
    fn visit(&mut self, src: Fd, dst: Fd, name: &CStr, st: &Stat, path: &TreePath) -> Step {
        let ok = match fs::file_type(st) {
            // EEXIST counts as done: a directory, or a link to one, is already there. Its
            // metadata goes on when its walk is done (`left`), or it would change again.
            FileType::Dir => {
                match fs::mkdirat(dst, name, st.st_mode & 0o7777).and_then(|()| fs::open_in_root(self.root, path.as_cstr(), O_RDONLY | O_DIRECTORY)) {
                    Ok(d) => return Step::Enter(d),
                    Err(e) => Err(e),
                }
            }
            // copy_file gives it the source's mode.
            FileType::File => copy_file(src, name, dst, name).map(|_| ()),
            FileType::Symlink => (|| {
                // A target is shorter than PATH_MAX (the kernel's limit): it fits whole, and
                // the byte after it ends it.
                let n = fs::readlinkat(src, name, &mut self.link[..PATH_MAX - 1])?.len();
                self.link[n] = 0;
                let _ = fs::unlinkat(dst, name, 0);
                fs::symlinkat(until_nul(&self.link), dst, name)
            })(),
            _ => Err(Errno::NOTSUP),
        };
        self.done(dst, name, st, ok);
        Step::Next
    }

    fn left(&mut self, dst: Fd, name: &CStr, st: &Stat, entered: Fd) {
        let ok = fs::fchmod(entered, st.st_mode & 0o7777);
        self.done(dst, name, st, ok);
    }

    fn failed(&mut self, path: &[u8], e: Errno) -> Step {
        self.errors += 1;
        warning!("rootcopy %s: %e", path; e);
        Step::Next
    }
}

impl Copy {
    /// Gives a copied entry its owner and times (a file its mode again: a chown clears a
    /// file's setuid/setgid bits), or counts and names what failed.
    fn done(&mut self, dst: Fd, name: &CStr, st: &Stat, ok: Result<(), Errno>) {
        let meta = ok.and_then(|_| {
            fs::lchownat(dst, name, st.st_uid, st.st_gid)?;
            if fs::file_type(st) == FileType::File {
                fs::chmodat(dst, name, st.st_mode & 0o7777)?;
            }
            fs::lutimensat(dst, name, (st.st_atime as i64, st.st_atime_nsec as i64), (st.st_mtime as i64, st.st_mtime_nsec as i64))
        });
        if let Err(err) = meta {
            self.failed(name.to_bytes(), err);
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
