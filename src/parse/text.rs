//! A tiny fixed-capacity byte string: probe results (UUIDs, labels, module names) must be
//! owned values without an allocator.

/// Bytes kept inline, at most `N`; text that does not fit is cut, never a panic.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Text<const N: usize> {
    buf: [u8; N],
    /// `N` is at most 255 for every text rdinit keeps; a byte keeps the structs small.
    len: u8,
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Text<N> {
    /// The empty text, usable in `const` tables.
    pub const fn new() -> Self {
        const { assert!(N < 256, "the length is kept in a byte") };
        Self { buf: [0; N], len: 0 }
    }

    /// Copies `s`, cut to the capacity.
    pub fn from_bytes(s: &[u8]) -> Self {
        let mut t = Self::new();
        t.extend(s);
        t
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Forgets the contents.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// True when nothing was written (an absent label or UUID).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one byte; false (and nothing written) when full.
    pub fn push(&mut self, b: u8) -> bool {
        match self.buf.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Appends as much of `s` as fits; false if some was cut.
    pub fn extend(&mut self, s: &[u8]) -> bool {
        s.iter().all(|&b| self.push(b))
    }

    /// Appends a byte as two lowercase hex digits (UUIDs are printed this way).
    pub fn push_hex(&mut self, b: u8) -> bool {
        self.push(hex_digit(b >> 4)) && self.push(hex_digit(b & 15))
    }

    /// Drops trailing bytes in `set`, for space- or NUL-padded on-disk fields.
    pub fn trim_end(&mut self, set: &[u8]) {
        while let Some(&last) = self.as_bytes().last() {
            if !set.contains(&last) {
                break;
            }
            self.len -= 1;
        }
    }
}

/// Lowercase hex digit of the low nibble.
pub(crate) fn hex_digit(n: u8) -> u8 {
    let n = n & 15;
    if n < 10 {
        b'0' + n
    } else {
        b'a' + n - 10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full() {
        let mut t = Text::<3>::new();
        assert!(t.is_empty());
        assert!(t.extend(b"ab"));
        assert!(!t.extend(b"cd"));
        assert_eq!(t.as_bytes(), b"abc");
        assert!(!t.push(b'x'));
        let mut z = Text::<0>::new();
        assert!(!z.push(b'a'));
        assert_eq!(z.as_bytes(), b"");
    }

    #[test]
    fn hex_and_trim() {
        let mut t = Text::<8>::new();
        t.push_hex(0x0f);
        t.push_hex(0xa0);
        assert_eq!(t.as_bytes(), b"0fa0");
        let mut l = Text::<8>::from_bytes(b"AB  \0 ");
        l.trim_end(b" \0");
        assert_eq!(l.as_bytes(), b"AB");
        let mut e = Text::<4>::from_bytes(b"   ");
        e.trim_end(b" ");
        assert!(e.is_empty());
    }
}
