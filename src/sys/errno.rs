//! Errors as the kernel reports them, with names printable without `core::fmt`.

/// An errno value, as returned (negated) by a failing syscall.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $val:expr,)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($val as u16);)*
        }
        /// `[number, length, name...]` records: a table is far smaller than a `match`.
        const NAMES: &[u8] = concat_bytes_table!($($name = $val,)*);
    };
}

/// Builds the `NAMES` table at compile time.
macro_rules! concat_bytes_table {
    ($($name:ident = $val:expr,)*) => {{
        const LEN: usize = 0 $(+ 2 + stringify!($name).len())*;
        const TABLE: [u8; LEN] = {
            let mut out = [0u8; LEN];
            let mut at = 0;
            $(
                let name = stringify!($name).as_bytes();
                out[at] = $val as u8;
                out[at + 1] = name.len() as u8;
                let mut i = 0;
                while i < name.len() {
                    out[at + 2 + i] = name[i];
                    i += 1;
                }
                at += 2 + name.len();
            )*
            let _ = at;
            out
        };
        &TABLE
    }};
}

impl Errno {
    /// The C name without its `E` (`NOENT`), or `?` for numbers outside the table.
    pub fn name(self) -> &'static [u8] {
        let mut rest = NAMES;
        while let [number, len, tail @ ..] = rest {
            let (name, next) = tail.split_at((*len as usize).min(tail.len()));
            if *number as u16 == self.0 {
                return name;
            }
            rest = next;
        }
        b"?"
    }
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
