//! modules.dep, and modules.order/modules.builtin lookups (one path per line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::modules;
use rdinit_fuzz::within;

fuzz_target!(|text: &[u8]| {
    let mut first = None;
    let mut order = Vec::new();
    for e in modules::dep_entries(text) {
        assert!(within(text, e.path) && !e.path.is_empty());
        assert!(!e.path.iter().any(u8::is_ascii_whitespace) && !e.path.contains(&b':'));
        for d in e.deps() {
            assert!(within(text, d) && !d.is_empty() && !d.iter().any(u8::is_ascii_whitespace));
        }
        let stem = modules::stem(e.path);
        assert!(within(e.path, stem) && !stem.contains(&b'/'));
        assert!(modules::is_module(e.path, e.path));
        let _ = modules::compression(e.path).map(|c| c.sys_name());
        first.get_or_insert(e);
        order.extend_from_slice(e.path);
        order.push(b'\n');
    }
    // The first entry is what a lookup by its own name finds (or an earlier one of the
    // same module name).
    if let Some(e) = first {
        let found = modules::find_dep(text, e.path).unwrap();
        assert!(modules::is_module(found.path, e.path));
        // modules.order lists the same paths, one per line.
        assert!(modules::listed(&order, e.path));
    }
});
