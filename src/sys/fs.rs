//! Files, directories and filesystem metadata.
use super::{nr, ret, ret_unit, syscall1, syscall2, syscall3, syscall4, syscall5, Errno, OwnedFd};
pub use super::Fd;
use core::ffi::CStr;
use linux_raw_sys::general as g;

pub use super::abi::Stat;

pub const O_RDONLY: u32 = g::O_RDONLY;
pub const O_WRONLY: u32 = g::O_WRONLY;
pub const O_RDWR: u32 = g::O_RDWR;
pub const O_CREAT: u32 = g::O_CREAT;
pub const O_TRUNC: u32 = g::O_TRUNC;
pub const O_DIRECTORY: u32 = g::O_DIRECTORY;
pub const O_NOFOLLOW: u32 = g::O_NOFOLLOW;
pub const O_PATH: u32 = g::O_PATH;
pub const O_NOCTTY: u32 = g::O_NOCTTY;
pub const O_NONBLOCK: u32 = g::O_NONBLOCK;
pub const O_CLOEXEC: u32 = g::O_CLOEXEC;
/// Files over 2 GiB on a 32-bit ABI (a 64-bit kernel sets it by itself).
const O_LARGEFILE: u32 = g::O_LARGEFILE;

pub const AT_REMOVEDIR: u32 = g::AT_REMOVEDIR;
pub const AT_SYMLINK_NOFOLLOW: u32 = g::AT_SYMLINK_NOFOLLOW;
pub const AT_EMPTY_PATH: u32 = g::AT_EMPTY_PATH;

pub const S_IFMT: u32 = g::S_IFMT;
pub const S_IFDIR: u32 = g::S_IFDIR;
pub const S_IFREG: u32 = g::S_IFREG;
pub const S_IFLNK: u32 = g::S_IFLNK;
pub const S_IFCHR: u32 = g::S_IFCHR;
pub const S_IFBLK: u32 = g::S_IFBLK;

/// `openat(2)`.
pub fn openat(dir: Fd, path: &CStr, flags: u32, mode: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let r = unsafe {
        syscall4(nr::__NR_openat as usize, dir.raw(), path.as_ptr() as usize, (flags | O_CLOEXEC | O_LARGEFILE) as usize, mode as usize)
    };
    ret(r).map(OwnedFd::from_raw)
}

/// `open(path, flags)` relative to the working directory, close-on-exec.
pub fn open(path: &CStr, flags: u32) -> Result<OwnedFd, Errno> {
    openat(Fd::CWD, path, flags, 0)
}

/// `read(2)`, retried on EINTR.
pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let r = unsafe { syscall3(nr::__NR_read as usize, fd.raw(), buf.as_mut_ptr() as usize, buf.len()) };
        match ret(r) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Reads until `buf` is full or end of file; returns the bytes read.
pub fn read_full(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let n = read(fd, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// `pread64(2)`.
pub fn pread(fd: Fd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    ret(unsafe { super::abi::pread64(fd.raw(), buf.as_mut_ptr() as usize, buf.len(), offset) })
}

/// `write(2)`, retried on EINTR.
pub fn write(fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
        let r = unsafe { syscall3(nr::__NR_write as usize, fd.raw(), buf.as_ptr() as usize, buf.len()) };
        match ret(r) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Writes all of `buf`.
pub fn write_all(fd: Fd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        let n = write(fd, buf)?;
        if n == 0 {
            return Err(Errno::IO);
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// Reads a whole small file (sysfs attribute, /proc file) into `buf`.
pub fn read_file<'b>(dir: Fd, path: &CStr, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
    let fd = openat(dir, path, O_RDONLY, 0)?;
    let n = read_full(fd.fd(), buf)?;
    Ok(&buf[..n])
}

/// Writes `data` to an existing file (sysfs attribute, /proc/sys knob).
pub fn write_file(path: &CStr, data: &[u8]) -> Result<(), Errno> {
    let fd = open(path, O_WRONLY)?;
    write_all(fd.fd(), data)
}

/// `mkdirat(2)`; an existing directory is success.
pub fn mkdirat(dir: Fd, path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    let r = unsafe { syscall3(nr::__NR_mkdirat as usize, dir.raw(), path.as_ptr() as usize, mode as usize) };
    match ret_unit(r) {
        Err(Errno::EXIST) => Ok(()),
        other => other,
    }
}

pub fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
    mkdirat(Fd::CWD, path, mode)
}

/// `mknodat(2)`.
pub fn mknodat(dir: Fd, path: &CStr, mode: u32, major: u32, minor: u32) -> Result<(), Errno> {
    let dev = ((major as u64 & 0xfff) << 8) | (minor as u64 & 0xff) | ((minor as u64 & !0xff) << 12);
    // SAFETY: `path` is NUL-terminated.
    let r = unsafe { syscall4(nr::__NR_mknodat as usize, dir.raw(), path.as_ptr() as usize, mode as usize, dev as usize) };
    ret_unit(r)
}

/// `symlinkat(2)`: a link at `dir/path` pointing to `target`.
pub fn symlinkat(target: &CStr, dir: Fd, path: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated.
    let r = unsafe { syscall3(nr::__NR_symlinkat as usize, target.as_ptr() as usize, dir.raw(), path.as_ptr() as usize) };
    ret_unit(r)
}

/// `readlinkat(2)` into `buf`.
pub fn readlinkat<'b>(dir: Fd, path: &CStr, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes.
    let r = unsafe {
        syscall4(nr::__NR_readlinkat as usize, dir.raw(), path.as_ptr() as usize, buf.as_mut_ptr() as usize, buf.len())
    };
    let n = ret(r)?;
    Ok(&buf[..n])
}

/// `unlinkat(2)`; `AT_REMOVEDIR` removes an empty directory.
pub fn unlinkat(dir: Fd, path: &CStr, flags: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    let r = unsafe { syscall3(nr::__NR_unlinkat as usize, dir.raw(), path.as_ptr() as usize, flags as usize) };
    ret_unit(r)
}

/// `newfstatat(2)` (`fstatat64` on a 32-bit ABI).
pub fn statat(dir: Fd, path: &CStr, flags: u32) -> Result<Stat, Errno> {
    let mut st = core::mem::MaybeUninit::<Stat>::uninit();
    // SAFETY: the kernel fills the whole `stat` on success.
    let r = unsafe {
        syscall4(super::abi::NR_FSTATAT as usize, dir.raw(), path.as_ptr() as usize, st.as_mut_ptr() as usize, flags as usize)
    };
    ret(r)?;
    // SAFETY: initialised by the successful call.
    Ok(unsafe { st.assume_init() })
}

pub fn stat(path: &CStr) -> Result<Stat, Errno> {
    statat(Fd::CWD, path, 0)
}

/// `fstat` through `newfstatat(fd, "", AT_EMPTY_PATH)`.
pub fn fstat(fd: Fd) -> Result<Stat, Errno> {
    statat(fd, c"", AT_EMPTY_PATH)
}

/// `fstatfs(2)`.
fn fstatfs(fd: Fd) -> Result<super::abi::Statfs, Errno> {
    let mut st = core::mem::MaybeUninit::<super::abi::Statfs>::uninit();
    // SAFETY: the kernel fills the whole struct on success.
    let r = unsafe { super::abi::fstatfs(fd.raw(), st.as_mut_ptr()) };
    ret(r)?;
    // SAFETY: initialised by the successful call.
    Ok(unsafe { st.assume_init() })
}

/// The filesystem magic (`f_type`) of the filesystem holding `fd`.
pub fn fstatfs_magic(fd: Fd) -> Result<u64, Errno> {
    fstatfs(fd).map(|st| st.f_type as u64)
}

/// The bytes an unprivileged writer could still store on the filesystem holding `fd`
/// (`f_bavail` blocks of `f_bsize`).
pub fn fstatfs_available(fd: Fd) -> Result<u64, Errno> {
    fstatfs(fd).map(|st| st.f_bavail as u64 * st.f_bsize as u64)
}

/// The filesystem magic of the filesystem holding `path`.
pub fn statfs_magic_path(path: &CStr) -> Result<u64, Errno> {
    let fd = open(path, O_PATH)?;
    fstatfs_magic(fd.fd())
}

pub fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    ret_unit(unsafe { syscall1(nr::__NR_chdir as usize, path.as_ptr() as usize) })
}

pub fn chroot(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    ret_unit(unsafe { syscall1(nr::__NR_chroot as usize, path.as_ptr() as usize) })
}

/// `fchownat(2)`, not following a final symlink.
pub fn lchownat(dir: Fd, path: &CStr, uid: u32, gid: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    let r = unsafe {
        syscall5(nr::__NR_fchownat as usize, dir.raw(), path.as_ptr() as usize, uid as usize, gid as usize, AT_SYMLINK_NOFOLLOW as usize)
    };
    ret_unit(r)
}

/// `fchmod(2)`.
pub fn fchmod(fd: Fd, mode: u32) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    ret_unit(unsafe { syscall2(nr::__NR_fchmod as usize, fd.raw(), mode as usize) })
}

/// `fchmodat(2)`: follows a symlink, so callers use it on files and dirs only.
pub fn chmodat(dir: Fd, path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    ret_unit(unsafe { syscall3(nr::__NR_fchmodat as usize, dir.raw(), path.as_ptr() as usize, mode as usize) })
}

/// `utimensat(2)` with access and modification times (seconds, nanoseconds), not following links.
pub fn lutimensat(dir: Fd, path: &CStr, atime: (i64, i64), mtime: (i64, i64)) -> Result<(), Errno> {
    let times = [
        g::__kernel_timespec { tv_sec: atime.0, tv_nsec: atime.1 },
        g::__kernel_timespec { tv_sec: mtime.0, tv_nsec: mtime.1 },
    ];
    // SAFETY: `times` is two timespecs, as the call reads; `path` is NUL-terminated.
    let r = unsafe {
        syscall4(super::abi::NR_UTIMENSAT as usize, dir.raw(), path.as_ptr() as usize, times.as_ptr() as usize, AT_SYMLINK_NOFOLLOW as usize)
    };
    ret_unit(r)
}

/// `sendfile(2)` from the current offset of `from`: copies inside the kernel.
pub fn sendfile(to: Fd, from: Fd, count: usize) -> Result<usize, Errno> {
    // SAFETY: a null offset pointer means "use and advance the file offset".
    ret(unsafe { syscall4(nr::__NR_sendfile as usize, to.raw(), from.raw(), 0, count) })
}

/// Copies `size` bytes from `from`'s offset to `to`'s, inside the kernel (sendfile);
/// returns how many were copied (fewer when `from` ends early).
pub fn copy_bytes(to: Fd, from: Fd, size: u64) -> Result<u64, Errno> {
    let mut done = 0u64;
    while done < size {
        let n = sendfile(to, from, (size - done).min(1 << 30) as usize)?;
        if n == 0 {
            break;
        }
        done += n as u64;
    }
    Ok(done)
}

/// `memfd_create(2)`: an anonymous file in RAM, close-on-exec.
pub fn memfd_create(name: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `name` is NUL-terminated.
    ret(unsafe { syscall2(nr::__NR_memfd_create as usize, name.as_ptr() as usize, g::MFD_CLOEXEC as usize) }).map(OwnedFd::from_raw)
}

/// `sync(2)`: cannot fail.
pub fn sync() {
    // SAFETY: no arguments.
    unsafe {
        super::syscall0(nr::__NR_sync as usize);
    }
}

/// `syncfs(2)`: writes back the filesystem holding `fd`; reports a write-back error on it
/// that nobody has been told of yet (Linux 5.8), even one an earlier sync(2) met.
pub fn syncfs(fd: Fd) -> Result<(), Errno> {
    // SAFETY: an fd argument only.
    ret_unit(unsafe { syscall1(nr::__NR_syncfs as usize, fd.raw()) })
}

/// `dup3(2)`: makes `to` a copy of `from` (not close-on-exec).
pub fn dup2(from: Fd, to: Fd) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    ret_unit(unsafe { syscall3(nr::__NR_dup3 as usize, from.raw(), to.raw(), 0) })
}

/// `faccessat(2)` with X_OK: is `path` executable?
pub fn is_executable(dir: Fd, path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    ret_unit(unsafe { syscall3(nr::__NR_faccessat as usize, dir.raw(), path.as_ptr() as usize, g::X_OK as usize) })
}

/// `ioctl(2)` with a pointer or integer argument.
pub fn ioctl(fd: Fd, request: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: callers in this module family pass `arg` matching `request`'s contract.
    ret(unsafe { syscall3(nr::__NR_ioctl as usize, fd.raw(), request as usize, arg) })
}

/// The file type of a directory entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Dir,
    File,
    Symlink,
    Block,
    Char,
    Other,
    Unknown,
}

/// One directory entry, its name borrowed from the directory's read buffer (no copy).
pub struct DirEntry<'a> {
    pub kind: FileType,
    name: &'a CStr,
}

impl DirEntry<'_> {
    pub fn name(&self) -> &[u8] {
        self.name.to_bytes()
    }

    /// The name as a C string, for `*at` calls.
    pub fn cname(&self) -> &CStr {
        self.name
    }
}

/// Reads a directory with `getdents64(2)`, skipping `.` and `..`.
///
/// Opening gives a `Dir` even when it fails: the first `next_entry` then returns the
/// error. Most callers treat both the same (nothing to read), and a `Dir` returned as such
/// is built in its caller's place, where a `Result<Dir, _>` would be copied out (2 KiB).
pub struct Dir {
    /// The open directory, or why it could not be opened.
    fd: Result<OwnedFd, Errno>,
    buf: [u8; 2048],
    pos: usize,
    len: usize,
}

impl Dir {
    pub fn open_at(dir: Fd, path: &CStr) -> Dir {
        Dir { fd: openat(dir, path, O_RDONLY | O_DIRECTORY, 0), buf: [0; 2048], pos: 0, len: 0 }
    }

    pub fn open(path: &CStr) -> Dir {
        Self::open_at(Fd::CWD, path)
    }

    /// Whether the directory could be opened, else why not.
    pub fn opened(&self) -> Result<(), Errno> {
        self.fd.as_ref().map(drop).map_err(|e| *e)
    }

    /// The next entry, `Ok(None)` at the end.
    pub fn next_entry(&mut self) -> Result<Option<DirEntry<'_>>, Errno> {
        // The record is found by offsets first: a borrow of `buf` may only be made once no
        // further getdents64 will write to it.
        let (kind, name_at, end) = loop {
            if self.pos >= self.len {
                // SAFETY: the kernel writes at most `buf.len()` bytes of dirents.
                let fd = self.fd.as_ref().map_err(|e| *e)?.fd();
                let r = unsafe { syscall3(nr::__NR_getdents64 as usize, fd.raw(), self.buf.as_mut_ptr() as usize, self.buf.len()) };
                self.len = ret(r)?;
                self.pos = 0;
                if self.len == 0 {
                    return Ok(None);
                }
            }
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name[] NUL-terminated.
            let at = self.pos;
            let rec = &self.buf[at..self.len];
            let reclen = rec.get(16..18).map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]) as usize);
            if reclen < 20 || reclen > rec.len() {
                self.pos = self.len;
                return Err(Errno::IO);
            }
            self.pos += reclen;
            if !matches!(super::cstr::until_nul(&rec[19..reclen]).to_bytes(), b"." | b"..") {
                break (rec[18] as u32, at + 19, at + reclen);
            }
        };
        let kind = match kind {
            g::DT_DIR => FileType::Dir,
            g::DT_REG => FileType::File,
            g::DT_LNK => FileType::Symlink,
            g::DT_BLK => FileType::Block,
            g::DT_CHR => FileType::Char,
            g::DT_UNKNOWN => FileType::Unknown,
            _ => FileType::Other,
        };
        Ok(Some(DirEntry { kind, name: super::cstr::until_nul(&self.buf[name_at..end]) }))
    }
}

/// Opens `into` + NAME read-only for each entry NAME of directory `dir` that `keep`
/// accepts, and hands the name and the descriptor to `f`: one copy of the directory walk
/// for the process and loop device scans of the shutdown and `bundle` roles.
#[inline(never)]
pub fn for_each_opened(dir: &CStr, keep: fn(&[u8]) -> bool, into: &[u8], f: &mut dyn FnMut(&CStr, Fd)) {
    let mut dir = Dir::open(dir);
    // `into` (a short constant) and a file name (at most 255 bytes) fit.
    let mut path = super::PathBuf::<512>::new();
    while let Ok(Some(e)) = dir.next_entry() {
        let name = e.name();
        if !keep(name) {
            continue;
        }
        path.truncate(0);
        if path.push(into).and_then(|p| p.push(name)).is_err() {
            continue;
        }
        if let Ok(fd) = open(path.as_cstr(), O_RDONLY) {
            f(e.cname(), fd.fd());
        }
    }
}

/// The file type bits of a `stat` mode.
pub fn file_type(st: &Stat) -> FileType {
    match st.st_mode & S_IFMT {
        S_IFDIR => FileType::Dir,
        S_IFREG => FileType::File,
        S_IFLNK => FileType::Symlink,
        S_IFBLK => FileType::Block,
        S_IFCHR => FileType::Char,
        _ => FileType::Other,
    }
}

/// A read-only private mapping of a whole file (modules.dep and friends can be large; no heap).
pub struct Mapping {
    ptr: usize,
    len: usize,
}

impl Mapping {
    /// Maps `path`; an empty file maps to an empty slice.
    pub fn open(dir: Fd, path: &CStr) -> Result<Mapping, Errno> {
        let fd = openat(dir, path, O_RDONLY, 0)?;
        let len = fstat(fd.fd())?.st_size as usize;
        if len == 0 {
            // Nothing to map: an empty slice's aligned, non-null address.
            return Ok(Mapping { ptr: core::ptr::NonNull::<u8>::dangling().as_ptr() as usize, len: 0 });
        }
        // SAFETY: a fresh private read-only mapping aliases no Rust memory.
        let r = unsafe {
            super::syscall6(super::abi::NR_MMAP as usize, 0, len, g::PROT_READ as usize, g::MAP_PRIVATE as usize, fd.fd().raw(), 0)
        };
        let ptr = ret(r)?;
        Ok(Mapping { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, alive until drop (or, with `len` 0,
        // the non-null address an empty slice needs).
        unsafe { core::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmaps exactly the mapping this value owns.
            unsafe {
                syscall2(nr::__NR_munmap as usize, self.ptr, self.len);
            }
        }
    }
}

/// `openat2(root, path, RESOLVE_IN_ROOT)`: opens `path` as if `root` were `/`, so absolute
/// symlinks inside a not-yet-entered root resolve within it (Linux 5.6).
pub fn open_in_root(root: Fd, path: &CStr, flags: u32) -> Result<OwnedFd, Errno> {
    let how = g::open_how { flags: (flags | O_CLOEXEC) as u64, mode: 0, resolve: g::RESOLVE_IN_ROOT as u64 };
    // SAFETY: `how` is an open_how of the size passed; `path` is NUL-terminated.
    let r = unsafe {
        syscall4(nr::__NR_openat2 as usize, root.raw(), path.as_ptr() as usize, &how as *const _ as usize, core::mem::size_of::<g::open_how>())
    };
    ret(r).map(OwnedFd::from_raw)
}
