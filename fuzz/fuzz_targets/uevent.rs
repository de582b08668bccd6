//! Kernel uevents: netlink messages and sysfs uevent files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::uevent;
use rdinit_fuzz::within;

fuzz_target!(|msg: &[u8]| {
    let Some(ev) = uevent::parse(msg) else { return };
    assert!(!msg.starts_with(b"libudev"));
    for f in [Some(ev.devpath), ev.subsystem, ev.devname, ev.devtype, ev.modalias, ev.partname].into_iter().flatten() {
        // Values are whole records' tails: never across a record separator.
        assert!(within(msg, f) && !f.contains(&0) && !f.contains(&b'\n'));
    }
    assert_eq!(ev.dev(), ev.major.zip(ev.minor));
    // The same event as a sysfs file (records split by newlines rather than NULs) reads
    // the same, when no value holds a newline of its own.
    if !msg.contains(&b'\n') {
        let as_file: Vec<u8> = msg.iter().map(|&c| if c == 0 { b'\n' } else { c }).collect();
        let again = uevent::parse(&as_file).unwrap();
        assert!(again.action == ev.action);
        assert_eq!((again.major, again.minor, again.partn), (ev.major, ev.minor, ev.partn));
        assert_eq!(again.devpath.len(), ev.devpath.len());
    }
});
