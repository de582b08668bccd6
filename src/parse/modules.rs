//! depmod's text files under /lib/modules/$(uname -r): `modules.dep`, `modules.softdep`,
//! `modules.alias`, `modules.builtin`/`modules.order`, read the way kmod reads them.
//! Paths in them are relative to that directory.

use super::bytes::strip_suffix;
use super::pattern::glob;

/// Whitespace-separated words of a line.
pub type Words<'a> = core::iter::Filter<core::slice::Split<'a, u8, fn(&u8) -> bool>, fn(&&'a [u8]) -> bool>;

fn is_space(c: &u8) -> bool {
    c.is_ascii_whitespace()
}

fn non_empty(s: &&[u8]) -> bool {
    !s.is_empty()
}

/// Whitespace-separated words, as kmod splits its index lines.
fn words(s: &[u8]) -> Words<'_> {
    s.split(is_space as fn(&u8) -> bool).filter(non_empty as fn(&&[u8]) -> bool)
}

/// Lines without blank ones and `#` comments (depmod writes a few).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&c| c == b'\n').filter(|l| {
        let t = l.iter().position(|c| !c.is_ascii_whitespace()).and_then(|i| l.get(i));
        !matches!(t, None | Some(b'#'))
    })
}

/// How a module file is compressed; `finit_module` can take it as is only if the kernel
/// was built for that algorithm.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Compression {
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// The word the kernel prints in /sys/module/compression for this algorithm.
    pub fn sys_name(self) -> &'static [u8] {
        match self {
            Compression::Gzip => b"gzip",
            Compression::Xz => b"xz",
            Compression::Zstd => b"zstd",
        }
    }
}

/// Module file suffixes, longest first so `.ko` does not cut `.ko.xz` short.
const SUFFIXES: [(&[u8], Option<Compression>); 4] = [
    (b".ko.zst", Some(Compression::Zstd)),
    (b".ko.xz", Some(Compression::Xz)),
    (b".ko.gz", Some(Compression::Gzip)),
    (b".ko", None),
];

/// The compression a module path's suffix announces; `None` for a plain `.ko`.
pub fn compression(path: &[u8]) -> Option<Compression> {
    SUFFIXES.iter().find(|(s, _)| path.ends_with(s)).and_then(|&(_, c)| c)
}

/// The basename without its module suffix, not normalised: `crc32c-intel`.
pub fn stem(path: &[u8]) -> &[u8] {
    let base = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    SUFFIXES.iter().find_map(|(s, _)| strip_suffix(base, s)).unwrap_or(base)
}

/// Name equality as the kernel and kmod see it: `-` and `_` are the same byte.
pub fn names_equal(a: &[u8], b: &[u8]) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == norm(y))
}

/// Whether `path` is the file of module `name` (a name, or another path).
pub fn is_module(path: &[u8], name: &[u8]) -> bool {
    names_equal(stem(path), stem(name))
}

/// One `modules.dep` line: a module and everything it needs, deepest last.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct DepEntry<'a> {
    pub path: &'a [u8],
    deps: &'a [u8],
}

impl<'a> DepEntry<'a> {
    /// Paths of the dependencies as depmod lists them: load them in reverse order.
    pub fn deps(&self) -> Words<'a> {
        words(self.deps)
    }
}

/// Parses `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko …`; `None` without a `:`.
pub fn dep_line(line: &[u8]) -> Option<DepEntry<'_>> {
    let colon = line.iter().position(|&c| c == b':')?;
    let mut path = words(line.get(..colon)?);
    let (p, extra) = (path.next()?, path.next());
    extra.is_none().then(|| DepEntry { path: p, deps: line.get(colon + 1..).unwrap_or(&[]) })
}

/// Every well-formed entry of a `modules.dep` file.
pub fn dep_entries(text: &[u8]) -> impl Iterator<Item = DepEntry<'_>> {
    lines(text).filter_map(dep_line)
}

/// The entry of module `name` (`-`/`_` alike; a path is also accepted).
pub fn find_dep<'a>(text: &'a [u8], name: &[u8]) -> Option<DepEntry<'a>> {
    dep_entries(text).find(|e| is_module(e.path, name))
}

/// Whether a list of module paths (`modules.builtin`, `modules.order`) holds `name`.
pub fn listed(text: &[u8], name: &[u8]) -> bool {
    lines(text).any(|l| words(l).next().is_some_and(|p| is_module(p, name)))
}

/// One `softdep MODULE pre: A B post: C` line (modules.softdep or modprobe.d); the names
/// may be aliases (`crypto-crc32c`) to resolve through `modules.alias`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct SoftDep<'a> {
    pub module: &'a [u8],
    rest: &'a [u8],
}

impl<'a> SoftDep<'a> {
    /// Modules to load before this one.
    pub fn pre(&self) -> SoftList<'a> {
        SoftList { words: words(self.rest), want_pre: true, in_pre: None }
    }

    /// Modules to load after this one.
    pub fn post(&self) -> SoftList<'a> {
        SoftList { words: words(self.rest), want_pre: false, in_pre: None }
    }
}

/// Names in one section of a softdep line; `pre:` and `post:` may repeat and interleave,
/// and words before either are ignored, as kmod does.
#[derive(Clone)]
pub struct SoftList<'a> {
    words: Words<'a>,
    want_pre: bool,
    in_pre: Option<bool>,
}

impl<'a> Iterator for SoftList<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let w = self.words.next()?;
            match w {
                b"pre:" => self.in_pre = Some(true),
                b"post:" => self.in_pre = Some(false),
                _ if self.in_pre == Some(self.want_pre) => return Some(w),
                _ => {}
            }
        }
    }
}

/// Parses a `softdep` line; `None` for other lines.
pub fn softdep_line(line: &[u8]) -> Option<SoftDep<'_>> {
    let mut w = words(line);
    if w.next()? != b"softdep" {
        return None;
    }
    let module = w.next()?;
    // `module` lies inside `line`: the rest starts where it ends.
    let end = module.as_ptr() as usize - line.as_ptr() as usize + module.len();
    Some(SoftDep { module, rest: line.get(end..)? })
}

/// The softdep lines for module `name`; a module may have several.
pub fn find_softdeps<'a>(text: &'a [u8], name: &'a [u8]) -> impl Iterator<Item = SoftDep<'a>> {
    lines(text).filter_map(softdep_line).filter(move |s| names_equal(s.module, name))
}

/// One `alias PATTERN MODULE` line of `modules.alias`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Alias<'a> {
    pub pattern: &'a [u8],
    pub module: &'a [u8],
}

/// Parses an `alias` line; `None` for other or malformed lines.
pub fn alias_line(line: &[u8]) -> Option<Alias<'_>> {
    let mut w = words(line);
    if w.next()? != b"alias" {
        return None;
    }
    let (pattern, module) = (w.next()?, w.next()?);
    w.next().is_none().then_some(Alias { pattern, module })
}

/// Every well-formed alias of a `modules.alias` file.
pub fn aliases(text: &[u8]) -> impl Iterator<Item = Alias<'_>> {
    lines(text).filter_map(alias_line)
}

/// Modules whose alias pattern matches `name` (a MODALIAS or `fs-ext4`/`crypto-crc32c`),
/// in file order; the same module may come more than once.
pub fn resolve_alias<'a>(text: &'a [u8], name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    aliases(text).filter(move |a| glob(a.pattern, name)).map(|a| a.module)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/modules/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(stem(b"kernel/fs/ext4/ext4.ko"), b"ext4");
        assert_eq!(stem(b"kernel/arch/x86/crypto/crc32c-intel.ko.xz"), b"crc32c-intel");
        assert_eq!(stem(b"a/b/virtio_blk.ko.zst"), b"virtio_blk");
        assert_eq!(stem(b"x.ko.gz"), b"x");
        assert_eq!(stem(b"ext4"), b"ext4");
        assert_eq!(stem(b"dir/"), b"");
        assert_eq!(stem(b""), b"");
        assert!(is_module(b"kernel/arch/x86/crypto/crc32c-intel.ko.xz", b"crc32c_intel"));
        assert!(is_module(b"kernel/fs/ext4/ext4.ko", b"kernel/fs/ext4/ext4.ko.zst"));
        assert!(!is_module(b"kernel/fs/ext4/ext4.ko", b"ext2"));
        assert!(names_equal(b"crc32c-intel", b"crc32c_intel"));
        assert!(!names_equal(b"crc32c", b"crc32c_intel"));
        assert!(!names_equal(b"ab", b"ac"));
        assert!(is_module(b"kernel/arch/x86/crypto/crc32c-intel.ko", b"crc32c_intel"));
        assert!(!is_module(b"kernel/fs/fat/vfat.ko", b"fat"));
    }

    #[test]
    fn compressions() {
        assert_eq!(compression(b"a.ko"), None);
        assert_eq!(compression(b"a.ko.xz"), Some(Compression::Xz));
        assert_eq!(compression(b"a.ko.zst"), Some(Compression::Zstd));
        assert_eq!(compression(b"a.ko.gz"), Some(Compression::Gzip));
        assert_eq!(compression(b"a.xz"), None);
        assert_eq!(Compression::Zstd.sys_name(), b"zstd");
    }

    #[test]
    fn dep_lines() {
        let e = dep_line(b"kernel/fs/ext4/ext4.ko.zst: kernel/lib/crc16.ko.zst  kernel/fs/jbd2/jbd2.ko.zst\r").unwrap();
        assert_eq!(e.path, b"kernel/fs/ext4/ext4.ko.zst");
        assert_eq!(e.deps().collect::<Vec<_>>(), vec![&b"kernel/lib/crc16.ko.zst"[..], b"kernel/fs/jbd2/jbd2.ko.zst"]);
        assert_eq!(stem(e.path), b"ext4");
        let none = dep_line(b"kernel/fs/mbcache.ko:").unwrap();
        assert_eq!(none.deps().count(), 0);
        assert_eq!(dep_line(b"no colon here"), None);
        assert_eq!(dep_line(b": orphan.ko"), None);
        assert_eq!(dep_line(b"two words.ko: x"), None);
        assert_eq!(dep_line(b""), None);
    }

    #[test]
    fn real_modules_dep() {
        let text = fixture("modules.dep");
        assert_eq!(dep_entries(&text).count(), 24);
        let ext4 = find_dep(&text, b"ext4").unwrap();
        assert_eq!(ext4.deps().count(), 3);
        let vp = find_dep(&text, b"virtio_pci").unwrap();
        assert_eq!(vp.deps().next_back(), Some(&b"kernel/drivers/virtio/virtio_ring.ko"[..]));
        assert_eq!(find_dep(&text, b"crc32c_intel").unwrap().path, b"kernel/arch/x86/crypto/crc32c-intel.ko");
        assert_eq!(
            find_dep(&text, b"kernel/fs/fat/vfat.ko").unwrap().deps().next(),
            Some(&b"kernel/fs/fat/fat.ko"[..])
        );
        assert_eq!(find_dep(&text, b"nonexistent"), None);
        // Garbage around real lines is skipped.
        let mut messy = b"# comment\n\n   \ngarbage line\n".to_vec();
        messy.extend_from_slice(&text);
        assert_eq!(dep_entries(&messy).count(), 24);
    }

    #[test]
    fn softdeps() {
        let s = softdep_line(b"softdep ext4 pre: crypto-crc32c").unwrap();
        assert_eq!(s.module, b"ext4");
        assert_eq!(s.pre().collect::<Vec<_>>(), vec![&b"crypto-crc32c"[..]]);
        assert_eq!(s.post().count(), 0);
        let m = softdep_line(b"  softdep\tm ignored pre: a b post: c pre: d").unwrap();
        assert_eq!(m.pre().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"d"]);
        assert_eq!(m.post().collect::<Vec<_>>(), vec![&b"c"[..]]);
        assert_eq!(softdep_line(b"softdep cifs gcm").unwrap().pre().count(), 0);
        assert_eq!(softdep_line(b"softdepx a pre: b"), None);
        assert_eq!(softdep_line(b"softdep"), None);
        assert_eq!(softdep_line(b"softdep "), None);
        assert_eq!(softdep_line(b"alias a b"), None);
        assert_eq!(softdep_line(b"# softdep a pre: b"), None);
        assert_eq!(softdep_line(b"softdep m").unwrap().module, b"m");
        assert_eq!(softdep_line(b"softdep m").unwrap().pre().count(), 0);
        let t = softdep_line(b"softdep\tm\tpre:\ta\r").unwrap();
        assert_eq!((t.module, t.pre().collect::<Vec<_>>()), (&b"m"[..], vec![&b"a"[..]]));
        let text = fixture("modules.softdep");
        let ext4: Vec<_> = find_softdeps(&text, b"ext4").flat_map(|s| s.pre()).collect();
        assert_eq!(ext4, vec![&b"crypto-crc32c"[..]]);
        assert_eq!(find_softdeps(&text, b"ksmbd").count(), 5);
    }

    #[test]
    fn real_aliases() {
        let text = fixture("modules.alias");
        let a = alias_line(b"alias fs-ext3 ext4").unwrap();
        assert_eq!((a.pattern, a.module), (&b"fs-ext3"[..], &b"ext4"[..]));
        assert_eq!(alias_line(b"alias onlyone"), None);
        assert_eq!(alias_line(b"alias a b c"), None);
        assert_eq!(alias_line(b"options x y"), None);
        let m: Vec<_> = resolve_alias(&text, b"crypto-crc32c").collect();
        assert_eq!(m, vec![&b"crc32c_intel"[..], b"crc32c_generic"]);
        let v: Vec<_> = resolve_alias(&text, b"pci:v00001AF4d00001042sv00001AF4sd00001042bc01sc80i00").collect();
        assert_eq!(v, vec![&b"virtio_pci"[..]]);
        let n: Vec<_> = resolve_alias(&text, b"pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02").collect();
        assert_eq!(n, vec![&b"nvme"[..]]);
        assert_eq!(resolve_alias(&text, b"virtio:d00000002v00001AF4").next(), Some(&b"virtio_blk"[..]));
        assert_eq!(resolve_alias(&text, b"fs-iso9660").next(), Some(&b"isofs"[..]));
        assert_eq!(resolve_alias(&text, b"nothing").next(), None);
    }

    #[test]
    fn builtin_lists() {
        let text = fixture("modules.builtin");
        assert!(listed(&text, b"binfmt_elf"));
        assert!(listed(&text, b"amd_uncore"));
        assert!(!listed(&text, b"ext4"));
        assert!(!listed(b"", b"ext4"));
    }
}
