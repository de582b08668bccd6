//! `toram`: the bundles and rootcopy copied into RAM, so that the boot media can go.
use super::bundles::{Bundles, MAX_BUNDLES};
use super::rootcopy::{copy_file, copy_rootcopy};
use super::{mkdirs, Path};
use crate::out;
use crate::sys::fs::{self, Fd, O_DIRECTORY, O_RDONLY};
use crate::sys::{mount, process, PathBuf};
use crate::report;

/// RAM kept free after a toram copy.
pub(super) const TORAM_RESERVE: u64 = 64 << 20;

/// Undoes [`copy_to_ram`]: the copy goes with its tmpfs.
pub(super) fn undo() {
    super::detach(&[c"toram"]);
}

/// toram: copies the bundles and rootcopy into a tmpfs at `toram`, sized to the free RAM
/// less a reserve, when they fit in it; whether it did. A copy that fails partway is
/// removed, and the boot runs from the media.
pub(super) fn copy_to_ram(data: Fd, bundles: &Bundles) -> bool {
    let chosen = &bundles.items[..bundles.count.min(MAX_BUNDLES)];
    let mut file = Path::new();
    let mut total = 0u64;
    for c in chosen {
        if bundles.rel_path(c, &mut file).is_ok() {
            total += fs::statat(data, file.as_cstr(), 0).map_or(0, |st| st.st_size as u64);
        }
    }
    let free = process::ram().map_or(0, |r| r.free + r.buffers);
    let room = free.saturating_sub(TORAM_RESERVE);
    // Checked before the mount too: tmpfs takes size=0 as no limit at all.
    if does_not_fit(total, room) {
        return false;
    }
    // An explicit size: tmpfs's default, half the RAM, would let a copy that fits the free
    // RAM fail halfway.
    let mut digits = [0u8; 20];
    let mut options = PathBuf::<48>::new();
    let _ = options.push(b"mode=0755,size=").and_then(|o| o.push(out::format_u64(room, &mut digits)));
    if let Err(e) = mount::mount(c"tmpfs", c"toram", Some(c"tmpfs"), 0, Some(options.as_cstr())) {
        report(b"toram: mount tmpfs on", b"toram", e);
        return false;
    }
    let toram = match fs::open(c"toram", O_RDONLY | O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => {
            report(b"open", b"toram", e);
            return give_up();
        }
    };
    // What the filesystem can hold, not what the RAM has: the copy's real limit.
    if does_not_fit(total, fs::fstatfs_available(toram.fd()).unwrap_or(0)) {
        undo();
        return false;
    }
    let _ = mkdirs(b"toram/modules\0toram/optional\0toram/rootcopy\0");
    for c in chosen {
        if bundles.rel_path(c, &mut file).is_ok() {
            if let Err(e) = copy_file(data, file.as_cstr(), toram.fd(), file.as_cstr()) {
                report(b"toram: copy", bundles.name(c), e);
                return give_up();
            }
        }
    }
    // rootcopy comes along so the media can go; a part of it is not enough.
    if let Some(errors @ 1..) = copy_rootcopy(data, c"toram/rootcopy") {
        warning!("toram: rootcopy: %n entries could not be copied"; errors);
        return give_up();
    }
    info!("toram: copied %n KiB of bundles to RAM"; total.div_ceil(1024));
    true
}

/// Says so when `total` bytes of bundles do not fit in `room`.
fn does_not_fit(total: u64, room: u64) -> bool {
    let short = total > room;
    if short {
        let mut digits = [0u8; 20];
        warning!("toram: bundles need %n MiB, only %s MiB free; running from the boot media", out::format_u64(room >> 20, &mut digits); total >> 20);
    }
    short
}

/// Removes a partial copy (its tmpfs) and says that the boot runs from the media.
fn give_up() -> bool {
    undo();
    warning!("toram: the copy in RAM is removed; running from the boot media");
    false
}
