//! Paths as NUL-terminated strings built in a stack buffer: no heap.
use core::ffi::CStr;

/// A path of at most `N - 1` bytes, always NUL-terminated. `push*` report overflow as
/// `ENAMETOOLONG` rather than truncating, so an overlong name never opens the wrong file.
pub type PathBuf<const N: usize> = PathStore<[u8; N]>;

/// A path in a buffer `B`: `[u8; N]` to own one, `[u8]` (what a `PathBuf<N>` derefs to) to
/// work on one. The methods are on the `[u8]` form, so the binary carries one body of
/// each, not one per capacity. A path is built in place (`new`, then `push`): one made and
/// returned in a `Result` would be copied out of it, its whole buffer, at each caller.
#[derive(Clone)]
pub struct PathStore<B: ?Sized> {
    len: usize,
    buf: B,
}

impl<const N: usize> PathStore<[u8; N]> {
    pub const fn new() -> Self {
        PathStore { len: 0, buf: [0; N] }
    }
}

impl<const N: usize> core::ops::Deref for PathStore<[u8; N]> {
    type Target = PathStore<[u8]>;
    fn deref(&self) -> &PathStore<[u8]> {
        self
    }
}

impl<const N: usize> core::ops::DerefMut for PathStore<[u8; N]> {
    fn deref_mut(&mut self) -> &mut PathStore<[u8]> {
        self
    }
}

impl PathStore<[u8]> {
    /// Appends raw bytes (no separator). A NUL inside `bytes` ends the path there.
    pub fn push(&mut self, bytes: &[u8]) -> Result<&mut Self, super::Errno> {
        self.len = append(&mut self.buf, self.len, bytes)?;
        Ok(self)
    }

    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.buf[len] = 0;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_cstr(&self) -> &CStr {
        as_cstr(&self.buf, self.len)
    }
}

impl<const N: usize> Default for PathBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// `push` always writes the terminator at `len`.
fn as_cstr(buf: &[u8], len: usize) -> &CStr {
    until_nul(buf.get(..=len).unwrap_or(&[]))
}

/// A `'static` C string passed as one pointer (a `&CStr` is two words): message templates,
/// where the length register costs an instruction at each of a hundred call sites.
#[derive(Clone, Copy)]
pub struct ThinCStr(*const core::ffi::c_char);

impl ThinCStr {
    pub const fn new(s: &'static CStr) -> ThinCStr {
        ThinCStr(s.as_ptr())
    }

    /// The bytes, without the NUL.
    pub fn to_bytes(self) -> &'static [u8] {
        // SAFETY: made only from a `&'static CStr` (`new`): NUL-terminated, never freed.
        unsafe { CStr::from_ptr(self.0) }.to_bytes()
    }
}

/// The C strings packed in `list`, each ended by its NUL (`b"a\0b\0"`): a table of `&CStr`
/// would spend 16 bytes of pointer and length on each.
pub fn packed(list: &[u8]) -> impl Iterator<Item = &CStr> {
    list.split_inclusive(|&b| b == 0).map(until_nul)
}

/// `bytes` up to its first NUL as a C string; the empty string if it holds none. A plain
/// loop: core's `from_bytes_until_nul` brings a word-at-a-time memchr.
#[inline(never)]
pub fn until_nul(bytes: &[u8]) -> &CStr {
    match bytes.iter().position(|&b| b == 0) {
        // SAFETY: the slice ends at its first NUL, so it is NUL-terminated with none inside.
        Some(end) => unsafe { CStr::from_bytes_with_nul_unchecked(&bytes[..=end]) },
        None => c"",
    }
}

/// Copies `bytes` into `buf` at `len` and NUL-terminates; the new length.
fn append(buf: &mut [u8], len: usize, bytes: &[u8]) -> Result<usize, super::Errno> {
    let end = len + bytes.len();
    let dst = buf.get_mut(len..=end).ok_or(super::Errno::NAMETOOLONG)?;
    let (last, body) = dst.split_last_mut().ok_or(super::Errno::NAMETOOLONG)?;
    body.copy_from_slice(bytes);
    *last = 0;
    Ok(end)
}

/// Formats `value` in decimal into `buf`, returning the digits.
pub fn format_u64(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_lists_give_each_string() {
        let got: Vec<&[u8]> = packed(b"memory\0bin\0l\0").map(|c| c.to_bytes()).collect();
        assert_eq!(got, [&b"memory"[..], b"bin", b"l"]);
    }
}
