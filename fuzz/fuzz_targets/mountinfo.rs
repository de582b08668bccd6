//! /proc/self/mountinfo: entries, unescaping, and the shutdown's take-down plan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::mountinfo::{self, Node};
use rdinit_fuzz::within;

/// The kernel's `mangle()` / seq_escape for mountinfo paths: space, tab, newline and
/// backslash as `\ooo`.
fn escape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &c in raw {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\\') {
            out.extend_from_slice(format!("\\{c:03o}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

fuzz_target!(|text: &[u8]| {
    let mut eligible = 0;
    for e in mountinfo::entries(text) {
        for f in [e.root, e.mount_point, e.options, e.fstype, e.source, e.super_options] {
            assert!(within(text, f) && !f.contains(&b'\n'));
        }
        let mut out = [0u8; 256];
        if let Some(u) = mountinfo::unescape(e.mount_point, &mut out) {
            assert!(u.len() <= e.mount_point.len());
        }
        let _ = mountinfo::has_option(e.super_options, b"ro");
        assert!(mountinfo::is_under(e.mount_point, e.mount_point) || e.mount_point.is_empty());
        eligible += usize::from(!mountinfo::kept_at_shutdown(e.mount_point));
    }

    // A small plan, so that "more mounts than fit" is reached too.
    let mut plan = [Node::default(); 8];
    let (n, more) = mountinfo::takedown_plan(text, &mut plan);
    assert!(n <= plan.len());
    assert_eq!(more, eligible > plan.len());
    assert_eq!(n, eligible.min(plan.len()));
    let plan = &plan[..n];
    for (i, node) in plan.iter().enumerate() {
        // Deepest first, then newest first.
        if let Some(next) = plan.get(i + 1) {
            assert!((node.depth, node.line) > (next.depth, next.line));
        }
        let e = mountinfo::entry_at(text, node.line).unwrap();
        assert!(node.line == 0 || text[node.line as usize - 1] == b'\n');
        assert_eq!((e.id, e.parent_id, mountinfo::depth(e.mount_point)), (node.id, node.parent_id, node.depth));
        assert!(!mountinfo::kept_at_shutdown(e.mount_point));
        let _ = mountinfo::blocks_parent(plan, i);
    }

    // What the kernel escapes, unescape gives back.
    let escaped = escape(text);
    let mut out = vec![0u8; text.len()];
    assert_eq!(mountinfo::unescape(&escaped, &mut out), Some(text));
    if !text.is_empty() {
        assert_eq!(mountinfo::unescape(&escaped, &mut out[..text.len() - 1]), None);
    }
});
