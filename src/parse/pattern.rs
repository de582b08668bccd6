//! Name matching: fnmatch-style globs (modalias patterns, `load=`/`noload=` lists) and the
//! natural order bundles are stacked in.

use core::cmp::Ordering;

/// Whether `pat` at `[` is a bracket class matching `c`: `Some((matched, length))`,
/// `None` when unterminated (then `[` is an ordinary byte, as in fnmatch).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *pat.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if lo == b'\\' {
            i += 1;
            lo = *pat.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        // `a-z` is a range; a `-` just before `]` is itself.
        if pat.get(i) == Some(&b'-') && pat.get(i + 1).is_some_and(|&x| x != b']') {
            i += 1;
            hi = *pat.get(i)?;
            if hi == b'\\' {
                i += 1;
                hi = *pat.get(i)?;
            }
            i += 1;
        }
        matched |= lo <= c && c <= hi;
    }
}

/// How many pattern bytes at `pat` match the single byte `c`, if they do (not for `*`).
fn one(pat: &[u8], c: u8) -> Option<usize> {
    match pat {
        [b'?', ..] => Some(1),
        [b'[', ..] => match class(pat, c) {
            Some((true, len)) => Some(len),
            Some((false, _)) => None,
            None => (c == b'[').then_some(1),
        },
        [b'\\', esc, ..] => (c == *esc).then_some(2),
        [p, ..] => (c == *p).then_some(1),
        [] => None,
    }
}

/// fnmatch(3) without flags, as kmod matches modaliases: `*` (also across `/`), `?`,
/// `[a-z]`, `[!x]`, `\` escapes. Iterative: a `*` only ever moves its own restart point,
/// so the cost is at most pattern × name, never exponential.
pub fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where to resume after the last `*`: pattern index after it, name index it took up to.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let rest = pattern.get(p..).unwrap_or(&[]);
        if let Some((b'*', _)) = rest.split_first() {
            p += 1;
            star = Some((p, n));
            continue;
        }
        match name.get(n) {
            None if rest.is_empty() => return true,
            Some(&c) => {
                if let Some(len) = one(rest, c) {
                    p += len;
                    n += 1;
                    continue;
                }
            }
            None => {}
        }
        // Mismatch: let the last `*` swallow one more byte, if there is one.
        match star {
            Some((sp, sn)) if sn < name.len() => {
                star = Some((sp, sn + 1));
                p = sp;
                n = sn + 1;
            }
            _ => return false,
        }
    }
}

/// Whether any item of a comma list of globs matches (`load=05-*,firefox`); empty items
/// match nothing.
pub fn matches_any(list: &[u8], name: &[u8]) -> bool {
    list.split(|&c| c == b',').any(|p| !p.is_empty() && glob(p, name))
}

fn digit_run(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.get(..n).unwrap_or(&[])
}

/// Order with digit runs compared as numbers (`2-x.sb` before `10-y.sb`), so bundles stack
/// as their authors number them; equal names by that measure fall back to byte order.
pub fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    loop {
        let (ra, rb) = (a.get(i..).unwrap_or(&[]), b.get(j..).unwrap_or(&[]));
        let (x, y) = match (ra.first(), rb.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => (x, y),
        };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let (da, db) = (digit_run(ra), digit_run(rb));
            let strip = |d: &[u8]| {
                let z = d.iter().take_while(|&&c| c == b'0').count();
                d.len() - z
            };
            let (na, nb) = (strip(da), strip(db));
            // Same length without leading zeros: the byte order is the numeric order.
            let ord = na.cmp(&nb).then_with(|| da.get(da.len() - na..).cmp(&db.get(db.len() - nb..)));
            if ord != Ordering::Equal {
                return ord;
            }
            i += da.len();
            j += db.len();
        } else {
            if x != y {
                return x.cmp(y);
            }
            i += 1;
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(glob(b"", b""));
        assert!(!glob(b"", b"a"));
        assert!(glob(b"*", b""));
        assert!(glob(b"*", b"anything/with/slashes"));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"*.sb", b"05-devel.sb"));
        assert!(!glob(b"*.sb", b"05-devel.sb.bak"));
        assert!(glob(b"05-*", b"05-"));
        assert!(glob(b"a*b*c", b"axxbyybzzc"));
        assert!(!glob(b"a*b*c", b"axxbyyb"));
        assert!(glob(b"**a", b"a"));
        assert!(!glob(b"abc", b"ab"));
        assert!(!glob(b"ab", b"abc"));
    }

    #[test]
    fn glob_classes_and_escapes() {
        assert!(glob(b"[a-c]x", b"bx"));
        assert!(!glob(b"[a-c]x", b"dx"));
        assert!(glob(b"[!a-c]x", b"dx"));
        assert!(glob(b"[^a-c]x", b"dx"));
        assert!(!glob(b"[!a-c]x", b"ax"));
        assert!(glob(b"[]]", b"]"));
        assert!(glob(b"[!]]", b"a"));
        assert!(glob(b"[a-]", b"-"));
        assert!(glob(b"[\\]]", b"]"));
        // Unterminated class: '[' is literal.
        assert!(glob(b"[ab", b"[ab"));
        assert!(!glob(b"[ab", b"a"));
        assert!(glob(b"\\*", b"*"));
        assert!(!glob(b"\\*", b"x"));
        assert!(glob(b"a\\", b"a\\"));
    }

    #[test]
    fn glob_real_modaliases() {
        let name = b"pci:v00001AF4d00001042sv00001AF4sd00001042bc01sc80i00";
        assert!(glob(b"pci:v00001AF4d*sv*sd*bc*sc*i*", name));
        assert!(!glob(b"pci:v*d*sv*sd*bc01sc08i02*", name));
        assert!(glob(b"pci:v*d*sv*sd*bc01sc08i02*", b"pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02"));
        assert!(glob(b"virtio:d00000002v*", b"virtio:d00000002v00001AF4"));
        assert!(glob(b"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", b"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"));
    }

    #[test]
    fn glob_no_blowup() {
        let name = [b'a'; 200];
        let mut pat = Vec::new();
        for _ in 0..50 {
            pat.extend_from_slice(b"*a");
        }
        pat.push(b'b');
        let t = std::time::Instant::now();
        assert!(!glob(&pat, &name));
        assert!(t.elapsed().as_millis() < 500);
    }

    #[test]
    fn comma_lists() {
        assert!(matches_any(b"05-*,firefox", b"firefox"));
        assert!(matches_any(b"05-*,firefox", b"05-devel"));
        assert!(!matches_any(b"05-*,firefox", b"firefox-esr"));
        assert!(!matches_any(b"", b""));
        assert!(!matches_any(b",,", b""));
        assert!(matches_any(b",x,", b"x"));
    }

    #[test]
    fn natural_order() {
        use Ordering::*;
        assert_eq!(natural_cmp(b"2-x.sb", b"10-y.sb"), Less);
        assert_eq!(natural_cmp(b"10-y.sb", b"2-x.sb"), Greater);
        assert_eq!(natural_cmp(b"a", b"a"), Equal);
        assert_eq!(natural_cmp(b"", b"a"), Less);
        assert_eq!(natural_cmp(b"01-core", b"1-core"), Less);
        assert_eq!(natural_cmp(b"1-core", b"01-core"), Greater);
        assert_eq!(natural_cmp(b"x9", b"x10"), Less);
        assert_eq!(natural_cmp(b"x99999999999999999999999", b"x100000000000000000000000"), Less);
        let mut v: Vec<&[u8]> = vec![
            b"10-extra.sb",
            b"01-core.sb",
            b"2-x.sb",
            b"05-devel.sb",
            b"04-apps.sb",
            b"001-a.sb",
            b"b.sb",
            b"a.sb",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        let expect: Vec<&[u8]> = vec![
            b"001-a.sb",
            b"01-core.sb",
            b"2-x.sb",
            b"04-apps.sb",
            b"05-devel.sb",
            b"10-extra.sb",
            b"a.sb",
            b"b.sb",
        ];
        assert_eq!(v, expect);
    }
}
