//! A depth-first walk of a source tree beside a destination tree, one walker for its two
//! users: rootcopy copies the data dir's `rootcopy/` over the union, and bundle activation
//! (the `bundle` role) links a mounted bundle into `/`. A floor below `stage/` and `role/`.
use crate::sys::fs::{self, Dir, Fd, FileType, Stat, O_DIRECTORY, O_NOFOLLOW, O_RDONLY};
use crate::sys::{Errno, OwnedFd, PathBuf};
use core::ffi::CStr;

/// The kernel's PATH_MAX: the longest path, and the longest symlink target with its NUL.
pub const PATH_MAX: usize = 4096;

/// The deepest directory level entered (each level holds a 2 KiB directory buffer on the
/// stack); a deeper directory is reported as ELOOP and not entered.
const MAX_DEPTH: u32 = 64;

/// A path below the walk's top, without a leading `/`.
pub type TreePath = PathBuf<PATH_MAX>;

/// What the walk does after an entry.
pub enum Step {
    Next,
    /// Walk this directory of the source, beside this destination directory.
    Enter(OwnedFd),
    /// End the whole walk.
    Stop,
}

pub trait Visitor {
    /// Entry `name` of the source directory `src` (not followed: `st` is its lstat), at
    /// `path` below the top; `dst` is the destination directory beside `src`.
    fn visit(&mut self, src: Fd, dst: Fd, name: &CStr, st: &Stat, path: &TreePath) -> Step;
    /// After the walk of a directory entered with [`Step::Enter`]`(entered)`.
    fn left(&mut self, _dst: Fd, _name: &CStr, _st: &Stat, _entered: Fd) {}
    /// An entry, at `path`, that could not be read or entered; the walk goes on.
    fn failed(&mut self, path: &[u8], e: Errno) -> Step;
}

/// Walks the tree under the directory `src` beside `dst`, `path` holding the source's path
/// below the top (restored on return); false when the visitor stopped it.
pub fn walk(src: Fd, dst: Fd, depth: u32, path: &mut TreePath, v: &mut dyn Visitor) -> bool {
    let mut dir = Dir::open_at(src, c".");
    if let Err(e) = dir.opened() {
        v.failed(path.as_bytes(), e);
        return true;
    }
    let len = path.len();
    while let Ok(Some(e)) = dir.next_entry() {
        let name = e.cname();
        path.truncate(len);
        let named = if len > 0 { path.push(b"/") } else { Ok(&mut **path) }.and_then(|p| p.push(name.to_bytes()));
        let st = match named.and_then(|_| fs::statat(src, name, fs::AT_SYMLINK_NOFOLLOW)) {
            Ok(st) => st,
            Err(err) => {
                v.failed(path.as_bytes(), err);
                continue;
            }
        };
        if fs::file_type(&st) == FileType::Dir && depth >= MAX_DEPTH {
            v.failed(path.as_bytes(), Errno::LOOP);
            continue;
        }
        match v.visit(src, dst, name, &st, path) {
            Step::Next => {}
            Step::Stop => return false,
            Step::Enter(d) => {
                let entered = match fs::openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0) {
                    Ok(s) => walk(s.fd(), d.fd(), depth + 1, path, v),
                    Err(err) => {
                        v.failed(path.as_bytes(), err);
                        true
                    }
                };
                if !entered {
                    return false;
                }
                v.left(dst, name, &st, d.fd());
            }
        }
    }
    path.truncate(len);
    true
}
