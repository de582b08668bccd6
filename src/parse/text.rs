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
        written(&self.buf, self.len)
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

    /// Appends `raw[order[0]]`, `raw[order[1]]`, … as hex, with a '-' before the `i`th when
    /// bit `i` of `dashes` is set: one formatter for every UUID layout rdinit prints.
    pub fn push_hex_groups(&mut self, raw: &[u8], order: &[u8], dashes: u16) {
        for (i, &o) in order.iter().enumerate() {
            if dashes >> i & 1 != 0 {
                self.push(b'-');
            }
            self.push_hex(raw.get(usize::from(o)).copied().unwrap_or(0));
        }
    }

    /// Upper-cases ASCII letters (FAT serials are printed that way).
    pub fn make_ascii_uppercase(&mut self) {
        self.buf.make_ascii_uppercase();
    }

    /// Drops trailing `pad` bytes, for space-padded on-disk fields.
    pub fn trim_end(&mut self, pad: u8) {
        while self.as_bytes().last() == Some(&pad) {
            self.len -= 1;
        }
    }
}

/// The first `len` bytes of `buf`: one out-of-line body for every capacity, as it is used
/// everywhere a text is read.
#[inline(never)]
fn written(buf: &[u8], len: u8) -> &[u8] {
    buf.get(..usize::from(len)).unwrap_or(&[])
}

/// Bytes of a little-endian value, most significant first.
pub(crate) const BIG_ENDIAN: [u8; 4] = [3, 2, 1, 0];

/// Where a UUID's groups start: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub(crate) const UUID_DASHES: u16 = 1 << 4 | 1 << 6 | 1 << 8 | 1 << 10;

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
        let mut l = Text::<8>::from_bytes(b"A B  ");
        l.trim_end(b' ');
        assert_eq!(l.as_bytes(), b"A B");
        let mut e = Text::<4>::from_bytes(b"   ");
        e.trim_end(b' ');
        assert!(e.is_empty());
    }

    #[test]
    fn hex_groups() {
        let mut t = Text::<16>::new();
        t.push_hex_groups(&[0x12, 0x34, 0xab], &[2, 0, 1, 7], 1 << 1 | 1 << 3);
        assert_eq!(t.as_bytes(), b"ab-1234-00");
    }
}
