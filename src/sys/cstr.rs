//! Paths as NUL-terminated strings built in a stack buffer: no heap.
use core::ffi::CStr;

/// A path of at most `N - 1` bytes, always NUL-terminated. `push*` report overflow as
/// `ENAMETOOLONG` rather than truncating, so an overlong name never opens the wrong file.
#[derive(Clone)]
pub struct PathBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> PathBuf<N> {
    pub const fn new() -> Self {
        PathBuf { buf: [0; N], len: 0 }
    }

    /// A path made of `parts` concatenated.
    pub fn from_parts(parts: &[&[u8]]) -> Result<Self, super::Errno> {
        let mut p = Self::new();
        for part in parts {
            p.push(part)?;
        }
        Ok(p)
    }

    /// Appends raw bytes (no separator). A NUL inside `bytes` ends the path there.
    pub fn push(&mut self, bytes: &[u8]) -> Result<&mut Self, super::Errno> {
        let end = self.len + bytes.len();
        if end >= N {
            return Err(super::Errno::NAMETOOLONG);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        self.buf[end] = 0;
        Ok(self)
    }

    /// Appends `/name` unless the path already ends with `/`.
    pub fn join(&mut self, name: &[u8]) -> Result<&mut Self, super::Errno> {
        if self.len == 0 || self.buf[self.len - 1] != b'/' {
            self.push(b"/")?;
        }
        self.push(name)
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
        // The buffer is zeroed past `len` and `push` always writes the terminator.
        match CStr::from_bytes_until_nul(&self.buf[..=self.len]) {
            Ok(s) => s,
            Err(_) => c"",
        }
    }
}

impl<const N: usize> Default for PathBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The bytes of a C string up to its NUL.
pub fn bytes(s: &CStr) -> &[u8] {
    s.to_bytes()
}
