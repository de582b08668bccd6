//! Name patterns: fnmatch-style globs and the natural order bundles are stacked in. The
//! input is three NUL-separated parts: a pattern (or comma list) and names.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use rdinit::parse::pattern::{glob, matches_any, natural_cmp};

/// fnmatch for patterns of literal bytes, `?` and `*` only, by dynamic programming: an
/// independent reference for `glob`'s backtracking.
fn reference(p: &[u8], n: &[u8]) -> bool {
    // m[j]: p[..i] matches n[..j].
    let mut m = vec![false; n.len() + 1];
    m[0] = true;
    for &pc in p {
        let mut next = vec![false; n.len() + 1];
        for j in 0..=n.len() {
            next[j] = match pc {
                b'*' => m[j] || (j > 0 && next[j - 1]),
                b'?' => j > 0 && m[j - 1],
                c => j > 0 && m[j - 1] && n[j - 1] == c,
            };
        }
        m = next;
    }
    m[n.len()]
}

/// `name` as a pattern that matches exactly it.
fn quote(name: &[u8]) -> Vec<u8> {
    name.iter().flat_map(|&c| if matches!(c, b'*' | b'?' | b'[' | b'\\') { vec![b'\\', c] } else { vec![c] }).collect()
}

fuzz_target!(|data: &[u8]| {
    let [p, a, b] = rdinit_fuzz::split::<3>(data, 0);

    let g = glob(p, a);
    if !p.contains(&b'[') && !p.contains(&b'\\') && p.len() * a.len() < 1 << 20 {
        assert_eq!(g, reference(p, a), "glob({:?}, {:?})", String::from_utf8_lossy(p), String::from_utf8_lossy(a));
    }
    assert!(glob(&quote(a), a));
    assert!(glob(b"*", a));
    assert_eq!(matches_any(p, a), p.split(|&c| c == b',').any(|i| !i.is_empty() && glob(i, a)));

    // A total order: equal only for equal names, antisymmetric, transitive.
    let (ab, ba) = (natural_cmp(a, b), natural_cmp(b, a));
    assert_eq!(ab, ba.reverse());
    assert_eq!(ab == Ordering::Equal, a == b);
    assert_eq!(natural_cmp(a, a), Ordering::Equal);
    let c = p;
    let (bc, ac) = (natural_cmp(b, c), natural_cmp(a, c));
    if ab != Ordering::Greater && bc != Ordering::Greater {
        assert!(ac != Ordering::Greater, "{:?} <= {:?} <= {:?} but not a <= c", a, b, c);
    }
});
