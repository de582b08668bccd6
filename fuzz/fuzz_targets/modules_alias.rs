//! modules.alias lines and alias resolution (globs against a MODALIAS). The input is the
//! alias file, then a NUL, then the name to resolve.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::{modules, pattern};
use rdinit_fuzz::within;

fuzz_target!(|data: &[u8]| {
    let [text, name] = rdinit_fuzz::split::<2>(data, 0);
    let mut n = 0;
    for a in modules::aliases(text) {
        assert!(within(text, a.pattern) && within(text, a.module));
        assert!(!a.pattern.is_empty() && !a.module.is_empty());
        n += 1;
    }
    let resolved: Vec<&[u8]> = modules::resolve_alias(text, name).collect();
    assert!(resolved.len() <= n);
    for m in &resolved {
        assert!(within(text, m));
    }
    // Resolution is exactly the aliases whose pattern matches, in file order.
    let expected: Vec<&[u8]> =
        modules::aliases(text).filter(|a| pattern::glob(a.pattern, name)).map(|a| a.module).collect();
    assert_eq!(resolved, expected);
});
