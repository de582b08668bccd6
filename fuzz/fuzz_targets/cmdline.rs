//! The kernel command line: tokens, boot settings, device and location specs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::cmdline::{self, DeviceSpec, MAX_BAD};
use rdinit_fuzz::within;

fn check_spec(input: &[u8], spec: DeviceSpec) {
    match spec {
        DeviceSpec::Path(p) | DeviceSpec::Uuid(p) | DeviceSpec::Label(p) | DeviceSpec::PartLabel(p) => {
            assert!(within(input, p) && !p.is_empty());
        }
        DeviceSpec::PartUuid(u, _) => assert!(within(input, u) && !u.is_empty()),
        DeviceSpec::MajMin(..) => {}
    }
}

fuzz_target!(|line: &[u8]| {
    let mut n = 0;
    for p in cmdline::params(line) {
        n += 1;
        assert!(within(line, p.key));
        assert!(p.value.is_none_or(|v| within(line, v)));
        // `--` ends the kernel's parameters; it is never one of them.
        assert!(!(p.key == b"--" && p.value.is_none()));
        // Every parameter consumed at least one byte: the count is bounded by the input.
        assert!(n <= line.len());
        if let Some(v) = p.value {
            if let Some(spec) = cmdline::device_spec(v) {
                check_spec(v, spec);
            }
            if let Some(l) = cmdline::located_path(v) {
                assert!(within(v, l.path));
                assert!(l.path.is_empty() || l.path[0] == b'/');
                if let Some(spec) = l.device {
                    check_spec(v, spec);
                }
            }
        }
    }
    assert!(within(line, cmdline::init_args(line)));
    let c = cmdline::boot_config(line);
    assert!(c.bad_values().len() <= MAX_BAD);
    for v in [c.root, c.rootfstype, c.rootflags, c.init, c.from, c.live, c.load, c.noload, c.changes, c.modules] {
        assert!(v.is_none_or(|v| within(line, v)));
    }

    // Numbers agree with std's parser (which also takes a `+` for unsigned).
    let std_u32 = std::str::from_utf8(line).ok().filter(|s| !s.starts_with('+')).and_then(|s| s.parse::<u32>().ok());
    assert_eq!(cmdline::parse_u32(line), std_u32);
    let std_i32 = std::str::from_utf8(line).ok().and_then(|s| s.parse::<i32>().ok());
    assert_eq!(cmdline::parse_i32(line), std_i32);

    // A label matches itself written as udev writes it in /dev/disk/by-label (`\xHH`), and
    // itself as is when it has no backslash.
    let escaped: Vec<u8> = line.iter().flat_map(|b| format!("\\x{b:02x}").into_bytes()).collect();
    assert!(cmdline::label_matches(&escaped, line));
    if !line.contains(&b'\\') {
        assert!(cmdline::label_matches(line, line));
    }
});
