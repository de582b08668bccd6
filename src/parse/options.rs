//! Mount option strings (`ro,lowerdir=a:b,upperdir=u`) built in a caller's fixed buffer, for
//! mount(2)'s data argument. An option that does not fit is refused whole: a truncated
//! `lowerdir=` would silently mount the wrong stack.

/// The option did not fit (or [`OptionString::list_item`] was called with no list open);
/// the string is unchanged.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Full;

/// A comma-separated option string, always NUL-terminated inside `buf`.
pub struct OptionString<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// A `name=` list is open and `list_item` may extend it.
    in_list: bool,
}

impl<'b> OptionString<'b> {
    /// Starts an empty string in `buf`; one byte of it is kept for the NUL.
    pub fn new(buf: &'b mut [u8]) -> Self {
        let mut s = Self { buf, len: 0, in_list: false };
        s.terminate();
        s
    }

    /// The options, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The options with their NUL, as mount(2) wants them (empty only if `buf` was empty).
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        self.buf.get(..self.len + 1).unwrap_or(&[])
    }

    /// Length without the NUL.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first option.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a bare option: `ro`.
    pub fn flag(&mut self, name: &[u8]) -> Result<&mut Self, Full> {
        self.atomic(false, |s| {
            s.comma()?;
            s.put_all(name, false)
        })
    }

    /// Appends `name=value` as is, for filesystems that take no escapes (ext4, vfat, …).
    pub fn pair(&mut self, name: &[u8], value: &[u8]) -> Result<&mut Self, Full> {
        self.atomic(false, |s| {
            s.comma()?;
            s.put_all(name, false)?;
            s.put(b'=')?;
            s.put_all(value, false)
        })
    }

    /// Appends `name=value` with `\`, `,` and `:` escaped, as overlayfs reads
    /// `upperdir=`/`workdir=` paths.
    pub fn pair_escaped(&mut self, name: &[u8], value: &[u8]) -> Result<&mut Self, Full> {
        self.atomic(false, |s| {
            s.comma()?;
            s.put_all(name, false)?;
            s.put(b'=')?;
            s.put_all(value, true)
        })
    }

    /// Appends a whole option list verbatim (a user's `rootflags=`); empty adds nothing.
    pub fn raw(&mut self, options: &[u8]) -> Result<&mut Self, Full> {
        self.atomic(false, |s| {
            if !options.is_empty() {
                s.comma()?;
                s.put_all(options, false)?;
            }
            Ok(())
        })
    }

    /// Opens `name=` for a `:`-separated list such as overlayfs's `lowerdir=`.
    pub fn list(&mut self, name: &[u8]) -> Result<&mut Self, Full> {
        self.atomic(true, |s| {
            s.comma()?;
            s.put_all(name, false)?;
            s.put(b'=')
        })
    }

    /// Adds one escaped item to the open list (overlayfs: first item = top layer).
    pub fn list_item(&mut self, item: &[u8]) -> Result<&mut Self, Full> {
        if !self.in_list {
            return Err(Full);
        }
        self.atomic(true, |s| {
            if s.as_bytes().last() != Some(&b'=') {
                s.put(b':')?;
            }
            s.put_all(item, true)
        })
    }

    /// Runs one append; on `Full` puts everything back as it was.
    fn atomic(&mut self, in_list: bool, f: impl FnOnce(&mut Self) -> Result<(), Full>) -> Result<&mut Self, Full> {
        let len = self.len;
        let result = f(self);
        match result {
            Ok(()) => self.in_list = in_list,
            Err(_) => self.len = len,
        }
        self.terminate();
        result.map(|()| self)
    }

    fn terminate(&mut self) {
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = 0;
        }
    }

    fn put(&mut self, b: u8) -> Result<(), Full> {
        // The last byte of `buf` is the NUL's.
        if self.len + 1 >= self.buf.len() {
            return Err(Full);
        }
        *self.buf.get_mut(self.len).ok_or(Full)? = b;
        self.len += 1;
        Ok(())
    }

    fn put_all(&mut self, s: &[u8], escape: bool) -> Result<(), Full> {
        for &b in s {
            if escape && matches!(b, b'\\' | b',' | b':') {
                self.put(b'\\')?;
            }
            self.put(b)?;
        }
        Ok(())
    }

    fn comma(&mut self) -> Result<(), Full> {
        if self.len > 0 {
            self.put(b',')?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options() {
        let mut buf = [0xffu8; 128];
        let mut o = OptionString::new(&mut buf);
        assert!(o.is_empty());
        assert_eq!(o.as_bytes_with_nul(), b"\0");
        o.list(b"lowerdir").unwrap().list_item(b"/b/02-x.sb").unwrap().list_item(b"/b/a:b,c\\d").unwrap();
        o.pair_escaped(b"upperdir", b"/c/up,per").unwrap().pair(b"workdir", b"/c/work").unwrap();
        o.flag(b"index=off").unwrap();
        assert_eq!(o.as_bytes(), br"lowerdir=/b/02-x.sb:/b/a\:b\,c\\d,upperdir=/c/up\,per,workdir=/c/work,index=off");
        assert_eq!(o.as_bytes_with_nul().last(), Some(&0));
        assert_eq!(o.len() + 1, o.as_bytes_with_nul().len());
        // The list is closed by other options.
        assert_eq!(o.list_item(b"x").err(), Some(Full));
    }

    /// Linux 6.18's overlayfs accepted exactly this string from mount(2) and showed all three
    /// lower directories (`l:1`, `l,2`, `l\3`) and the upper one (`up,per`).
    #[test]
    fn escapes_accepted_by_the_kernel() {
        let mut buf = [0u8; 256];
        let mut o = OptionString::new(&mut buf);
        o.list(b"lowerdir").unwrap();
        for dir in [&b"/tmp/ov/l:1"[..], b"/tmp/ov/l,2", b"/tmp/ov/l\\3"] {
            o.list_item(dir).unwrap();
        }
        o.pair_escaped(b"upperdir", b"/tmp/ov/up,per").unwrap().pair_escaped(b"workdir", b"/tmp/ov/work").unwrap();
        assert_eq!(
            o.as_bytes(),
            br"lowerdir=/tmp/ov/l\:1:/tmp/ov/l\,2:/tmp/ov/l\\3,upperdir=/tmp/ov/up\,per,workdir=/tmp/ov/work"
        );
    }

    #[test]
    fn raw_and_flags() {
        let mut buf = [0u8; 64];
        let mut o = OptionString::new(&mut buf);
        o.raw(b"").unwrap();
        assert!(o.is_empty());
        o.flag(b"ro").unwrap().raw(b"data=journal,noatime").unwrap().pair(b"errors", b"remount-ro").unwrap();
        assert_eq!(o.as_bytes(), b"ro,data=journal,noatime,errors=remount-ro");
        let mut b2 = [0u8; 8];
        let mut empty_list = OptionString::new(&mut b2);
        empty_list.list(b"l").unwrap();
        assert_eq!(empty_list.as_bytes(), b"l=");
        assert_eq!(empty_list.list_item(b"").unwrap().as_bytes(), b"l=");
    }

    #[test]
    fn full_is_atomic() {
        let mut buf = [0u8; 12];
        let mut o = OptionString::new(&mut buf);
        o.flag(b"ro").unwrap();
        assert_eq!(o.pair(b"upperdir", b"/long/path").err(), Some(Full));
        assert_eq!(o.as_bytes_with_nul(), b"ro\0");
        // Exactly fits: 11 bytes + NUL.
        o.list(b"lower").unwrap().list_item(b"ab").unwrap();
        assert_eq!(o.as_bytes(), b"ro,lower=ab");
        assert_eq!(o.list_item(b"c").err(), Some(Full));
        assert_eq!(o.as_bytes_with_nul(), b"ro,lower=ab\0");
        // Escaping counts towards the limit.
        let mut b3 = [0u8; 4];
        let mut e = OptionString::new(&mut b3);
        assert_eq!(e.list(b"l").unwrap().list_item(b":").err(), Some(Full));
        assert_eq!(e.as_bytes(), b"l=");
        assert_eq!(e.list_item(b"a").unwrap().as_bytes(), b"l=a");
    }

    #[test]
    fn degenerate_buffers() {
        let mut none: [u8; 0] = [];
        let mut o = OptionString::new(&mut none);
        assert_eq!(o.flag(b"ro").err(), Some(Full));
        assert_eq!(o.as_bytes_with_nul(), b"");
        let mut one = [7u8; 1];
        let mut p = OptionString::new(&mut one);
        assert_eq!(p.flag(b"r").err(), Some(Full));
        assert_eq!(p.as_bytes_with_nul(), b"\0");
        assert_eq!(OptionString::new(&mut [0u8; 4]).list_item(b"x").err(), Some(Full));
    }
}
