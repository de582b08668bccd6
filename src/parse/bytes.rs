//! Panic-free byte helpers shared by the parsers. core's `strip_prefix`, `chunks_exact` and
//! `copy_from_slice` keep a panic branch unless inlined; these have none to begin with.

/// `N` bytes at `off`, if the input is long enough.
pub(crate) fn arr<const N: usize>(h: &[u8], off: usize) -> Option<[u8; N]> {
    h.get(off..off.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn le16(h: &[u8], off: usize) -> Option<u16> {
    arr(h, off).map(u16::from_le_bytes)
}

pub(crate) fn le32(h: &[u8], off: usize) -> Option<u32> {
    arr(h, off).map(u32::from_le_bytes)
}

pub(crate) fn le64(h: &[u8], off: usize) -> Option<u64> {
    arr(h, off).map(u64::from_le_bytes)
}

/// `s` without `prefix`, if it starts with it.
pub(crate) fn strip_prefix<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = s.split_at_checked(prefix.len())?;
    (head == prefix).then_some(tail)
}

/// `s` without `suffix`, if it ends with it.
pub(crate) fn strip_suffix<'a>(s: &'a [u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = s.split_at_checked(s.len().checked_sub(suffix.len())?)?;
    (tail == suffix).then_some(head)
}

/// The position of `word` among the space-separated words of `list`: a table of slices
/// would spend 16 bytes of pointer and length on each word besides its letters.
pub(crate) fn word_index(list: &[u8], word: &[u8]) -> Option<usize> {
    list.split(|&b| b == b' ').position(|w| w == word)
}

/// Moves `buf[from..]` down to `to` (not above `from`), as `copy_within` does, in pieces
/// that do not overlap: memcpy, where `copy_within` brings in compiler_builtins' memmove
/// (364 bytes on aarch64).
#[cfg(any(feature = "live", feature = "shutdown"))]
#[inline(never)]
pub(crate) fn move_down(buf: &mut [u8], from: usize, to: usize) {
    let gap = from.saturating_sub(to);
    let mut at = from;
    while gap > 0 && at < buf.len() {
        let (low, high) = buf.split_at_mut(at);
        let n = gap.min(high.len());
        if let (Some(dst), Some(src)) = (low.get_mut(at - gap..at - gap + n), high.get(..n)) {
            dst.copy_from_slice(src);
        }
        at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(feature = "live", feature = "shutdown"))]
    fn move_down_moves_like_copy_within() {
        for (from, to) in [(0, 0), (3, 0), (5, 2), (9, 1), (10, 0), (4, 4)] {
            let mut want: Vec<u8> = (0..10).collect();
            want.copy_within(from.., to);
            let mut got: Vec<u8> = (0..10).collect();
            move_down(&mut got, from, to);
            assert_eq!(got, want, "from {from} to {to}");
        }
    }

    #[test]
    fn words_are_found_by_position() {
        assert_eq!(word_index(b"add remove change", b"add"), Some(0));
        assert_eq!(word_index(b"add remove change", b"change"), Some(2));
        assert_eq!(word_index(b"add remove change", b"chan"), None);
        assert_eq!(word_index(b"add remove change", b""), None);
        assert_eq!(word_index(b"add remove change", b"add remove"), None);
    }

    #[test]
    fn helpers() {
        assert_eq!(le16(&[1, 2, 3], 1), Some(0x0302));
        assert_eq!(le32(&[1, 2, 3], 0), None);
        assert_eq!(le64(&[0; 8], usize::MAX), None);
        assert_eq!(strip_prefix(b"abc", b"ab"), Some(&b"c"[..]));
        assert_eq!(strip_prefix(b"abc", b"abcd"), None);
        assert_eq!(strip_prefix(b"abc", b"b"), None);
        assert_eq!(strip_suffix(b"a.ko", b".ko"), Some(&b"a"[..]));
        assert_eq!(strip_suffix(b"ko", b".ko"), None);
        assert_eq!(strip_suffix(b"", b""), Some(&b""[..]));
    }
}
