//! Filesystem probes on a device head. The input is a sparse head (records of offset,
//! length, bytes; see `rdinit_fuzz::sparse`), so the fixtures are seeds and the fuzzer can
//! reach btrfs at 64 KiB without 64 KiB inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::superblock::{self, FsType, PROBE_LEN};

fuzz_target!(|data: &[u8]| {
    let head = rdinit_fuzz::sparse(data, PROBE_LEN);
    let found = superblock::probe(&head);
    if let Some(sb) = found {
        // UUIDs are hex with dashes (ISO 9660: digits with dashes), as blkid prints them.
        assert!(sb.uuid.as_bytes().iter().all(|&c| c.is_ascii_hexdigit() || c == b'-'), "{:?}", sb.uuid.as_bytes());
        // Labels are cut at the first NUL and lose their trailing padding.
        assert!(!sb.label.as_bytes().contains(&0));
        assert!(sb.label.as_bytes().last() != Some(&b' '));
        assert!(sb.fstype.mount_type().is_some() || sb.fstype == FsType::Swap);
    }
    let bundle = superblock::is_bundle_image(&head);
    assert!(bundle == found.map(|s| s.fstype).filter(|t| matches!(t, FsType::Squashfs | FsType::Erofs)));
});
