//! modules.softdep lines (`softdep MODULE pre: A post: B`). The input is the file, then a
//! NUL, then the module name to look up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::modules;
use rdinit_fuzz::within;

fuzz_target!(|data: &[u8]| {
    let [text, name] = rdinit_fuzz::split::<2>(data, 0);
    for s in modules::find_softdeps(text, name) {
        assert!(within(text, s.module) && modules::names_equal(s.module, name));
        for m in s.pre().chain(s.post()) {
            assert!(within(text, m) && !m.is_empty());
            assert!(m != b"pre:" && m != b"post:");
        }
    }
    for line in text.split(|&c| c == b'\n') {
        if let Some(s) = modules::softdep_line(line) {
            assert!(within(line, s.module));
            // Every word after the module is in exactly one of: pre, post, ignored or a
            // section keyword.
            let words = line.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).count();
            assert!(2 + s.pre().count() + s.post().count() <= words);
        }
    }
});
