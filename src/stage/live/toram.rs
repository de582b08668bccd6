//! `toram`: the bundles and rootcopy copied into RAM, so that the boot media can go.
use super::bundles::{Bundles, MAX_BUNDLES};
use super::rootcopy::{copy_file, copy_rootcopy};
use super::{mkdirs, Path};
use crate::out;
use crate::sys::fs::{self, Fd, O_DIRECTORY, O_RDONLY};
use crate::sys::process;
use crate::report;

/// RAM kept free after a toram copy.
pub(super) const TORAM_RESERVE: u64 = 64 << 20;

/// Undoes [`copy_to_ram`].
pub(super) fn undo() {
    super::detach(&[c"toram"]);
}

/// toram: copies the bundles and rootcopy into `toram` when they fit in RAM; whether it did.
pub(super) fn copy_to_ram(data: Fd, bundles: &Bundles) -> bool {
    let chosen = &bundles.items[..bundles.count.min(MAX_BUNDLES)];
    let mut file = Path::new();
    let mut total = 0u64;
    for c in chosen {
        if bundles.rel_path(c, &mut file).is_ok() {
            total += fs::statat(data, file.as_cstr(), 0).map_or(0, |st| st.st_size as u64);
        }
    }
    let free = process::memory().map_or(0, |(free, _)| free);
    if total + TORAM_RESERVE > free {
        let mut digits = [0u8; 20];
        warning!("toram: bundles need %n MiB, only %s MiB free; running from the boot media", out::format_u64(free >> 20, &mut digits); total >> 20);
        return false;
    }
    let _ = mkdirs(&[c"toram/modules", c"toram/optional", c"toram/rootcopy"]);
    let toram = match fs::open(c"toram", O_RDONLY | O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => {
            report(b"open", b"toram", e);
            return false;
        }
    };
    for c in chosen {
        if bundles.rel_path(c, &mut file).is_ok() {
            if let Err(e) = copy_file(data, file.as_cstr(), toram.fd(), file.as_cstr()) {
                report(b"toram: copy", bundles.name(c), e);
                return false;
            }
        }
    }
    // rootcopy comes along so the media can go.
    copy_rootcopy(data, c"toram/rootcopy");
    info!("toram: copied %n KiB of bundles to RAM"; total.div_ceil(1024));
    true
}
