//! Errors as the kernel reports them, with names printable without `core::fmt`.

/// An errno value, as returned (negated) by a failing syscall.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $val:expr,)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($val as u16);)*
            /// The C name (`ENOENT`), or `E?` for numbers outside the table.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $(x if x == $val as u16 => concat!("E", stringify!($name)),)*
                    _ => "E?",
                }
            }
        }
    };
}

use linux_raw_sys::errno as e;
errnos! {
    PERM = e::EPERM, NOENT = e::ENOENT, SRCH = e::ESRCH, INTR = e::EINTR, IO = e::EIO,
    NXIO = e::ENXIO, TOOBIG = e::E2BIG, NOEXEC = e::ENOEXEC, BADF = e::EBADF, CHILD = e::ECHILD,
    AGAIN = e::EAGAIN, NOMEM = e::ENOMEM, ACCES = e::EACCES, FAULT = e::EFAULT,
    NOTBLK = e::ENOTBLK, BUSY = e::EBUSY, EXIST = e::EEXIST, XDEV = e::EXDEV, NODEV = e::ENODEV,
    NOTDIR = e::ENOTDIR, ISDIR = e::EISDIR, INVAL = e::EINVAL, NFILE = e::ENFILE,
    MFILE = e::EMFILE, NOTTY = e::ENOTTY, FBIG = e::EFBIG, NOSPC = e::ENOSPC, SPIPE = e::ESPIPE,
    ROFS = e::EROFS, MLINK = e::EMLINK, RANGE = e::ERANGE, NAMETOOLONG = e::ENAMETOOLONG,
    NOSYS = e::ENOSYS, NOTEMPTY = e::ENOTEMPTY, LOOP = e::ELOOP, NODATA = e::ENODATA,
    OVERFLOW = e::EOVERFLOW, NOTSUP = e::EOPNOTSUPP, NOBUFS = e::ENOBUFS,
    TIMEDOUT = e::ETIMEDOUT, STALE = e::ESTALE, NOKEY = e::ENOKEY, KEYREJECTED = e::EKEYREJECTED,
    UCLEAN = e::EUCLEAN, NOTCONN = e::ENOTCONN, DQUOT = e::EDQUOT, BADMSG = e::EBADMSG,
}
