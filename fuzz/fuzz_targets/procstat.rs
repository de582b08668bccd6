//! /proc/PID/stat and /proc/meminfo lines. The input is a stat line, a NUL, a meminfo text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::procstat;

fuzz_target!(|data: &[u8]| {
    let [stat, meminfo] = rdinit_fuzz::split::<2>(data, 0);
    let live = procstat::is_live_user_process(stat);
    if !stat.contains(&b')') {
        assert!(!live);
    } else {
        // The fields start after the last ')': whatever comes before the command name
        // (pid and command, which may hold anything) does not change the answer.
        let mut longer = b"123 (x) Z 0 0 0 0 -1 2097152 ) (".to_vec();
        longer.extend_from_slice(stat);
        assert_eq!(procstat::is_live_user_process(&longer), live);
    }
    for key in [&b"Dirty"[..], b"Writeback", b"MemTotal"] {
        let kb = procstat::meminfo_kb(meminfo, key);
        assert!(kb <= u64::from(u32::MAX));
        // A field appended after the text is not found where an earlier one is.
        let mut more = meminfo.to_vec();
        more.extend_from_slice(b"\n");
        more.extend_from_slice(key);
        more.extend_from_slice(b": 77 kB\n");
        let found_before =
            meminfo.split(|&c| c == b'\n').any(|l| l.strip_prefix(key).is_some_and(|r| r.first() == Some(&b':')));
        assert_eq!(procstat::meminfo_kb(&more, key), if found_before { kb } else { 77 });
    }
});
