//! The packer's gen_init_cpio list parser (pack/src/list.rs), and its writer: what it
//! parses and can write back parses to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit_pack::list;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match list::parse(&text, "fuzz.list") {
        Err(e) => {
            // Every error names the list and the line.
            let msg = format!("{e:#}");
            assert!(msg.starts_with("fuzz.list:"), "{msg}");
        }
        Ok(entries) => {
            let mut written = String::new();
            for e in &entries {
                assert!(e.path.starts_with('/') && !e.path.ends_with('/') && !e.path.contains("//"));
                assert!(e.path.split('/').skip(1).all(|c| c != "." && c != ".."));
                assert!(e.mode <= 0o7777);
                match list::format_entry(e, None) {
                    Ok(line) => {
                        written += &line;
                        written.push('\n');
                    }
                    // Names the format cannot carry are refused, not written wrong.
                    Err(_) => return,
                }
            }
            let again = list::parse(&written, "fuzz.list").unwrap();
            assert_eq!(again.len(), entries.len());
            for (x, y) in again.iter().zip(&entries) {
                assert_eq!((&x.path, x.mode, x.uid, x.gid, &x.kind), (&y.path, y.mode, y.uid, y.gid, &y.kind));
            }
        }
    }
});
